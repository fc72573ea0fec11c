#include "cli_process.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/support.hpp"

extern char** environ;

namespace broadcaster::test {

std::string cli_path() {
  return BROADCASTER_CLI_PATH;
}

piped_process::piped_process(std::vector<std::string> argv) {
  int in_pipe[2];
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0
      || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2() failed: "
                             + std::string{std::strerror(errno)});
  }
  std::vector<char*> args;
  for (auto& arg : argv) {
    args.push_back(arg.data());
  }
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  in_ = in_pipe[1];
  fds_[out] = out_pipe[0];
  fds_[err] = err_pipe[0];
  if (rc != 0) {
    throw std::runtime_error("cannot start " + argv[0] + ": "
                             + std::strerror(rc));
  }
}

piped_process::~piped_process() {
  if (!status_) {
    send_signal(SIGTERM);
    if (!wait_exit(scaled(std::chrono::milliseconds{5000}))) {
      send_signal(SIGKILL);
      wait_exit(scaled(std::chrono::milliseconds{5000}));
    }
  }
  for (int fd : {in_, fds_[0], fds_[1]}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

bool piped_process::fill(stream s, std::chrono::milliseconds timeout) {
  auto fd = fds_[s];
  if (fd < 0) {
    return false;
  }
  pollfd p{fd, POLLIN, 0};
  auto rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (rc <= 0) {
    return false;
  }
  char buf[4096];
  auto n = ::read(fd, buf, sizeof(buf));
  if (n <= 0) {
    ::close(fd);
    fds_[s] = -1;
    return false;
  }
  buffers_[s].append(buf, static_cast<size_t>(n));
  return true;
}

std::optional<std::string>
piped_process::read_line(stream s, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto pos = buffers_[s].find('\n');
    if (pos != std::string::npos) {
      auto line = buffers_[s].substr(0, pos);
      buffers_[s].erase(0, pos + 1);
      lines_[s].push_back(line);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(s, left)) {
      if (std::chrono::steady_clock::now() >= until || fds_[s] < 0) {
        return std::nullopt;
      }
    }
  }
}

std::optional<std::string>
piped_process::wait_for(stream s, const std::string& text,
                        std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return std::nullopt;
    }
    auto line = read_line(s, left);
    if (!line) {
      return std::nullopt;
    }
    if (line->find(text) != std::string::npos) {
      return line;
    }
  }
}

std::string piped_process::seen(stream s) const {
  std::string result;
  for (const auto& line : lines_[s]) {
    result += line;
    result += '\n';
  }
  return result + buffers_[s];
}

void piped_process::write_input(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(in_, text.data() + done, text.size() - done);
    if (n <= 0) {
      throw std::runtime_error("writing to the child failed");
    }
    done += static_cast<size_t>(n);
  }
}

void piped_process::close_input() {
  if (in_ >= 0) {
    ::close(in_);
    in_ = -1;
  }
}

void piped_process::close_output() {
  if (fds_[out] >= 0) {
    ::close(fds_[out]);
    fds_[out] = -1;
  }
}

void piped_process::send_signal(int signal) {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, signal);
  }
}

std::optional<int>
piped_process::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) {
    return status_;
  }
  auto until = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds{1};
  for (;;) {
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return std::nullopt;
    }
    // waitpid has no timeout; back off between checks.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{20});
  }
}

bool piped_process::drain(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (fds_[out] >= 0 || fds_[err] >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p[2];
    nfds_t n = 0;
    stream order[2];
    for (auto s : {out, err}) {
      if (fds_[s] >= 0) {
        p[n] = pollfd{fds_[s], POLLIN, 0};
        order[n++] = s;
      }
    }
    if (::poll(p, n, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (p[i].revents != 0) {
        fill(order[i], std::chrono::milliseconds{0});
      }
    }
  }
  for (auto s : {out, err}) {
    size_t pos;
    while ((pos = buffers_[s].find('\n')) != std::string::npos) {
      lines_[s].push_back(buffers_[s].substr(0, pos));
      buffers_[s].erase(0, pos + 1);
    }
  }
  return true;
}

run_result run_program(std::vector<std::string> argv,
                       std::chrono::milliseconds timeout,
                       const std::string& input) {
  piped_process proc{std::move(argv)};
  if (!input.empty()) {
    proc.write_input(input);
  }
  proc.close_input();
  run_result result;
  // The pipes reach end of file when the program exits.
  if (proc.drain(timeout)) {
    if (auto code = proc.wait_exit(timeout)) {
      result.code = *code;
    }
  }
  result.out = proc.seen(piped_process::out);
  result.err = proc.seen(piped_process::err);
  if (result.code == -1) {
    proc.send_signal(SIGKILL);
    proc.wait_exit(std::chrono::milliseconds{5000});
  }
  return result;
}

uint16_t listening_port(piped_process& node,
                        std::chrono::milliseconds timeout) {
  auto line = node.wait_for(piped_process::out, "listening on ", timeout);
  if (!line) {
    return 0;
  }
  auto colon = line->rfind(':');
  return static_cast<uint16_t>(std::stoi(line->substr(colon + 1)));
}

} // namespace broadcaster::test
