#pragma once

// One chat WebSocket connection: reads lines from the browser and hands
// them to the member actor, and writes the actor's frames to the browser
// through a bounded queue. Every member function except the post_*
// functions runs on the connection's strand.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <caf/actor.hpp>

#include "server_core.hpp"

namespace broadcaster::chat {

namespace beast = boost::beast;

class websocket_session
  : public connection,
    public std::enable_shared_from_this<websocket_session> {
public:
  /// Takes over `stream` after its upgrade request. The caller has counted
  /// the session in `core.websockets`, and the destructor removes it.
  websocket_session(server_core& core, beast::tcp_stream stream, uint64_t id,
                    std::string remote);
  ~websocket_session() override;

  /// Accepts the upgrade request and starts the session.
  void run(beast::http::request<beast::http::string_body> request);

  void shut_down() override;
  void abandon() override;

  // Entry points for the member actor, safe from any thread.
  void post_text(std::string frame);
  void post_close(uint16_t code, std::string reason);
  void post_publish_done();

private:
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, size_t bytes);
  void enqueue(std::string frame);
  void do_write();
  void on_write(beast::error_code ec, size_t bytes);
  void begin_close(uint16_t code, std::string reason);
  void on_close(beast::error_code ec);

  // Ends the session once: closes the socket, stops the member actor and
  // logs `reason`.
  void finish(const std::string& reason);

  server_core& core_;
  beast::websocket::stream<beast::tcp_stream> ws_;
  const net::any_io_executor strand_;
  const uint64_t id_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  net::steady_timer close_timer_;
  caf::actor member_;
  // Set while reading pauses for unfinished publishes.
  std::shared_ptr<websocket_session> paused_self_;
  std::string close_reason_;
  size_t unfinished_publishes_ = 0;
  uint64_t received_ = 0;
  uint64_t sent_ = 0;
  bool opened_ = false;
  bool writing_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

} // namespace broadcaster::chat
