#include "processes.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

namespace bench {

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool wait_for_exit(pid_t pid, double seconds) {
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    auto r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return false;
}

} // namespace

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  auto addr = loopback(0);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  close(fd);
  return port;
}

bool wait_for_port(uint16_t port, double seconds) {
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    auto addr = loopback(port);
    bool ok = fd >= 0
              && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                   == 0;
    if (fd >= 0) {
      close(fd);
    }
    if (ok) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return false;
}

// -- child_process ------------------------------------------------------------

child_process::~child_process() {
  stop();
}

std::string child_process::start(const std::vector<std::string>& argv,
                                 bool capture_stdout) {
  int fds[2] = {-1, -1};
  if (capture_stdout && pipe(fds) != 0) {
    return std::string{"pipe failed: "} + std::strerror(errno);
  }
  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  auto pid = fork();
  if (pid < 0) {
    return std::string{"fork failed: "} + std::strerror(errno);
  }
  if (pid == 0) {
    int out = capture_stdout ? fds[1] : open("/dev/null", O_WRONLY);
    dup2(out, STDOUT_FILENO);
    if (capture_stdout) {
      close(fds[0]);
    }
    execvp(args[0], args.data());
    std::fprintf(stderr, "broadcaster-bench: cannot run %s: %s\n", args[0],
                 std::strerror(errno));
    _exit(127);
  }
  pid_ = pid;
  if (capture_stdout) {
    close(fds[1]);
    out_fd_ = fds[0];
  }
  return {};
}

bool child_process::read_line(std::string& line, double seconds) {
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration<double>(seconds);
  for (;;) {
    auto newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (out_fd_ < 0 || left.count() <= 0) {
      return false;
    }
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char chunk[256];
    auto n = read(out_fd_, chunk, sizeof(chunk));
    if (n <= 0) {
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void child_process::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!wait_for_exit(pid_, 3.0)) {
      kill(pid_, SIGKILL);
      wait_for_exit(pid_, 3.0);
    }
    pid_ = -1;
  }
  if (out_fd_ >= 0) {
    close(out_fd_);
    out_fd_ = -1;
  }
}

// -- redis_server -------------------------------------------------------------

redis_server::~redis_server() {
  process_.stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string redis_server::start() {
  char templ[] = "/tmp/broadcaster-bench-redis-XXXXXX";
  if (mkdtemp(templ) == nullptr) {
    return std::string{"mkdtemp failed: "} + std::strerror(errno);
  }
  dir_ = templ;
  // Several tries, since another program may take the port between
  // free_port() and the server's bind.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto port = free_port();
    auto err = process_.start({"redis-server", "--port", std::to_string(port),
                               "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", dir_,
                               "--logfile", dir_ + "/redis.log",
                               "--daemonize", "no"},
                              false);
    if (!err.empty()) {
      return err;
    }
    if (wait_for_port(port, 5.0)) {
      port_ = port;
      return {};
    }
    process_.stop();
  }
  return "redis-server did not accept connections within 5 s; see "
         + dir_ + "/redis.log";
}

// -- node_server --------------------------------------------------------------

std::string node_server::start(const std::string& self_path,
                               const std::vector<std::string>& extra) {
  std::vector<std::string> argv{self_path, "--serve-node"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto err = process_.start(argv, true);
  if (!err.empty()) {
    return err;
  }
  std::string line;
  while (process_.read_line(line, 10.0)) {
    if (line.rfind("port ", 0) == 0) {
      port_ = static_cast<uint16_t>(std::atoi(line.c_str() + 5));
      return {};
    }
  }
  process_.stop();
  return "the node process printed no port within 10 s";
}

} // namespace bench
