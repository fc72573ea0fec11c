#pragma once

// One HTTP connection: serves the page's files and hands WebSocket upgrade
// requests for the chat endpoint to a websocket_session. Every member
// function except shut_down() runs on the connection's strand.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "server_core.hpp"

namespace broadcaster::chat {

namespace beast = boost::beast;

/// Path of the chat WebSocket endpoint.
constexpr const char* websocket_path = "/ws";

class http_session : public connection,
                     public std::enable_shared_from_this<http_session> {
public:
  http_session(server_core& core, net::ip::tcp::socket socket, uint64_t id,
               std::string remote);
  ~http_session() override;

  /// Registers the connection and reads the first request.
  void run();

  void shut_down() override;
  void abandon() override;

private:
  using request = beast::http::request<beast::http::string_body>;
  using response = beast::http::response<beast::http::string_body>;

  void do_read();
  void on_read(beast::error_code ec, size_t bytes);
  response make_response(const request& req);
  // Responds to an upgrade request over the connection limit with status
  // 503 and closes the connection.
  void reject_upgrade(const request& req);
  void do_write();
  void on_write(bool close, beast::error_code ec, size_t bytes);
  void close();

  server_core& core_;
  beast::tcp_stream stream_;
  const net::any_io_executor strand_;
  const uint64_t id_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>>
    parser_;
  std::shared_ptr<response> pending_;
  // True once the stream moved to a websocket_session.
  bool upgraded_ = false;
};

} // namespace broadcaster::chat
