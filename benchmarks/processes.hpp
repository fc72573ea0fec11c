#pragma once

// Servers that broadcaster-bench starts for itself: redis-server on a free
// loopback port in a temporary folder, and a CAF node (this program in
// --serve-node mode) that publishes a memory:// supervisor. Each is stopped
// by its process id when its owner is destroyed.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_port();

/// Returns true once a TCP connection to 127.0.0.1:`port` succeeds.
bool wait_for_port(uint16_t port, double seconds);

/// A child process, stopped with SIGTERM (then SIGKILL after 3 s) on
/// destruction.
class child_process {
public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  /// Starts `argv` with standard output on a pipe if `capture_stdout`, and
  /// on /dev/null otherwise. Returns an error message, or empty on success.
  std::string start(const std::vector<std::string>& argv,
                    bool capture_stdout);

  /// Reads one line of the child's standard output, waiting up to
  /// `seconds`. Returns false on timeout or end of output.
  bool read_line(std::string& line, double seconds);

  void stop();

  pid_t pid() const {
    return pid_;
  }

private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
};

/// redis-server from the system, started with persistence off.
class redis_server {
public:
  ~redis_server();

  /// Starts the server. Returns an error message, or empty on success.
  std::string start();

  uint16_t port() const {
    return port_;
  }

  pid_t pid() const {
    return process_.pid();
  }

private:
  child_process process_;
  std::string dir_;
  uint16_t port_ = 0;
};

/// A CAF node serving memory:// on a loopback port: this program started
/// again with --serve-node.
class node_server {
public:
  /// Starts `self_path --serve-node` with the scheduler flags in `extra`.
  std::string start(const std::string& self_path,
                    const std::vector<std::string>& extra);

  uint16_t port() const {
    return port_;
  }

  pid_t pid() const {
    return process_.pid();
  }

private:
  child_process process_;
  uint16_t port_ = 0;
};

} // namespace bench
