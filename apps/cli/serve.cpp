// The serve command: a CAF node that publishes a broadcast supervisor, and
// its optional Prometheus endpoint.

#include <cerrno>
#include <cstring>
#include <future>
#include <iostream>
#include <thread>
#include <optional>
#include <variant>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/log.hpp"
#include "cli.hpp"
#include "signals.hpp"

namespace broadcaster::cli {

namespace {

// A minimal HTTP/1.0 server on 127.0.0.1 that serves the supervisor's
// counters at GET /metrics. It handles one connection at a time on its
// own thread, which is enough for a scraper.
class metrics_server {
public:
  metrics_server(caf::actor_system& sys, broadcast_actor bc)
    : sys_(sys), bc_(std::move(bc)) {
    // nop
  }

  ~metrics_server() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      auto written = ::write(wake_fd_, &one, sizeof(one));
      (void) written;
      thread_.join();
    }
    if (listen_fd_ >= 0) {
      ::close(listen_fd_);
    }
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
  }

  /// Binds to 127.0.0.1:port and starts serving. Returns the bound port or
  /// an error message.
  std::variant<uint16_t, std::string> start(uint16_t port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (listen_fd_ < 0 || wake_fd_ < 0) {
      return std::string{std::strerror(errno)};
    }
    int on = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
          != 0
        || ::listen(listen_fd_, 16) != 0) {
      return std::string{std::strerror(errno)};
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    thread_ = std::thread{[this] { run(); }};
    return ntohs(addr.sin_port);
  }

private:
  void run() {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    for (;;) {
      auto rc = ::poll(fds, 2, -1);
      if (rc < 0 && errno == EINTR) {
        continue;
      }
      if (rc < 0 || (fds[1].revents & POLLIN) != 0) {
        return;
      }
      if ((fds[0].revents & POLLIN) != 0) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          serve_one(fd);
          ::close(fd);
        }
      }
    }
  }

  // Reads the request head, waiting at most 2 s in total.
  static std::string read_head(int fd) {
    std::string head;
    char buf[1024];
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())
                    .count();
      if (left <= 0) {
        break;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
        break;
      }
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      head.append(buf, static_cast<size_t>(n));
    }
    return head;
  }

  static void respond(int fd, const std::string& status,
                      const std::string& type, const std::string& body) {
    auto text = "HTTP/1.0 " + status + "\r\nContent-Type: " + type
                + "\r\nContent-Length: " + std::to_string(body.size())
                + "\r\nConnection: close\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < text.size()) {
      auto n = ::send(fd, text.data() + sent, text.size() - sent,
                      MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      sent += static_cast<size_t>(n);
    }
  }

  void serve_one(int fd) {
    auto head = read_head(fd);
    auto line = head.substr(0, head.find("\r\n"));
    if (line.rfind("GET ", 0) != 0) {
      respond(fd, "405 Method Not Allowed", "text/plain", "use GET\n");
      return;
    }
    auto target = line.substr(4, line.find(' ', 4) - 4);
    if (target != "/metrics") {
      respond(fd, "404 Not Found", "text/plain",
              "not found; the counters are at /metrics\n");
      return;
    }
    auto stats = stats_blocking(sys_, bc_, std::chrono::seconds{5});
    if (!stats) {
      respond(fd, "503 Service Unavailable", "text/plain",
              "reading counters failed: " + describe(stats.error()) + "\n");
      return;
    }
    respond(fd, "200 OK", "text/plain; version=0.0.4",
            format_prometheus(*stats));
  }

  caf::actor_system& sys_;
  broadcast_actor bc_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

std::string host_port(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

void check_serve(const config& cfg) {
  if (cfg.port < 0) {
    throw usage_error("serve needs --port N (0 picks a free port)");
  }
}

std::string serve_backend(const config& cfg) {
  return cfg.backend;
}

int serve(command_context& ctx) {
  const auto& cfg = ctx.cfg;
  auto& sys = ctx.sys;
  const auto& bc = ctx.backend;
  auto log = logger("cli");

  // SO_REUSEADDR lets a restarted node listen on its old port while
  // connections of the previous process are still in TIME_WAIT.
  auto port = sys.middleman().publish(bc, static_cast<uint16_t>(cfg.port),
                                      cfg.host.c_str(), true);
  if (!port) {
    write_stderr("broadcaster: cannot listen on "
                 + host_port(cfg.host, static_cast<uint16_t>(cfg.port))
                 + ": " + sys.render(port.error()));
    return exit_failure;
  }

  std::optional<metrics_server> metrics;
  if (cfg.metrics_port >= 0) {
    metrics.emplace(sys, bc);
    auto bound = metrics->start(static_cast<uint16_t>(cfg.metrics_port));
    if (auto* err = std::get_if<std::string>(&bound)) {
      write_stderr("broadcaster: cannot listen for metrics on 127.0.0.1:"
                   + std::to_string(cfg.metrics_port) + ": " + *err);
      metrics.reset();
      sys.middleman().unpublish(bc, *port);
        return exit_failure;
    }
    write_stdout("metrics on http://127.0.0.1:"
                 + std::to_string(std::get<uint16_t>(bound)) + "/metrics\n");
  }
  log->info("serving: address = {}, backend = {}",
            host_port(cfg.host, *port), redact_url(cfg.backend));
  write_stdout("listening on " + host_port(cfg.host, *port) + "\n");

  std::promise<std::string> stop;
  auto stopped = stop.get_future();
  {
    stop_watcher watcher{
      [&stop](const std::string& cause) { stop.set_value(cause); }, false};
    auto cause = stopped.get();
    log->info("shutting down: cause = {}", cause);
  }
  metrics.reset();
  sys.middleman().unpublish(bc, *port);
  return exit_ok;
}

} // namespace

int run_serve(const std::vector<std::string>& raw) {
  command_setup setup{serve_spec, 0, 0, 0};
  setup.watch_signals = true;
  setup.check = check_serve;
  setup.backend_url = serve_backend;
  return run_command(setup, raw, serve);
}

} // namespace broadcaster::cli
