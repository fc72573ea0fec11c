#include "broadcaster/broadcast.hpp"

#include <caf/all.hpp>

#include "supervisor.hpp"

namespace broadcaster {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<event>("broadcaster::event");
  cfg.add_message_type<event_batch>("broadcaster::event_batch");
  cfg.add_message_type<subscribe_options>("broadcaster::subscribe_options");
  cfg.add_message_type<subscription>("broadcaster::subscription");
  cfg.add_message_type<publish_ack>("broadcaster::publish_ack");
  cfg.add_message_type<status_event>("broadcaster::status_event");
  cfg.add_message_type<events_skipped>("broadcaster::events_skipped");
  cfg.add_message_type<history_page>("broadcaster::history_page");
  cfg.add_message_type<channel_stats>("broadcaster::channel_stats");
  cfg.add_message_type<broadcast_stats>("broadcaster::broadcast_stats");
  cfg.add_message_type<std::map<std::string, uint64_t>>(
    "broadcaster::counters");
  cfg.add_message_type<broadcast_actor>("broadcaster::broadcast_actor");
  cfg.add_message_type<backend_actor>("broadcaster::backend_actor");
  cfg.add_message_type<sink_actor>("broadcaster::sink_actor");
  cfg.add_message_type<subscriber_actor>("broadcaster::subscriber_actor");
  cfg.add_error_category(
    error_category,
    [](uint8_t code, caf::atom_value, const caf::message& context) {
      return describe(caf::error{code, error_category, context});
    });
}

caf::expected<broadcast_actor>
spawn_broadcast(caf::actor_system& sys, std::string_view text,
                const scheme_table& schemes, broadcast_options options) {
  auto source = parse_url(text);
  if (!source) {
    return source.error();
  }
  auto factory = schemes.find(source->scheme);
  if (factory == nullptr) {
    std::string known;
    for (const auto& scheme : schemes.schemes()) {
      known += known.empty() ? "" : ", ";
      known += scheme + "://";
    }
    return make_error(errc::unknown_scheme,
                      "no backend for scheme \"" + source->scheme
                        + "://\"; this program supports: " + known);
  }
  auto first = (*factory)(sys, *source);
  if (!first) {
    return first.error();
  }
  auto description = source->redacted();
  return detail::spawn_supervisor(sys, *factory, std::move(*source),
                                  std::move(description), std::move(*first),
                                  std::move(options));
}

caf::expected<broadcast_actor>
spawn_broadcast(caf::actor_system& sys, backend_factory factory,
                broadcast_options options) {
  if (!factory) {
    return make_error(errc::invalid_option, "backend factory is empty");
  }
  url source;
  source.scheme = "custom";
  auto first = factory(sys, source);
  if (!first) {
    return first.error();
  }
  auto description = options.description;
  return detail::spawn_supervisor(sys, std::move(factory), std::move(source),
                                  std::move(description), std::move(*first),
                                  std::move(options));
}

namespace {

template <class T, class... Ts>
caf::expected<T> blocking_request(caf::actor_system& sys,
                                  const broadcast_actor& bc,
                                  std::chrono::milliseconds timeout,
                                  Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> result{make_error(errc::timeout)};
  self->request(bc, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

caf::expected<publish_ack>
publish_blocking(caf::actor_system& sys, const broadcast_actor& bc,
                 std::string channel, std::string message,
                 std::chrono::milliseconds timeout) {
  return blocking_request<publish_ack>(sys, bc, timeout,
                                       bc_publish_atom::value,
                                       std::move(channel), std::move(message));
}

caf::expected<history_page>
history_blocking(caf::actor_system& sys, const broadcast_actor& bc,
                 std::string channel, std::string before_id, uint64_t limit,
                 std::chrono::milliseconds timeout) {
  return blocking_request<history_page>(sys, bc, timeout,
                                        bc_history_atom::value,
                                        std::move(channel),
                                        std::move(before_id), limit);
}

caf::expected<broadcast_stats>
stats_blocking(caf::actor_system& sys, const broadcast_actor& bc,
               std::chrono::milliseconds timeout) {
  return blocking_request<broadcast_stats>(sys, bc, timeout,
                                           bc_stats_atom::value);
}

} // namespace broadcaster
