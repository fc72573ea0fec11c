#include "http_session.hpp"

#include <string_view>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>

#include "assets.hpp"
#include "websocket_session.hpp"

namespace broadcaster::chat {

namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// The page needs only small GET requests, so larger ones end the
// connection.
constexpr uint32_t max_header_size = 8 * 1024;
constexpr uint64_t max_body_size = 8 * 1024;

// Content Security Policy of the page: scripts, styles and sockets only
// from this server, and no framing by other sites.
constexpr const char* page_policy
  = "default-src 'self'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

std::string_view path_of(beast::string_view target) {
  std::string_view result{target.data(), target.size()};
  auto query = result.find('?');
  if (query != std::string_view::npos) {
    result = result.substr(0, query);
  }
  return result;
}

beast::string_view to_beast(std::string_view text) {
  return {text.data(), text.size()};
}

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// Returns a response with the headers that every response carries.
response base_response(const request& req) {
  response res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "broadcaster-chat");
  res.set("X-Content-Type-Options", "nosniff");
  res.set(http::field::cache_control, "no-cache");
  return res;
}

void set_text(response& res, http::status status, std::string body) {
  res.result(status);
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
}

} // namespace

http_session::http_session(server_core& core, net::ip::tcp::socket socket,
                           uint64_t id, std::string remote)
  : core_(core),
    stream_(std::move(socket)),
    strand_(stream_.get_executor()),
    id_(id),
    remote_(std::move(remote)) {
  // nop
}

http_session::~http_session() {
  core_.remove(this);
}

void http_session::run() {
  if (!core_.add(this, weak_from_this())) {
    return;
  }
  net::post(strand_, beast::bind_front_handler(&http_session::do_read,
                                               shared_from_this()));
}

void http_session::shut_down() {
  net::post(strand_, [self = shared_from_this()] { self->close(); });
}

void http_session::abandon() {
  // nop: an HTTP connection starts nothing outside Asio.
}

void http_session::do_read() {
  parser_.emplace();
  parser_->header_limit(max_header_size);
  parser_->body_limit(max_body_size);
  stream_.expires_after(core_.options.handshake_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read,
                                             shared_from_this()));
}

void http_session::on_read(beast::error_code ec, size_t) {
  if (ec) {
    if (ec != http::error::end_of_stream
        && ec != net::error::operation_aborted) {
      core_.log->debug("http read failed: connection = {}, remote = {}, "
                       "error = {}",
                       id_, remote_, ec.message());
    }
    close();
    return;
  }
  const auto& req = parser_->get();
  auto path = path_of(req.target());
  // NOTE: the Origin header is not checked, so a page from any site can
  // open a chat WebSocket to this server.
  if (websocket::is_upgrade(req) && path == websocket_path) {
    if (!core_.websockets.try_add(core_.options.max_connections)) {
      reject_upgrade(req);
      return;
    }
    core_.log->debug("websocket upgrade: connection = {}, remote = {}", id_,
                     remote_);
    upgraded_ = true;
    auto session = std::make_shared<websocket_session>(
      core_, std::move(stream_), id_, remote_);
    session->run(parser_->release());
    return;
  }
  pending_ = std::make_shared<response>(make_response(req));
  core_.log->debug("http request: connection = {}, method = {}, "
                   "target = {}, status = {}",
                   id_, std::string{req.method_string()},
                   std::string{req.target()}, pending_->result_int());
  do_write();
}

void http_session::reject_upgrade(const request& req) {
  auto max = core_.options.max_connections;
  auto rejected = ++core_.rejected_upgrades;
  core_.log->warn("websocket upgrade rejected, connection limit reached: "
                  "connection = {}, remote = {}, max_connections = {}, "
                  "rejected_total = {}",
                  id_, remote_, max, rejected);
  auto res = base_response(req);
  set_text(res, http::status::service_unavailable,
           "too many connections: this server accepts at most "
             + std::to_string(max)
             + " WebSocket connections; try again later\n");
  res.keep_alive(false);
  res.prepare_payload();
  pending_ = std::make_shared<response>(std::move(res));
  do_write();
}

void http_session::do_write() {
  bool close_after = pending_->need_eof();
  http::async_write(stream_, *pending_,
                    beast::bind_front_handler(&http_session::on_write,
                                              shared_from_this(),
                                              close_after));
}

http_session::response http_session::make_response(const request& req) {
  auto res = base_response(req);
  auto text = [&](http::status status, std::string body) {
    set_text(res, status, std::move(body));
  };
  auto path = path_of(req.target());
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    text(http::status::method_not_allowed,
         "only GET and HEAD are allowed here\n");
    res.set(http::field::allow, "GET, HEAD");
  } else if (path == websocket_path) {
    text(http::status::upgrade_required,
         "this endpoint accepts WebSocket connections only\n");
    res.set(http::field::upgrade, "websocket");
    res.set(http::field::connection, "Upgrade");
  } else if (auto file = find_asset(path)) {
    res.result(http::status::ok);
    res.set(http::field::content_type, to_beast(file->content_type));
    res.set("Content-Security-Policy", page_policy);
    res.body() = std::string{file->body};
  } else {
    text(http::status::not_found, "not found\n");
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) {
    // HEAD gets the headers of GET, Content-Length included, without body.
    auto size = res.body().size();
    res.body().clear();
    res.content_length(size);
  }
  return res;
}

void http_session::on_write(bool close_after, beast::error_code ec, size_t) {
  pending_.reset();
  if (ec) {
    core_.log->debug("http write failed: connection = {}, error = {}", id_,
                     ec.message());
    close();
    return;
  }
  if (close_after) {
    close();
    return;
  }
  do_read();
}

void http_session::close() {
  if (upgraded_) {
    return;
  }
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

} // namespace broadcaster::chat
