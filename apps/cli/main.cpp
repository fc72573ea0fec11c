// broadcaster: publish, subscribe, read history and counters on any backend
// URL, and serve a broadcast supervisor to other CAF nodes.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "signals.hpp"

namespace {

const char* overview = R"(usage: broadcaster COMMAND [ARGUMENTS] [OPTIONS]

commands:
  publish URL CHANNEL [MESSAGE]   publish one message, or each input line
  subscribe URL CHANNEL...        print events as they arrive
  history URL CHANNEL             print stored events, newest first
  stats URL                       print counters
  serve --port N                  run a node that others reach as caf://

Run `broadcaster COMMAND --help` for the options of a command.
Exit codes: 0 success, 1 failure, 2 usage or configuration error.
)";

} // namespace

int main(int argc, char** argv) {
  using namespace broadcaster::cli;
  std::vector<std::string> args{argv + 1, argv + argc};
  if (args.empty()) {
    std::cerr << overview;
    return exit_usage;
  }
  auto command = args.front();
  args.erase(args.begin());
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << overview;
    return exit_ok;
  }
  // Library logs at info level would mix with the output of short-lived
  // commands; BROADCASTER_LOG_LEVEL still wins when set.
  if (command != "serve") {
    ::setenv("BROADCASTER_LOG_LEVEL", "error", 0);
  }
  ignore_sigpipe();
  try {
    if (command == "publish") {
      return run_publish(args);
    }
    if (command == "subscribe") {
      return run_subscribe(args);
    }
    if (command == "history") {
      return run_history(args);
    }
    if (command == "stats") {
      return run_stats(args);
    }
    if (command == "serve") {
      return run_serve(args);
    }
    std::cerr << "broadcaster: unknown command \"" << command << "\"\n\n"
              << overview;
    return exit_usage;
  } catch (const usage_error& err) {
    std::cerr << "broadcaster " << command << ": " << err.what()
              << "\nRun `broadcaster " << command
              << " --help` for the usage.\n";
    return exit_usage;
  }
}
