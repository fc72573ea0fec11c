// The start-up that every command shares: arguments, help, configuration,
// actor system and backend.

#include <algorithm>
#include <iostream>

#include <caf/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "cli.hpp"
#include "signals.hpp"

namespace broadcaster::cli {

namespace {

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

// Rejects invalid channel names before any backend starts. Besides sparing
// a connection, this matters on caf://: CAF 0.17 can hang in
// ~actor_system() when the process ends while the middleman still connects
// to the node, and a request rejected at once would end it that early.
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

  caf::actor_system sys{cfg};
  return run_with_system(setup, args, cfg, sys, body);
}

} // namespace broadcaster::cli
