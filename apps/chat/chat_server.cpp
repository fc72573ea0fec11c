#include "chat_server.hpp"

#include <exception>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "broadcaster/log.hpp"
#include "http_session.hpp"
#include "server_core.hpp"

namespace broadcaster::chat {

using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// -- listener -----------------------------------------------------------------

/// Accepts TCP connections and starts an http_session for each.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(server_core& core, tcp::acceptor acceptor)
    : core_(core),
      acceptor_(std::move(acceptor)),
      retry_timer_(acceptor_.get_executor()) {
    // nop
  }

  void run() {
    net::post(acceptor_.get_executor(),
              [self = shared_from_this()] { self->do_accept(); });
  }

  /// Stops accepting; safe from any thread.
  void close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(core_.ioc),
                           boost::beast::bind_front_handler(
                             &listener::on_accept, shared_from_this()));
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) {
      return;
    }
    if (ec) {
      // Running out of file descriptors fails every accept at once, so
      // the retry waits a moment instead of spinning.
      core_.log->error("accept failed, retrying in 100ms: error = {}",
                       ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds{100});
      retry_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec) {
          self->do_accept();
        }
      });
      return;
    }
    error_code endpoint_error;
    auto remote = socket.remote_endpoint(endpoint_error);
    auto name = endpoint_error ? std::string{"unknown"} : to_string(remote);
    auto id = core_.next_connection_id();
    std::make_shared<http_session>(core_, std::move(socket), id,
                                   std::move(name))
      ->run();
    do_accept();
  }

  server_core& core_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
};

// -- server_core --------------------------------------------------------------

connection::~connection() {
  // nop
}

std::string to_string(const tcp::endpoint& ep) {
  auto address = ep.address().to_string();
  if (ep.address().is_v6()) {
    address = "[" + address + "]";
  }
  return address + ":" + std::to_string(ep.port());
}

server_core::server_core(caf::actor_system& system, broadcast_actor handle,
                         server_options settings)
  : sys(system),
    bc(std::move(handle)),
    options(std::move(settings)),
    log(logger("chat")) {
  // nop
}

server_core::~server_core() {
  // The listener's acceptor and timer must go before the I/O context,
  // which is destroyed with the other members after this body.
  listener_.reset();
}

std::string server_core::start() {
  if (started_) {
    return "the server was already started";
  }

  error_code ec;
  tcp::resolver resolver{ioc};
  auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                    tcp::resolver::passive, ec);
  if (ec) {
    return "cannot resolve host " + options.host + ": " + ec.message();
  }

  std::string failures;
  for (const auto& entry : endpoints) {
    tcp::acceptor acceptor{net::make_strand(ioc)};
    auto ep = entry.endpoint();
    if (acceptor.open(ep.protocol(), ec)
        || acceptor.set_option(tcp::acceptor::reuse_address(true), ec)
        || acceptor.bind(ep, ec)
        || acceptor.listen(net::socket_base::max_listen_connections, ec)) {
      failures += (failures.empty() ? "" : "; ") + to_string(ep) + ": "
                  + ec.message();
      continue;
    }
    port = acceptor.local_endpoint().port();
    listener_ = std::make_shared<listener>(*this, std::move(acceptor));
    break;
  }
  if (!listener_) {
    return "cannot listen on " + options.host + " port "
           + std::to_string(options.port) + ": " + failures;
  }

  started_ = true;
  work_ = std::make_unique<
    net::executor_work_guard<net::io_context::executor_type>>(
    ioc.get_executor());
  listener_->run();
  for (size_t i = 0; i < options.io_threads; ++i) {
    threads_.emplace_back([this] { run_io_thread(); });
  }
  return {};
}

void server_core::run_io_thread() {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& ex) {
      // A handler threw; the context stays usable, so this thread goes on
      // serving the other connections.
      log->error("i/o thread caught an exception: error = {}", ex.what());
    }
  }
}

bool server_core::add(connection* c, std::weak_ptr<connection> handle) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopping_) {
    return false;
  }
  connections_.emplace(c, std::move(handle));
  return true;
}

void server_core::remove(connection* c) {
  std::lock_guard<std::mutex> guard{mtx_};
  connections_.erase(c);
  connections_changed_.notify_all();
}

void server_core::stop(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::weak_ptr<connection>> open;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_) {
      return;
    }
    stopping_ = true;
    for (auto& entry : connections_) {
      open.push_back(entry.second);
    }
  }
  if (!started_) {
    return;
  }

  log->info("chat server stopping: port = {}, connections = {}", port,
            open.size());
  listener_->close();
  for (auto& weak : open) {
    if (auto c = weak.lock()) {
      c->shut_down();
    }
  }

  bool closed = false;
  {
    std::unique_lock<std::mutex> guard{mtx_};
    closed = connections_changed_.wait_until(
      guard, deadline, [this] { return connections_.empty(); });
  }
  if (!closed) {
    log->warn("connections still open at the shutdown deadline, dropping "
              "them: timeout = {}ms",
              timeout.count());
    ioc.stop();
  }

  work_.reset();
  for (auto& thread : threads_) {
    thread.join();
  }
  threads_.clear();
  listener_.reset();
  // From here on no actor posts into the context, and no I/O thread runs,
  // so the remaining connections can be read from this thread.
  gate->close();
  if (!closed) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& entry : connections_) {
      if (auto c = entry.second.lock()) {
        c->abandon();
      }
    }
  }

  auto left = std::max(deadline - std::chrono::steady_clock::now(),
                       std::chrono::steady_clock::duration{0});
  if (!members->await(0, std::chrono::duration_cast<
                           std::chrono::milliseconds>(left))) {
    log->warn("member actors still alive at the shutdown deadline: "
              "members = {}",
              members->count());
  }
  log->info("chat server stopped: port = {}, rejected_connections = {}",
            port, rejected_upgrades.load());
}

// -- chat_server --------------------------------------------------------------

chat_server::chat_server(caf::actor_system& sys, broadcast_actor bc,
                         server_options options)
  : core_(std::make_shared<server_core>(sys, std::move(bc),
                                        std::move(options))) {
  // nop
}

chat_server::~chat_server() {
  stop();
}

std::string chat_server::start() {
  return core_->start();
}

uint16_t chat_server::port() const {
  return core_->port;
}

void chat_server::stop(std::chrono::milliseconds timeout) {
  core_->stop(timeout);
}

size_t chat_server::members() const {
  return core_->members->count();
}

bool chat_server::await_members(size_t count,
                                std::chrono::milliseconds timeout) const {
  return core_->members->await(count, timeout);
}

size_t chat_server::connections() const {
  return core_->websockets.count();
}

bool chat_server::await_connections(size_t count,
                                    std::chrono::milliseconds timeout) const {
  return core_->websockets.await(count, timeout);
}

uint64_t chat_server::rejected_connections() const {
  return core_->rejected_upgrades.load();
}

} // namespace broadcaster::chat
