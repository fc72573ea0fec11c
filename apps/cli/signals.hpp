#pragma once

// Internal: stopping long-running commands on SIGINT, SIGTERM or a closed
// standard output.

#include <functional>
#include <string>
#include <thread>

namespace broadcaster::cli {

/// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
/// starts afterwards, so that only a stop_watcher receives them. Call it
/// before creating the actor system.
void block_stop_signals();

/// Makes writes to a closed pipe fail with EPIPE instead of killing the
/// process with SIGPIPE.
void ignore_sigpipe();

/// A thread that waits for SIGINT or SIGTERM and, if `watch_stdout` is set,
/// for standard output to become a pipe without reader. It then calls
/// `on_stop` once, from its own thread, with "SIGINT", "SIGTERM" or
/// "stdout closed". Requires block_stop_signals().
class stop_watcher {
public:
  stop_watcher(std::function<void(const std::string&)> on_stop,
               bool watch_stdout);
  ~stop_watcher();
  stop_watcher(const stop_watcher&) = delete;
  stop_watcher& operator=(const stop_watcher&) = delete;

private:
  void run(std::function<void(const std::string&)> on_stop,
           bool watch_stdout);

  int signal_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

} // namespace broadcaster::cli
