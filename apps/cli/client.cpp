// The client commands: publish, subscribe, history and stats.

#include <cerrno>
#include <cstdio>
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/builtin.hpp"
#include "broadcaster/caf_node.hpp"
#include "cli.hpp"
#include "signals.hpp"

namespace broadcaster::cli {

int exit_code_for(const caf::error& err) {
  // `unsupported` is a mismatch between the request and the build or the
  // backend, such as rediss:// or history on Redis PUB/SUB. A retry cannot
  // succeed, so it is reported like the other invalid requests.
  for (auto code : {errc::invalid_url, errc::unknown_scheme,
                    errc::unsupported_option, errc::invalid_option,
                    errc::unsupported, errc::invalid_channel,
                    errc::invalid_id}) {
    if (is(err, code)) {
      return exit_usage;
    }
  }
  return exit_failure;
}

std::optional<broadcast_actor> open_backend(caf::actor_system& sys,
                                            const std::string& url,
                                            int& code) {
  auto bc = spawn_broadcast(sys, url, builtin_schemes());
  if (!bc) {
    write_stderr("broadcaster: cannot use backend " + redact_url(url) + ": "
                 + describe(bc.error()));
    code = exit_code_for(bc.error());
    return std::nullopt;
  }
  return std::move(*bc);
}

bool write_stdout(const std::string& text) {
  if (text.empty()) {
    return true;
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()
      || std::fflush(stdout) != 0) {
    return false;
  }
  return true;
}

void write_stderr(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

// -- publish ------------------------------------------------------------------

namespace {

int publish(command_context& ctx) {
  const auto& args = ctx.args;
  auto& sys = ctx.sys;
  auto& bc = ctx.backend;
  const auto& channel = args.positionals[1];
  auto timeout = timeout_of(ctx.cfg);
  if (args.positionals.size() == 3) {
    auto ack = publish_blocking(sys, bc, channel, args.positionals[2],
                                timeout);
    if (!ack) {
      write_stderr("broadcaster: publish failed on channel \"" + channel
                   + "\": " + describe(ack.error()));
      return exit_code_for(ack.error());
    }
    return exit_ok;
  }
  std::string line;
  uint64_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    // NOTE: publishes one line at a time and waits for each
    // acknowledgement, which keeps the order and the error report simple
    // but limits a remote node to one round trip per line.
    auto ack = publish_blocking(sys, bc, channel, line, timeout);
    if (!ack) {
      write_stderr("broadcaster: publish failed on channel \"" + channel
                   + "\" at input line " + std::to_string(number) + ": "
                   + describe(ack.error()));
      return exit_code_for(ack.error());
    }
  }
  if (std::cin.bad()) {
    write_stderr("broadcaster: reading standard input failed after line "
                 + std::to_string(number));
    return exit_failure;
  }
  return exit_ok;
}

} // namespace

int run_publish(const std::vector<std::string>& raw) {
  command_setup setup{publish_spec, 2, 3, 1};
  return run_command(setup, raw, publish);
}

// -- subscribe ----------------------------------------------------------------

namespace {

// Subscribes `self` to every channel of `channels` and prints
// `subscribed: CHANNEL` for each. Returns the first error.
caf::error subscribe_all(caf::scoped_actor& self, const broadcast_actor& bc,
                         const std::vector<std::string>& channels,
                         const subscribe_options& opts,
                         std::chrono::milliseconds timeout) {
  auto self_handle = caf::actor_cast<caf::actor>(self.ptr());
  for (const auto& channel : channels) {
    caf::error failure;
    self
      ->request(bc, timeout, bc_subscribe_atom::value, channel, self_handle,
                opts)
      .receive([](subscription&) {},
               [&](caf::error& err) { failure = std::move(err); });
    if (failure) {
      write_stderr("broadcaster: subscribe failed on "
                   + std::string{opts.pattern ? "pattern" : "channel"} + " \""
                   + channel + "\": " + describe(failure));
      return failure;
    }
    write_stderr("subscribed: " + channel);
  }
  return caf::none;
}

// Prints what arrives for `open` subscriptions until --count events, a stop
// message or a closed output. Returns the exit code.
int print_events(caf::scoped_actor& self, const config& cfg,
                 output_format format, size_t open) {
  // Text goes to standard error for notices, so that standard output
  // carries only events; json puts them on standard output as objects.
  auto notice = [&](const std::string& line) {
    if (format == output_format::json) {
      return write_stdout(line + "\n");
    }
    write_stderr(line);
    return true;
  };
  int code = exit_ok;
  uint64_t printed = 0;
  bool done = false;
  while (!done) {
    self->receive(
      [&](event_batch& batch) {
        std::string out;
        for (const auto& ev : batch.events) {
          if (cfg.count > 0 && printed >= cfg.count) {
            break;
          }
          out += format_event(ev, format);
          out += '\n';
          ++printed;
        }
        acknowledge(self.ptr(), batch.events.size());
        if (!write_stdout(out)) {
          done = true;
          code = errno == EPIPE ? exit_ok : exit_failure;
          return;
        }
        if (cfg.count > 0 && printed >= cfg.count) {
          done = true;
        }
      },
      [&](events_skipped& skipped) {
        if (!notice(format_skipped(skipped, format))) {
          done = true;
        }
      },
      [&](status_event& status) {
        if (!notice(format_status(status, format))) {
          done = true;
          return;
        }
        if (status.kind == status_kind::closed && --open == 0) {
          write_stderr("broadcaster: every subscription was closed: "
                       + status.reason);
          code = exit_failure;
          done = true;
        }
      },
      [&](cli_stop_atom, const std::string& cause) {
        // A signal or a closed standard output is how a subscription is
        // meant to end, so both exit with 0.
        (void) cause;
        done = true;
      });
  }
  return code;
}

// Drops a connection that has been silent for 10 s, so that a node behind
// a silent partition counts as lost. `broadcaster serve` sends heartbeats
// every second. For a node that sends none, set
// --middleman.connection-timeout=0s to turn this off.
void preset_subscribe(config& cfg) {
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds{10}});
}

int subscribe(command_context& ctx) {
  const auto& cfg = ctx.cfg;
  auto format = parse_format(cfg.subscribe_format);
  caf::scoped_actor self{ctx.sys};
  auto self_handle = caf::actor_cast<caf::actor>(self.ptr());
  stop_watcher watcher{[self_handle](const std::string& cause) {
                         caf::anon_send(self_handle, cli_stop_atom::value,
                                        cause);
                       },
                       true};
  subscribe_options opts;
  opts.pattern = cfg.pattern;
  opts.history = cfg.history;
  std::vector<std::string> channels{ctx.args.positionals.begin() + 1,
                                    ctx.args.positionals.end()};
  if (auto err = subscribe_all(self, ctx.backend, channels, opts,
                               timeout_of(cfg))) {
    return exit_code_for(err);
  }
  return print_events(self, cfg, format, channels.size());
}

} // namespace

int run_subscribe(const std::vector<std::string>& raw) {
  command_setup setup{subscribe_spec, 2, SIZE_MAX, SIZE_MAX};
  setup.pattern_option = true;
  setup.watch_signals = true;
  setup.preset = preset_subscribe;
  return run_command(setup, raw, subscribe);
}

// -- history ------------------------------------------------------------------

namespace {

int history(command_context& ctx) {
  const auto& cfg = ctx.cfg;
  auto format = parse_format(cfg.history_format);
  const auto& channel = ctx.args.positionals[1];
  auto page = history_blocking(ctx.sys, ctx.backend, channel, cfg.before,
                               cfg.limit, timeout_of(cfg));
  if (!page) {
    write_stderr("broadcaster: history failed on channel \"" + channel
                 + "\": " + describe(page.error()));
    return exit_code_for(page.error());
  }
  std::string out;
  for (const auto& ev : page->events) {
    out += format_history_event(ev, format);
    out += '\n';
  }
  if (!write_stdout(out)) {
    return errno == EPIPE ? exit_ok : exit_failure;
  }
  if (page->more && !page->events.empty()) {
    write_stderr("more: older events exist; continue with --before "
                 + page->events.back().id);
  }
  return exit_ok;
}

} // namespace

int run_history(const std::vector<std::string>& raw) {
  command_setup setup{history_spec, 2, 2, 1};
  return run_command(setup, raw, history);
}

// -- stats --------------------------------------------------------------------

namespace {

int stats(command_context& ctx) {
  const auto& cfg = ctx.cfg;
  auto format = parse_format(cfg.stats_format);
  auto target = ctx.backend;
  auto source = parse_url(ctx.args.positionals[0]);
  if (source && source->scheme == "caf") {
    // The counters of interest are those of the node, not those of the
    // local supervisor that has just started.
    auto node = connect_node(ctx.sys, source->host, source->port,
                             timeout_of(cfg));
    if (!node) {
      write_stderr("broadcaster: stats failed: " + describe(node.error()));
      return exit_code_for(node.error());
    }
    target = *node;
  }
  auto counters = stats_blocking(ctx.sys, target, timeout_of(cfg));
  if (!counters) {
    write_stderr("broadcaster: stats failed: "
                 + describe(counters.error()));
    return exit_code_for(counters.error());
  }
  if (!write_stdout(format_stats(*counters, format))) {
    return errno == EPIPE ? exit_ok : exit_failure;
  }
  return exit_ok;
}

} // namespace

int run_stats(const std::vector<std::string>& raw) {
  command_setup setup{stats_spec, 1, 1, 0};
  return run_command(setup, raw, stats);
}

} // namespace broadcaster::cli
