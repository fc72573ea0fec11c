#pragma once

// Broadcaster for CAF: publish messages to named channels and receive them
// as actor messages, in one process or across many, over a backend chosen
// by URL.
//
//   struct config : caf::actor_system_config {
//     config() { broadcaster::register_types(*this); }
//   };
//
//   caf::actor_system sys{cfg};
//   auto bc = broadcaster::spawn_broadcast(sys, "memory://");
//   auto sub = broadcaster::subscribe_blocking(sys, *bc, "chatroom");
//   broadcaster::publish_blocking(sys, *bc, "chatroom", "hello");
//   auto ev = sub->next(std::chrono::seconds{1});  // ev->message == "hello"
//
// Actors subscribe with a `bc_subscribe_atom` request and handle events
// with `broadcaster::event_handler()` from broadcaster/subscriber.hpp.

#include <chrono>
#include <string>
#include <string_view>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "broadcaster/atoms.hpp"
#include "broadcaster/error.hpp"
#include "broadcaster/interfaces.hpp"
#include "broadcaster/memory_backend.hpp"
#include "broadcaster/scheme_table.hpp"
#include "broadcaster/subscriber.hpp"
#include "broadcaster/types.hpp"
#include "broadcaster/url.hpp"

namespace broadcaster {

/// Adds every message type of this library and its error category to a CAF
/// configuration. Call it before constructing the `caf::actor_system`, on
/// every node that exchanges broadcaster messages.
void register_types(caf::actor_system_config& cfg);

/// Maximum size, in bytes, of a channel name or pattern that a supervisor
/// accepts.
constexpr size_t max_channel_size = 4096;

/// Checks a channel name, or a glob pattern if `pattern` is set, as the
/// supervisor does before it forwards a request: it must not be empty or
/// longer than `max_channel_size`, and a pattern must be well formed.
/// Returns an `errc::invalid_channel` error otherwise.
caf::error validate_channel(std::string_view channel, bool pattern);

/// Settings of a supervisor that are not part of the backend URL.
struct broadcast_options {
  /// First delay before restarting a backend actor that exited; each
  /// further attempt doubles it, with random jitter of up to 25 percent.
  std::chrono::milliseconds restart_min{100};

  /// Maximum delay between two restart attempts.
  std::chrono::milliseconds restart_max{10000};

  /// Names the backend in logs and stats when `spawn_broadcast` is called
  /// with a factory instead of a URL.
  std::string description = "custom";
};

/// Spawns a supervisor for the backend that `url` names, looked up in
/// `schemes`. Returns `errc::invalid_url`, `errc::unknown_scheme` (naming
/// the registered schemes), `errc::unsupported_option` or
/// `errc::invalid_option` without spawning anything when the URL is wrong.
caf::expected<broadcast_actor>
spawn_broadcast(caf::actor_system& sys, std::string_view url,
                const scheme_table& schemes = memory_schemes(),
                broadcast_options options = {});

/// Spawns a supervisor for a backend created by `factory`, which receives an
/// empty URL with scheme "custom". This is the counterpart of
/// `Broadcast(backend=...)` in Python's broadcaster.
caf::expected<broadcast_actor>
spawn_broadcast(caf::actor_system& sys, backend_factory factory,
                broadcast_options options = {});

/// Publishes from code outside actors and waits up to `timeout` for the
/// acknowledgement.
caf::expected<publish_ack>
publish_blocking(caf::actor_system& sys, const broadcast_actor& bc,
                 std::string channel, std::string message,
                 std::chrono::milliseconds timeout
                 = std::chrono::milliseconds{10000});

/// Requests a page of stored events from code outside actors.
caf::expected<history_page>
history_blocking(caf::actor_system& sys, const broadcast_actor& bc,
                 std::string channel, std::string before_id, uint64_t limit,
                 std::chrono::milliseconds timeout
                 = std::chrono::milliseconds{10000});

/// Requests counters from code outside actors.
caf::expected<broadcast_stats>
stats_blocking(caf::actor_system& sys, const broadcast_actor& bc,
               std::chrono::milliseconds timeout
               = std::chrono::milliseconds{10000});

} // namespace broadcaster
