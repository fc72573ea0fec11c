#pragma once

// State shared by the listener and the sessions of one chat_server.
// Internal to the server; include chat_server.hpp instead.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <caf/actor_system.hpp>
#include <spdlog/spdlog.h>

#include "broadcaster/interfaces.hpp"
#include "chat_server.hpp"
#include "member_actor.hpp"

namespace broadcaster::chat {

namespace net = boost::asio;

/// A TCP connection that the server closes when it stops.
class connection {
public:
  virtual ~connection();

  /// Starts closing the connection on its strand. Safe from any thread.
  virtual void shut_down() = 0;

  /// Ends what the connection started outside Asio, such as its member
  /// actor. Called only after the I/O threads stopped with the connection
  /// still open.
  virtual void abandon() = 0;
};

/// Lets actors post into the I/O context only while it still exists.
/// Posting takes a shared lock, so actors do not wait for each other.
class post_gate {
public:
  /// Runs `f` unless the gate is closed. Returns false if it is.
  template <class F>
  bool run(F&& f) {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (!open_) {
      return false;
    }
    f();
    return true;
  }

  /// Waits for running calls and rejects every later one.
  void close() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    open_ = false;
  }

private:
  std::shared_mutex mtx_;
  bool open_ = true;
};

class listener;

class server_core {
public:
  server_core(caf::actor_system& system, broadcast_actor handle,
              server_options settings);
  ~server_core();

  /// Binds, listens and starts the I/O threads; see chat_server::start.
  std::string start();

  /// See chat_server::stop.
  void stop(std::chrono::milliseconds timeout);

  /// Returns a new id for log messages.
  uint64_t next_connection_id() {
    return ++last_connection_id_;
  }

  /// Registers `c` for shutdown. Returns false once the server is
  /// stopping, in which case the caller closes the connection.
  bool add(connection* c, std::weak_ptr<connection> handle);

  /// Removes `c`; called from its destructor.
  void remove(connection* c);

  caf::actor_system& sys;
  const broadcast_actor bc;
  const server_options options;
  const std::shared_ptr<post_gate> gate = std::make_shared<post_gate>();
  const std::shared_ptr<live_counter> members
    = std::make_shared<live_counter>();
  /// WebSocket sessions, limited by options.max_connections.
  live_counter websockets;
  /// Upgrade requests rejected because of options.max_connections.
  std::atomic<uint64_t> rejected_upgrades{0};
  const std::shared_ptr<spdlog::logger> log;
  uint16_t port = 0;

private:
  void run_io_thread();

  std::atomic<uint64_t> last_connection_id_{0};
  std::mutex mtx_;
  std::condition_variable connections_changed_;
  std::map<connection*, std::weak_ptr<connection>> connections_;
  bool stopping_ = false;
  bool started_ = false;
  std::vector<std::thread> threads_;
  std::shared_ptr<listener> listener_;

public:
  // Declared after the registry so that it is destroyed before it, because
  // destroying the handlers it still contains destroys sessions, which
  // call remove().
  net::io_context ioc;

private:
  std::unique_ptr<net::executor_work_guard<net::io_context::executor_type>>
    work_;
};

/// Formats an endpoint as host:port, with brackets around IPv6 addresses.
std::string to_string(const net::ip::tcp::endpoint& ep);

} // namespace broadcaster::chat
