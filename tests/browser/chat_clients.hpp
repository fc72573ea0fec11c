#pragma once

// Clients for the chat server tests: a WebSocket client of /ws and a
// one-shot HTTP request. Every network call fails the test after the test
// deadline instead of blocking it.

#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "support/support.hpp"

namespace broadcaster::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using json = nlohmann::json;

// Runs one asynchronous operation on `ioc` and waits up to the test
// deadline for it. `start` receives the completion handler. On timeout the
// socket's operations are cancelled and the result is beast::error::timeout.
template <class Start>
inline beast::error_code run_with_deadline(net::io_context& ioc,
                                           tcp::socket& socket, Start start) {
  beast::error_code result;
  bool done = false;
  start([&](beast::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  ioc.restart();
  ioc.run_for(test::deadline());
  if (!done) {
    beast::error_code ignored;
    socket.cancel(ignored);
    ioc.restart();
    ioc.run();
    return beast::error::timeout;
  }
  return result;
}

// A WebSocket client of the chat endpoint whose every call fails after the
// test deadline instead of blocking the test.
class chat_client {
public:
  explicit chat_client(uint16_t port, int receive_buffer = 0) : ws_(ioc_) {
    auto& socket = ws_.next_layer();
    socket.open(tcp::v4());
    if (receive_buffer > 0) {
      socket.set_option(net::socket_base::receive_buffer_size(receive_buffer));
    }
    tcp::endpoint server{net::ip::make_address("127.0.0.1"), port};
    auto ec = run([&](auto handler) { socket.async_connect(server, handler); });
    BOOST_REQUIRE_MESSAGE(!ec, "connect failed: " << ec.message());
    ec = run([&](auto handler) {
      ws_.async_handshake("127.0.0.1:" + std::to_string(port), "/ws",
                          handler);
    });
    BOOST_REQUIRE_MESSAGE(!ec, "handshake failed: " << ec.message());
  }

  // Reads one frame. Returns nothing if the connection closed or failed,
  // with the cause in `error()`.
  std::optional<json> read() {
    beast::flat_buffer buffer;
    error_ = run([&](auto handler) { ws_.async_read(buffer, handler); });
    if (error_) {
      return std::nullopt;
    }
    return json::parse(beast::buffers_to_string(buffer.data()));
  }

  // Reads frames until the ready frame; fails the test on anything else.
  void await_ready() {
    auto frame = read();
    BOOST_REQUIRE_MESSAGE(frame, "no ready frame: " << error_.message());
    BOOST_REQUIRE_EQUAL((*frame)["type"], "ready");
  }

  // Reads the next frame and requires it to be a message with `text`.
  void expect_message(const std::string& text) {
    auto frame = read();
    BOOST_REQUIRE_MESSAGE(frame, "no frame for \"" << text.substr(0, 40)
                                                   << "\": "
                                                   << error_.message());
    BOOST_REQUIRE_EQUAL((*frame)["type"], "message");
    BOOST_REQUIRE_EQUAL((*frame)["text"].get<std::string>(), text);
  }

  // Reads until the server closes and returns its close status.
  uint16_t expect_close() {
    for (;;) {
      auto frame = read();
      if (!frame) {
        BOOST_REQUIRE_MESSAGE(error_ == websocket::error::closed,
                              "expected a close frame, got error: "
                                << error_.message());
        return static_cast<uint16_t>(ws_.reason().code);
      }
    }
  }

  void send_text(const std::string& text) {
    ws_.text(true);
    write(text);
  }

  void send_binary(const std::string& bytes) {
    ws_.binary(true);
    write(bytes);
  }

  // Runs the closing handshake.
  void close() {
    auto ec = run([&](auto handler) {
      ws_.async_close(websocket::close_code::normal, handler);
    });
    BOOST_REQUIRE_MESSAGE(!ec, "close failed: " << ec.message());
  }

  // Drops the TCP connection without a close frame; `reset` sends RST.
  void drop(bool reset) {
    auto& socket = ws_.next_layer();
    if (reset) {
      socket.set_option(net::socket_base::linger(true, 0));
    }
    beast::error_code ignored;
    socket.close(ignored);
  }

  const beast::error_code& error() const {
    return error_;
  }

private:
  template <class Start>
  beast::error_code run(Start start) {
    return run_with_deadline(ioc_, ws_.next_layer(), start);
  }

  void write(const std::string& data) {
    auto ec = run([&](auto handler) {
      ws_.async_write(net::buffer(data), handler);
    });
    BOOST_REQUIRE_MESSAGE(!ec, "write failed: " << ec.message());
  }

  net::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  beast::error_code error_;
};

struct http_reply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

inline http_reply http_request(uint16_t port, http::verb method,
                               const std::string& target) {
  net::io_context ioc;
  tcp::socket socket{ioc};
  tcp::endpoint server{net::ip::make_address("127.0.0.1"), port};
  auto ec = run_with_deadline(ioc, socket, [&](auto handler) {
    socket.async_connect(server, handler);
  });
  BOOST_REQUIRE_MESSAGE(!ec, "connect failed: " << ec.message());
  http::request<http::empty_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.keep_alive(false);
  ec = run_with_deadline(ioc, socket, [&](auto handler) {
    http::async_write(socket, req, handler);
  });
  BOOST_REQUIRE_MESSAGE(!ec, "request failed: " << ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (method == http::verb::head) {
    // Without this the parser would wait for the body that
    // Content-Length announces.
    http::response_parser<http::string_body> parser;
    parser.skip(true);
    ec = run_with_deadline(ioc, socket, [&](auto handler) {
      http::async_read(socket, buffer, parser, handler);
    });
    BOOST_REQUIRE_MESSAGE(!ec, "response failed: " << ec.message());
    res = parser.release();
  } else {
    ec = run_with_deadline(ioc, socket, [&](auto handler) {
      http::async_read(socket, buffer, res, handler);
    });
    BOOST_REQUIRE_MESSAGE(!ec, "response failed: " << ec.message());
  }
  return {res.result_int(), std::string{res[http::field::content_type]},
          res.body()};
}

// Sends a WebSocket upgrade request for /ws and returns the HTTP response,
// for servers expected to reject it. Fails the test if the upgrade succeeds.
inline http_reply rejected_upgrade(uint16_t port) {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  auto& socket = ws.next_layer();
  tcp::endpoint server{net::ip::make_address("127.0.0.1"), port};
  auto ec = run_with_deadline(ioc, socket, [&](auto handler) {
    socket.async_connect(server, handler);
  });
  BOOST_REQUIRE_MESSAGE(!ec, "connect failed: " << ec.message());
  websocket::response_type res;
  ec = run_with_deadline(ioc, socket, [&](auto handler) {
    ws.async_handshake(res, "127.0.0.1:" + std::to_string(port), "/ws",
                       handler);
  });
  BOOST_REQUIRE_MESSAGE(ec == websocket::error::upgrade_declined,
                        "expected a declined upgrade, got: " << ec.message());
  return {res.result_int(), std::string{res[http::field::content_type]},
          res.body()};
}

} // namespace broadcaster::test
