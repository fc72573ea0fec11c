#include "signals.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace broadcaster::cli {

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

} // namespace

void block_stop_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void ignore_sigpipe() {
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  sigemptyset(&action.sa_mask);
  sigaction(SIGPIPE, &action, nullptr);
}

stop_watcher::stop_watcher(std::function<void(const std::string&)> on_stop,
                           bool watch_stdout) {
  auto set = stop_signals();
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (signal_fd_ < 0 || wake_fd_ < 0) {
    throw std::runtime_error("cannot watch for signals: "
                             + std::string{std::strerror(errno)});
  }
  thread_ = std::thread{[this, on_stop = std::move(on_stop), watch_stdout] {
    run(on_stop, watch_stdout);
  }};
}

stop_watcher::~stop_watcher() {
  uint64_t one = 1;
  auto written = ::write(wake_fd_, &one, sizeof(one));
  (void) written;
  thread_.join();
  ::close(signal_fd_);
  ::close(wake_fd_);
}

void stop_watcher::run(std::function<void(const std::string&)> on_stop,
                       bool watch_stdout) {
  pollfd fds[3];
  fds[0] = pollfd{signal_fd_, POLLIN, 0};
  fds[1] = pollfd{wake_fd_, POLLIN, 0};
  // With no events requested, poll reports only POLLERR, POLLHUP and
  // POLLNVAL, and a pipe whose reader has gone reports POLLERR.
  fds[2] = pollfd{STDOUT_FILENO, 0, 0};
  nfds_t count = watch_stdout ? 3 : 2;
  for (;;) {
    auto rc = ::poll(fds, count, -1);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc < 0 || (fds[1].revents & POLLIN) != 0) {
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      auto n = ::read(signal_fd_, &info, sizeof(info));
      if (n == static_cast<ssize_t>(sizeof(info))) {
        on_stop(info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        return;
      }
    }
    if (count == 3 && fds[2].revents != 0) {
      on_stop("stdout closed");
      return;
    }
  }
}

} // namespace broadcaster::cli
