// The start-up and shutdown that every command shares: arguments, help,
// configuration, actor system and backend.

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "cli.hpp"
#include "signals.hpp"

namespace broadcaster::cli {

namespace {

// Maximum time the actor system may take to shut down after a command
// ends. It is far more than a normal shutdown needs.
constexpr std::chrono::seconds shutdown_limit{2};

void require_positionals(const command_setup& setup, const parsed_args& args) {
  const auto& spec = setup.spec;
  auto n = args.positionals.size();
  if (setup.max_args == 0 && n > 0) {
    throw usage_error(spec.name + " takes no arguments, got \""
                      + args.positionals.front() + "\"; usage: "
                      + spec.usage);
  }
  if (n < setup.min_args || n > setup.max_args) {
    throw usage_error("wrong number of arguments (" + std::to_string(n)
                      + "); usage: " + spec.usage);
  }
}

// Rejects invalid channel names before any backend starts, which spares a
// connection to a caf:// node or a Redis server.
bool channels_valid(const std::vector<std::string>& channels, bool pattern,
                    int& code) {
  for (const auto& channel : channels) {
    if (auto err = validate_channel(channel, pattern)) {
      write_stderr("broadcaster: " + describe(err));
      code = exit_code_for(err);
      return false;
    }
  }
  return true;
}

// Returns the positionals after the URL that `setup` declares as channels.
std::vector<std::string> channel_args(const command_setup& setup,
                                      const parsed_args& args) {
  const auto& all = args.positionals;
  auto first = std::min<size_t>(1, all.size());
  auto count = std::min(setup.channels, all.size() - first);
  return {all.begin() + first, all.begin() + first + count};
}

// Ends the supervisor of a command, so that the actor system can shut
// down afterwards.
struct supervisor_guard {
  std::optional<broadcast_actor>& handle;
  ~supervisor_guard() {
    if (handle) {
      caf::anon_send_exit(*handle, caf::exit_reason::user_shutdown);
    }
  }
};

// Destroys the actor system, or ends the process with `code` when that
// takes longer than shutdown_limit. CAF 0.17.6's middleman connects with a
// blocking connect() in its own thread, and ~actor_system() waits for that
// thread. A SYN that gets no reply (a full accept queue, a dropped packet)
// keeps connect() pending until the kernel gives up, by default after
// about two minutes (net.ipv4.tcp_syn_retries=6), long after the command
// has reported its timeout.
void shut_down(std::unique_ptr<caf::actor_system> sys, int code) {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog{[&] {
    std::unique_lock<std::mutex> lock{mtx};
    if (cv.wait_for(lock, shutdown_limit, [&] { return done; })) {
      return;
    }
    write_stderr("broadcaster: the actor system did not shut down within "
                 + std::to_string(shutdown_limit.count())
                 + "s, most likely because CAF's middleman still waits for "
                   "a TCP connect; exiting without waiting");
    std::fflush(nullptr);
    std::_Exit(code);
  }};
  sys.reset();
  {
    std::lock_guard<std::mutex> lock{mtx};
    done = true;
  }
  cv.notify_one();
  watchdog.join();
}

// Runs the part of a command that needs the actor system.
int run_with_system(const command_setup& setup, const parsed_args& args,
                    config& cfg, caf::actor_system& sys,
                    const command_body& body) {
  int code = exit_ok;
  auto pattern = setup.pattern_option && cfg.pattern;
  if (!channels_valid(channel_args(setup, args), pattern, code)) {
    return code;
  }
  auto url = setup.backend_url ? setup.backend_url(cfg) : args.positionals[0];
  auto bc = open_backend(sys, url, code);
  supervisor_guard guard{bc};
  if (!bc) {
    return code;
  }
  command_context ctx{args, cfg, sys, *bc};
  return body(ctx);
}

} // namespace

int run_command(const command_setup& setup,
                const std::vector<std::string>& raw,
                const command_body& body) {
  auto args = parse_args(setup.spec, raw);
  if (args.help) {
    std::cout << help_text(setup.spec);
    return exit_ok;
  }
  require_positionals(setup, args);
  if (setup.watch_signals) {
    block_stop_signals();
  }

  config cfg;
  if (setup.preset) {
    setup.preset(cfg);
  }
  load_config(cfg, setup.spec.name, args);
  if (setup.check) {
    setup.check(cfg);
  }

  auto sys = std::make_unique<caf::actor_system>(cfg);
  int code = exit_failure;
  try {
    code = run_with_system(setup, args, cfg, *sys, body);
  } catch (...) {
    shut_down(std::move(sys), exit_failure);
    throw;
  }
  shut_down(std::move(sys), code);
  return code;
}

} // namespace broadcaster::cli
