#pragma once

// A child process with pipes on standard input, output and error, for
// tests that run the broadcaster tool or a helper program and wait for the
// lines it prints.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace broadcaster::test {

/// Path of the broadcaster tool in the build tree.
std::string cli_path();

/// A running program. The destructor sends SIGTERM, then SIGKILL after a
/// grace period, to this process only.
class piped_process {
public:
  enum stream { out, err };

  /// Starts `argv[0]` (an absolute path) with `argv`.
  explicit piped_process(std::vector<std::string> argv);
  ~piped_process();
  piped_process(const piped_process&) = delete;
  piped_process& operator=(const piped_process&) = delete;

  pid_t pid() const noexcept { return pid_; }

  /// Waits up to `timeout` for the next complete line on `s`.
  std::optional<std::string> read_line(stream s,
                                       std::chrono::milliseconds timeout);

  /// Reads lines from `s` until one contains `text`, for up to `timeout`;
  /// returns that line.
  std::optional<std::string> wait_for(stream s, const std::string& text,
                                      std::chrono::milliseconds timeout);

  /// Returns every line read so far from `s`, joined by newlines.
  std::string seen(stream s) const;

  /// Writes to standard input.
  void write_input(const std::string& text);

  /// Closes standard input, so the program reads end of file.
  void close_input();

  /// Closes the read end of standard output, so the program's next write
  /// fails with EPIPE.
  void close_output();

  /// Reads both standard output and error until the program closes them
  /// or `timeout` passes; returns false on timeout. The lines are then in
  /// seen().
  bool drain(std::chrono::milliseconds timeout);

  /// Sends `signal` to the process.
  void send_signal(int signal);

  /// Waits up to `timeout` for the exit and returns the exit code. For a
  /// process killed by a signal it returns 128 plus the signal number, and
  /// nothing on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

private:
  bool fill(stream s, std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int in_ = -1;
  int fds_[2] = {-1, -1};
  std::string buffers_[2];
  std::vector<std::string> lines_[2];
  std::optional<int> status_;
};

/// Runs a program to completion with `input` on standard input and returns
/// its exit code and output. Kills it after `timeout`, so a test never
/// hangs; the exit code is then -1.
struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

run_result run_program(std::vector<std::string> argv,
                       std::chrono::milliseconds timeout,
                       const std::string& input = {});

/// Waits for the `listening on HOST:PORT` line of a `broadcaster serve`
/// process and returns the port, or 0 if none came within `timeout`.
uint16_t listening_port(piped_process& node,
                        std::chrono::milliseconds timeout);

} // namespace broadcaster::test
