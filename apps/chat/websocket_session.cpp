#include "websocket_session.hpp"

#include <utility>

#include <boost/asio/post.hpp>
#include <caf/all.hpp>

#include "broadcaster/log.hpp"

namespace broadcaster::chat {

namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// Lines handed to the member actor whose publish has not finished yet.
// Reading from the browser pauses at this count, so a fast sender meets
// TCP backpressure instead of growing the actor's mailbox.
constexpr size_t max_unfinished_publishes = 32;

// RFC 6455 allows 123 bytes of reason text in a close frame. The text must
// stay valid UTF-8, so a cut never splits a multi-byte character.
std::string truncate_reason(std::string reason) {
  constexpr size_t max_size = 123;
  if (reason.size() <= max_size) {
    return reason;
  }
  size_t size = max_size;
  while (size > 0
         && (static_cast<unsigned char>(reason[size]) & 0xC0) == 0x80) {
    --size;
  }
  reason.resize(size);
  return reason;
}

// Hands frames from the member actor to the session. It keeps only a weak
// pointer, so a closed session goes away while its actor still runs. Every
// call passes through the gate, so no actor posts into a destroyed I/O
// context.
class session_link : public browser_link {
public:
  session_link(std::shared_ptr<post_gate> gate,
               std::weak_ptr<websocket_session> session)
    : gate_(std::move(gate)), session_(std::move(session)) {
    // nop
  }

  void send_text(std::string frame) override {
    gate_->run([&] {
      if (auto session = session_.lock()) {
        session->post_text(std::move(frame));
      }
    });
  }

  void close(uint16_t code, std::string reason) override {
    gate_->run([&] {
      if (auto session = session_.lock()) {
        session->post_close(code, std::move(reason));
      }
    });
  }

  void publish_done() override {
    gate_->run([&] {
      if (auto session = session_.lock()) {
        session->post_publish_done();
      }
    });
  }

private:
  std::shared_ptr<post_gate> gate_;
  std::weak_ptr<websocket_session> session_;
};

} // namespace

websocket_session::websocket_session(server_core& core,
                                     beast::tcp_stream stream, uint64_t id,
                                     std::string remote)
  : core_(core),
    ws_(std::move(stream)),
    strand_(ws_.get_executor()),
    id_(id),
    remote_(std::move(remote)),
    close_timer_(strand_) {
  // nop
}

websocket_session::~websocket_session() {
  if (member_) {
    caf::anon_send(member_, chat_leave_atom::value);
  }
  core_.remove(this);
  core_.websockets.remove();
}

void websocket_session::run(http::request<http::string_body> request) {
  if (!core_.add(this, weak_from_this())) {
    finish("server is stopping");
    return;
  }
  // The WebSocket stream has timeouts of its own, which replace those of
  // the TCP stream from here on.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = core_.options.handshake_timeout;
  timeouts.idle_timeout = core_.options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(
    websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "broadcaster-chat");
    }));
  ws_.read_message_max(core_.options.max_message_size);
  ws_.async_accept(request,
                   beast::bind_front_handler(&websocket_session::on_accept,
                                             shared_from_this()));
}

void websocket_session::shut_down() {
  net::post(strand_, [self = shared_from_this()] {
    self->begin_close(close_status::going_away, "server is shutting down");
  });
}

void websocket_session::abandon() {
  if (member_) {
    caf::anon_send(member_, chat_leave_atom::value);
    member_ = nullptr;
  }
}

void websocket_session::post_text(std::string frame) {
  auto deliver = [self = shared_from_this(),
                  text = std::move(frame)]() mutable {
    self->enqueue(std::move(text));
  };
  net::post(strand_, std::move(deliver));
}

void websocket_session::post_close(uint16_t code, std::string reason) {
  auto start_close = [self = shared_from_this(), code,
                      text = std::move(reason)]() mutable {
    self->begin_close(code, std::move(text));
  };
  net::post(strand_, std::move(start_close));
}

void websocket_session::post_publish_done() {
  net::post(strand_, [self = shared_from_this()] {
    if (self->unfinished_publishes_ > 0) {
      --self->unfinished_publishes_;
    }
    if (!self->reading_ && !self->closing_ && !self->finished_) {
      self->do_read();
    }
    self->paused_self_.reset();
  });
}

void websocket_session::on_accept(beast::error_code ec) {
  if (ec) {
    core_.log->warn("websocket handshake failed: connection = {}, "
                    "remote = {}, error = {}",
                    id_, remote_, ec.message());
    finish("handshake failed");
    return;
  }
  if (finished_) {
    return;
  }
  opened_ = true;
  member_settings settings;
  settings.bc = core_.bc;
  settings.channel = core_.options.channel;
  settings.connection_id = id_;
  settings.max_message_size = core_.options.max_message_size;
  auto link = std::make_shared<session_link>(core_.gate, weak_from_this());
  member_ = spawn_member(core_.sys, std::move(settings), std::move(link),
                         core_.members);
  core_.log->info("connection opened: connection = {}, remote = {}", id_,
                  remote_);
  do_read();
}

void websocket_session::do_read() {
  reading_ = true;
  ws_.async_read(buffer_,
                 beast::bind_front_handler(&websocket_session::on_read,
                                           shared_from_this()));
}

void websocket_session::on_read(beast::error_code ec, size_t) {
  reading_ = false;
  if (ec) {
    if (ec == websocket::error::closed) {
      auto code = static_cast<uint16_t>(ws_.reason().code);
      finish(code == 0 ? std::string{"closed by browser without status"}
                       : "closed by browser with status "
                           + std::to_string(code));
    } else if (ec == websocket::error::message_too_big) {
      core_.log->warn("message too large, connection closed with 1009: "
                      "connection = {}, max_message_size = {}",
                      id_, core_.options.max_message_size);
      finish("message larger than "
             + std::to_string(core_.options.max_message_size) + " bytes");
    } else if (ec == beast::error::timeout) {
      finish("timed out");
    } else if (ec == net::error::operation_aborted) {
      finish(close_reason_.empty() ? "aborted" : close_reason_);
    } else if (ec == websocket::condition::protocol_violation) {
      core_.log->warn("websocket protocol error, connection closed: "
                      "connection = {}, error = {}",
                      id_, ec.message());
      finish("protocol error: " + ec.message());
    } else {
      finish("connection lost: " + ec.message());
    }
    return;
  }
  if (closing_ || finished_) {
    // The browser sent this before it saw our close frame.
    buffer_.consume(buffer_.size());
    return;
  }
  if (!ws_.got_text()) {
    buffer_.consume(buffer_.size());
    core_.log->warn("binary message rejected, closing with 1003: "
                    "connection = {}",
                    id_);
    begin_close(close_status::unsupported_data,
                "binary messages are not supported; send text");
    return;
  }
  ++received_;
  ++unfinished_publishes_;
  caf::anon_send(member_, chat_line_atom::value,
                 beast::buffers_to_string(buffer_.data()));
  buffer_.consume(buffer_.size());
  if (unfinished_publishes_ < max_unfinished_publishes) {
    do_read();
  } else {
    // No operation is pending while reading pauses, so nothing else keeps
    // the session alive until post_publish_done() resumes it.
    paused_self_ = shared_from_this();
    core_.log->debug("reading paused until publishes finish: "
                     "connection = {}, unfinished = {}",
                     id_, unfinished_publishes_);
  }
}

void websocket_session::enqueue(std::string frame) {
  if (closing_ || finished_) {
    return;
  }
  if (queue_.size() >= core_.options.max_send_queue) {
    core_.log->warn("send queue full, closing slow connection with 1008: "
                    "connection = {}, queued = {}",
                    id_, queue_.size());
    // The front frame stays while a write still reads from its buffer.
    queue_.erase(queue_.begin() + (writing_ ? 1 : 0), queue_.end());
    begin_close(close_status::policy_violation,
                "too slow: more than "
                  + std::to_string(core_.options.max_send_queue)
                  + " messages queued");
    return;
  }
  queue_.push_back(std::move(frame));
  if (!writing_) {
    do_write();
  }
}

void websocket_session::do_write() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(net::buffer(queue_.front()),
                  beast::bind_front_handler(&websocket_session::on_write,
                                            shared_from_this()));
}

void websocket_session::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  queue_.pop_front();
  if (ec) {
    if (!finished_) {
      finish("write failed: " + ec.message());
    }
    return;
  }
  ++sent_;
  if (!queue_.empty() && !closing_ && !finished_) {
    do_write();
  }
}

void websocket_session::begin_close(uint16_t code, std::string reason) {
  if (closing_ || finished_) {
    return;
  }
  closing_ = true;
  close_reason_ = reason;
  if (!ws_.is_open()) {
    // The browser started the closing handshake or the connection failed;
    // the pending read completes and finishes the session.
    return;
  }
  close_timer_.expires_after(core_.options.handshake_timeout);
  close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) {
      self->finish("closing handshake timed out after: "
                   + self->close_reason_);
    }
  });
  websocket::close_reason frame{static_cast<websocket::close_code>(code),
                                truncate_reason(std::move(reason))};
  ws_.async_close(frame,
                  beast::bind_front_handler(&websocket_session::on_close,
                                            shared_from_this()));
}

void websocket_session::on_close(beast::error_code ec) {
  if (ec && ec != net::error::operation_aborted) {
    finish("closing handshake failed: " + ec.message());
    return;
  }
  finish(close_reason_);
}

void websocket_session::finish(const std::string& reason) {
  if (finished_) {
    return;
  }
  finished_ = true;
  paused_self_.reset();
  close_timer_.cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  // The front frame stays while a write still reads from its buffer.
  queue_.erase(queue_.begin() + (writing_ ? 1 : 0), queue_.end());
  if (member_) {
    caf::anon_send(member_, chat_leave_atom::value);
    member_ = nullptr;
  }
  if (opened_) {
    core_.log->info("connection closed: connection = {}, remote = {}, "
                    "received = {}, sent = {}, reason = {}",
                    id_, remote_, received_, sent_, reason);
  } else {
    core_.log->debug("connection closed before the handshake: "
                     "connection = {}, remote = {}, reason = {}",
                     id_, remote_, reason);
  }
}

} // namespace broadcaster::chat
