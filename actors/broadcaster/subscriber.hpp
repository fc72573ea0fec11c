#pragma once

// Receiving events, from actors and from plain threads.
//
// In an event-based actor, combine event_handler() with the actor's own
// handlers and subscribe with a request to the supervisor:
//
//   caf::behavior listener(caf::event_based_actor* self,
//                          broadcaster::broadcast_actor bc) {
//     self->request(bc, caf::infinite, broadcaster::bc_subscribe_atom::value,
//                   "news", caf::actor{self}, broadcaster::subscribe_options{})
//       .then([](const broadcaster::subscription&) { /* active */ });
//     return broadcaster::event_handler(self, [](const broadcaster::event& e) {
//       std::cout << e.channel << ": " << e.message << '\n';
//     }).or_else([](const std::string& other) { /* ... */ });
//   }
//
// Outside actors, a blocking_subscription receives on the calling thread:
//
//   auto sub = broadcaster::subscribe_blocking(sys, bc, "news");
//   for (const auto& e : *sub) { ... }   // until the subscription closes

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/local_actor.hpp>
#include <caf/message_handler.hpp>
#include <caf/scoped_actor.hpp>

#include "broadcaster/interfaces.hpp"
#include "broadcaster/types.hpp"

namespace broadcaster {

/// A message about a subscription other than an event.
using notice = std::variant<status_event, events_skipped>;

/// Typed interface that a statically typed subscriber actor implements. Its
/// `event_batch` handler must call `acknowledge()`.
using subscriber_actor
  = caf::typed_actor<caf::reacts_to<event_batch>,
                     caf::reacts_to<events_skipped>,
                     caf::reacts_to<status_event>>;

/// Tells the channel actor that sent the message currently being handled by
/// `self` that `self` has processed `count` events. Call it from the
/// `event_batch` handler with the batch's size.
void acknowledge(caf::local_actor* self, uint64_t count);

/// Returns handlers for `event_batch`, `events_skipped` and `status_event`
/// that call `on_event` for each event in order, acknowledge each batch, and
/// pass other subscription messages to `on_notice` if given.
template <class OnEvent>
caf::message_handler
event_handler(caf::local_actor* self, OnEvent on_event,
              std::function<void(const notice&)> on_notice = {}) {
  auto handler = std::make_shared<OnEvent>(std::move(on_event));
  auto notices = std::make_shared<std::function<void(const notice&)>>(
    std::move(on_notice));
  return {
    [self, handler](const event_batch& batch) {
      for (const auto& ev : batch.events) {
        (*handler)(ev);
      }
      acknowledge(self, batch.events.size());
    },
    [notices](const events_skipped& x) {
      if (*notices) {
        (*notices)(notice{x});
      }
    },
    [notices](const status_event& x) {
      if (*notices) {
        (*notices)(notice{x});
      }
    },
  };
}

/// A subscription received on the calling thread. Only the thread that
/// created it may call its member functions. Destroying it ends the
/// subscription.
class blocking_subscription {
public:
  blocking_subscription(caf::actor_system& sys, broadcast_actor bc);
  blocking_subscription(blocking_subscription&&) noexcept;
  blocking_subscription& operator=(blocking_subscription&&) noexcept;
  ~blocking_subscription();

  /// Waits up to `timeout` for the next event. Returns nothing on timeout
  /// or once the subscription has closed. Status messages and skip notices
  /// received meanwhile go to the `on_notice` callback and the counters.
  std::optional<event> next(std::chrono::milliseconds timeout);

  /// Waits without limit for the next event; nothing once closed.
  std::optional<event> next();

  /// Sets the callback for status messages and skip notices.
  void on_notice(std::function<void(const notice&)> callback);

  /// Ends the subscription and waits up to `timeout` for the supervisor to
  /// confirm it.
  caf::error unsubscribe(std::chrono::milliseconds timeout
                         = std::chrono::milliseconds{10000});

  /// Returns the subscription ids, one per subscribed channel or pattern.
  const std::vector<subscription>& subscriptions() const noexcept;

  /// Adds another channel or pattern to this subscription and waits up to
  /// `timeout` until it is active.
  caf::error add(const std::string& channel, subscribe_options options = {},
                 std::chrono::milliseconds timeout
                 = std::chrono::milliseconds{10000});

  /// Returns true once the subscription closed: a `closed` status arrived
  /// or `unsubscribe()` was called.
  bool closed() const noexcept;

  /// Returns the number of events that channel actors discarded because
  /// this subscriber fell behind.
  uint64_t skipped() const noexcept;

  /// Returns the most recent status message, if any.
  const std::optional<status_event>& last_status() const noexcept;

  /// Input iterator over events until the subscription closes.
  class iterator {
  public:
    using value_type = event;
    using difference_type = std::ptrdiff_t;
    using reference = const event&;
    using pointer = const event*;
    using iterator_category = std::input_iterator_tag;

    iterator() = default;
    explicit iterator(blocking_subscription* owner);
    reference operator*() const;
    pointer operator->() const;
    iterator& operator++();
    bool operator==(const iterator& other) const;
    bool operator!=(const iterator& other) const;

  private:
    blocking_subscription* owner_ = nullptr;
    std::optional<event> current_;
  };

  iterator begin();
  iterator end();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Subscribes the calling thread to `channel` and waits up to `timeout` for
/// the subscription to become active.
caf::expected<blocking_subscription>
subscribe_blocking(caf::actor_system& sys, const broadcast_actor& bc,
                   const std::string& channel, subscribe_options options = {},
                   std::chrono::milliseconds timeout
                   = std::chrono::milliseconds{10000});

} // namespace broadcaster
