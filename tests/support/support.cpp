#include "support/support.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace broadcaster::test {

std::chrono::milliseconds scaled(std::chrono::milliseconds base) {
  double factor = 1.0;
  if (const char* value = std::getenv("BROADCASTER_TEST_TIMEOUT_SCALE")) {
    factor = std::max(1.0, std::atof(value));
  }
  return std::chrono::milliseconds{
    static_cast<int64_t>(static_cast<double>(base.count()) * factor)};
}

std::chrono::milliseconds deadline() {
  return scaled(std::chrono::milliseconds{10000});
}

test_config::test_config() {
  register_types(*this);
  set("scheduler.max-threads", 2);
  set("logger.verbosity", caf::atom("quiet"));
}

system_fixture::system_fixture() : sys(cfg) {
  // nop
}

system_fixture::~system_fixture() {
  // nop
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    throw std::runtime_error("socket() failed: "
                             + std::string{std::strerror(errno)});
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed: "
                             + std::string{std::strerror(errno)});
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

temp_dir::temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path()
                         / "broadcaster-test-XXXXXX")
                          .string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed: "
                             + std::string{std::strerror(errno)});
  }
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

child_process::child_process(std::vector<std::string> argv,
                             std::string log_file) {
  std::vector<char*> args;
  for (auto& arg : argv) {
    args.push_back(arg.data());
  }
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(),
                        environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + argv[0] + ": "
                             + std::strerror(rc));
  }
}

child_process::~child_process() {
  if (!reaped_ && pid_ > 0) {
    if (stop(SIGTERM, scaled(std::chrono::milliseconds{5000})) == -1) {
      stop(SIGKILL, scaled(std::chrono::milliseconds{5000}));
    }
  }
}

bool child_process::running() {
  if (reaped_) {
    return false;
  }
  int status = 0;
  auto rc = ::waitpid(pid_, &status, WNOHANG);
  if (rc == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

int child_process::stop(int signal, std::chrono::milliseconds timeout) {
  if (reaped_) {
    return 0;
  }
  ::kill(pid_, signal);
  auto until = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds{1};
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    auto rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      reaped_ = true;
      return status;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{50});
  }
  return -1;
}

namespace {

// Returns whether a stream socket of `family` connects to `addr` now.
template <class Address>
bool connects(int family, const Address* addr, socklen_t size) {
  int fd = ::socket(family, SOCK_STREAM, 0);
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(addr), size) == 0;
  ::close(fd);
  return ok;
}

} // namespace

bool wait_for_port(const std::string& host, uint16_t port,
                   std::chrono::milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  return eventually([&] { return connects(AF_INET, &addr, sizeof(addr)); },
                    timeout);
}

bool wait_for_unix_socket(const std::string& path,
                          std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return eventually([&] { return connects(AF_UNIX, &addr, sizeof(addr)); },
                    timeout);
}

bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds{1};
  for (;;) {
    if (condition()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{50});
  }
}

std::string run_command(const std::vector<std::string>& argv,
                        const std::string& input) {
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0) {
    throw std::runtime_error("pipe() failed");
  }
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& arg : copy) {
    args.push_back(arg.data());
  }
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_addclose(&actions, in_pipe[1]);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(),
                        environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    throw std::runtime_error("cannot start " + argv[0] + ": "
                             + std::strerror(rc));
  }
  // Inputs in tests are small, so writing before reading cannot deadlock
  // on a full pipe.
  if (!input.empty()) {
    auto written = ::write(in_pipe[1], input.data(), input.size());
    (void) written;
  }
  ::close(in_pipe[1]);
  std::string output;
  char buf[4096];
  for (;;) {
    auto n = ::read(out_pipe[0], buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(argv[0] + " failed with status "
                             + std::to_string(status) + ", output: "
                             + output);
  }
  return output;
}

} // namespace broadcaster::test
