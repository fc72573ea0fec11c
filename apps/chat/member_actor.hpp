#pragma once

// The actor behind one WebSocket connection: it subscribes to the chat
// channel, turns events into JSON text frames for the browser and publishes
// the lines the browser sends.
//
// Frames sent to the browser, one JSON object each:
//   {"type":"ready","channel":"chatroom","max_message_size":4096}
//   {"type":"message","text":"hello","id":"17"}
//   {"type":"error","reason":"..."}            a line was not published
//   {"type":"status","state":"backend_lost","events_may_be_lost":true,
//    "reason":"..."}                           also "backend_back"
//   {"type":"skipped","count":3}               events dropped for this
//                                              browser because it lagged

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include "broadcaster/interfaces.hpp"

namespace broadcaster::chat {

/// Carries one line from the browser to its member actor.
using chat_line_atom = caf::atom_constant<caf::atom("chatline")>;

/// Tells a member actor that its connection has closed.
using chat_leave_atom = caf::atom_constant<caf::atom("chatleave")>;

/// WebSocket close status codes that the server sends (RFC 6455, 7.4.1).
namespace close_status {
constexpr uint16_t going_away = 1001;
constexpr uint16_t unsupported_data = 1003;
constexpr uint16_t policy_violation = 1008;
constexpr uint16_t message_too_big = 1009;
constexpr uint16_t internal_error = 1011;
} // namespace close_status

/// The browser side of a member actor. Every member function is safe to
/// call from any thread and returns without waiting; calls after the
/// connection closed do nothing.
class browser_link {
public:
  virtual ~browser_link();

  /// Queues a text frame for the browser.
  virtual void send_text(std::string frame) = 0;

  /// Starts the closing handshake with `code` and `reason`.
  virtual void close(uint16_t code, std::string reason) = 0;

  /// Reports that the publish of one line sent with `chat_line_atom` has
  /// finished, successfully or not. The connection stops reading from the
  /// browser while too many publishes are unfinished.
  virtual void publish_done() = 0;
};

/// Number of live objects of one kind, such as member actors, shared
/// between threads.
class live_counter {
public:
  void add();

  /// Adds one unless the count has reached `limit`, where 0 means no
  /// limit. Returns whether it added one.
  bool try_add(size_t limit);

  void remove();
  size_t count() const;

  /// Waits up to `timeout` until the count equals `expected`.
  bool await(size_t expected, std::chrono::milliseconds timeout) const;

private:
  mutable std::mutex mtx_;
  mutable std::condition_variable changed_;
  size_t count_ = 0;
};

/// Settings of one member actor.
struct member_settings {
  broadcast_actor bc;
  std::string channel;
  /// Identifies the connection in log messages.
  uint64_t connection_id = 0;
  /// Reported to the browser in the ready frame.
  size_t max_message_size = 0;
  /// Time a publish may take before the browser gets an error frame.
  std::chrono::milliseconds publish_timeout{10000};
};

/// Spawns the member actor of one connection, counted in `counter` until it
/// exits. The actor exits after `chat_leave_atom`. It also exits when the
/// supervisor goes down or its subscription fails or closes, and then
/// closes the connection through `link` first.
caf::actor spawn_member(caf::actor_system& sys, member_settings settings,
                        std::shared_ptr<browser_link> link,
                        std::shared_ptr<live_counter> counter);

/// Encodes the frame that carries one event to the browser. Bytes that are
/// not valid UTF-8 become U+FFFD, because JSON text must be UTF-8.
std::string message_frame(const event& ev);

} // namespace broadcaster::chat
