#pragma once

// The HTTP and WebSocket server of broadcaster-chat.
//
//   broadcaster::chat::chat_server server{sys, bc, options};
//   if (auto err = server.start(); !err.empty()) { ... }
//   std::cout << server.port();   // the bound port, also when options.port = 0
//   ...
//   server.stop();
//
// Asio runs on threads of the server's own; every connection runs on its
// own strand. Each WebSocket connection gets a member actor in `sys` that
// subscribes to the chat channel and publishes the lines the browser sends.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "broadcaster/interfaces.hpp"

namespace broadcaster::chat {

/// Settings of the server. The defaults are those of the command line.
struct server_options {
  /// Address or host name to listen on.
  std::string host = "127.0.0.1";

  /// TCP port to listen on; 0 lets the operating system pick a free one.
  uint16_t port = 8000;

  /// Channel that every line is published on and every browser receives.
  std::string channel = "chatroom";

  /// Largest WebSocket message a browser may send, in bytes. A larger one
  /// closes that connection with status 1009 (message too big).
  size_t max_message_size = 4096;

  /// Largest number of outgoing messages queued for one browser. A browser
  /// that falls further behind is disconnected with status 1008.
  size_t max_send_queue = 256;

  /// Largest number of open WebSocket connections, 0 for no limit. Upgrade
  /// requests over it get HTTP status 503 (service unavailable).
  size_t max_connections = 1000;

  /// Number of threads that run Asio.
  size_t io_threads = 1;

  /// Time a peer has to complete an HTTP request or a WebSocket opening or
  /// closing handshake.
  std::chrono::milliseconds handshake_timeout{30000};

  /// Time without any frame from a browser after which the connection is
  /// dropped. The server sends a ping after half of it, and browsers reply
  /// to pings by themselves.
  std::chrono::milliseconds idle_timeout{60000};
};

class server_core;

/// An HTTP server that serves the chat page at "/" and chat WebSockets at
/// "/ws". All member functions are thread-safe, but none may be called from
/// a thread of the server's own.
class chat_server {
public:
  chat_server(caf::actor_system& sys, broadcast_actor bc,
              server_options options);

  /// Stops the server if it still runs.
  ~chat_server();

  chat_server(const chat_server&) = delete;
  chat_server& operator=(const chat_server&) = delete;

  /// Binds the listening socket and starts the I/O threads. Returns an
  /// empty string on success, or why listening failed.
  std::string start();

  /// Returns the port the server listens on, valid after `start()`.
  uint16_t port() const;

  /// Stops accepting, closes every connection with status 1001 (going
  /// away), waits up to `timeout` for the connections and their member
  /// actors to end, then stops the I/O threads. Calling it again does
  /// nothing.
  void stop(std::chrono::milliseconds timeout
            = std::chrono::milliseconds{10000});

  /// Returns the number of member actors that are alive, one per open
  /// WebSocket connection plus those still shutting down.
  size_t members() const;

  /// Waits up to `timeout` until exactly `count` member actors are alive.
  bool await_members(size_t count, std::chrono::milliseconds timeout) const;

  /// Returns the number of WebSocket connections that count against
  /// `max_connections`: from the accepted upgrade request until the
  /// connection's session object is destroyed.
  size_t connections() const;

  /// Waits up to `timeout` until exactly `count` WebSocket connections are
  /// counted.
  bool await_connections(size_t count,
                         std::chrono::milliseconds timeout) const;

  /// Returns the number of upgrade requests rejected by `max_connections`.
  uint64_t rejected_connections() const;

private:
  std::shared_ptr<server_core> core_;
};

} // namespace broadcaster::chat
