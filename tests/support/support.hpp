#pragma once

// Test helpers: an actor system fixture, deadline-bound waits that scale
// with BROADCASTER_TEST_TIMEOUT_SCALE (for sanitizer builds), free loopback
// ports, temporary folders and child processes stopped by PID.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "broadcaster/broadcast.hpp"

namespace broadcaster::test {

/// Fails the current test with the error's description unless `x` contains a
/// value. Use it in place of BOOST_REQUIRE_MESSAGE, which would build the
/// message from `x.error()` even when `x` contains a value.
template <class T>
void require_ok(const caf::expected<T>& x) {
  if (!x) {
    BOOST_FAIL(describe(x.error()));
  }
}

/// Returns `base` multiplied by BROADCASTER_TEST_TIMEOUT_SCALE (default 1).
std::chrono::milliseconds scaled(std::chrono::milliseconds base);

/// Default deadline for one expected event or reply: 10 s, scaled.
std::chrono::milliseconds deadline();

/// Configuration with the broadcaster types and two scheduler threads.
struct test_config : caf::actor_system_config {
  test_config();
};

/// Fixture owning an actor system; Boost.Test creates one per test case.
struct system_fixture {
  system_fixture();
  ~system_fixture();

  test_config cfg;
  caf::actor_system sys;
};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_port();

/// A temporary folder, removed with its contents on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

/// A child process. The destructor stops it with SIGTERM, then SIGKILL
/// after a grace period, by its PID only.
class child_process {
public:
  /// Starts `argv[0]` (searched in PATH) with `argv`, standard output and
  /// error appended to `log_file` unless it is empty.
  child_process(std::vector<std::string> argv, std::string log_file = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }

  /// Returns true while the process runs.
  bool running();

  /// Sends `signal` and waits up to `timeout` for the exit; returns the exit
  /// status as waitpid reports it, or -1 on timeout.
  int stop(int signal, std::chrono::milliseconds timeout);

private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

/// Waits up to `timeout` for a TCP connect to host:port to succeed.
bool wait_for_port(const std::string& host, uint16_t port,
                   std::chrono::milliseconds timeout);

/// Waits up to `timeout` for a connect to the Unix socket at `path` to
/// succeed.
bool wait_for_unix_socket(const std::string& path,
                          std::chrono::milliseconds timeout);

/// Calls `condition` until it returns true or `timeout` passes, backing off
/// from 1 ms to 50 ms between calls. Only for conditions that have no event
/// to wait for, such as the state of an external server.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout);

/// Runs a shell-free command and returns its standard output, or throws.
std::string run_command(const std::vector<std::string>& argv,
                        const std::string& input = {});

} // namespace broadcaster::test
