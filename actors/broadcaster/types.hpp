#pragma once

// Message types of the broadcaster protocol. Every type here can cross a
// process boundary: `broadcaster::register_types()` adds each one to a CAF
// configuration under the name given in its `inspect()` function, and every
// node must register them the same way.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace broadcaster {

/// One message received on a channel.
struct event {
  /// Channel the message was published on.
  std::string channel;

  /// Message payload: arbitrary bytes, NUL and non-UTF-8 bytes included.
  std::string message;

  /// Position of the event in its backend, in the backend's own notation:
  /// a decimal sequence number on `memory://`, a stream id on Redis Streams,
  /// `partition:offset` on Kafka. Empty where the backend assigns none.
  std::string id;

  /// Pattern that matched the channel, or empty for a plain subscription.
  std::string pattern;
};

/// Events delivered to a subscriber in one message, oldest first. The
/// subscriber must acknowledge each batch to the channel actor that sent it
/// (the helpers in `broadcaster/subscriber.hpp` do so), because the channel
/// actor limits how many unacknowledged events a subscriber may hold.
struct event_batch {
  std::vector<event> events;
};

/// Action a channel actor takes on a subscriber whose queue is full.
enum class overflow_policy : uint8_t {
  /// Discards the oldest queued events and sends `events_skipped` before the
  /// next delivered batch.
  drop_oldest,
  /// Ends the subscription with a `closed` status.
  disconnect,
};

std::string to_string(overflow_policy x);

/// Options of one subscription.
struct subscribe_options {
  /// Treats the channel name as a glob pattern (`*`, `?`, `[abc]`, `[^a]`,
  /// `[a-z]`, and `\` to escape).
  bool pattern = false;

  /// Number of stored events to deliver before live ones. Zero delivers only
  /// live events. Backends without storage reject a non-zero value.
  uint64_t history = 0;

  /// Maximum number of events sent to the subscriber and not yet
  /// acknowledged. At least 1.
  uint32_t max_in_flight = 1024;

  /// Maximum number of events a channel actor holds back for the subscriber
  /// once `max_in_flight` is reached. At least 1.
  uint32_t max_queued = 8192;

  /// Action taken when more than `max_queued` events are held back.
  overflow_policy overflow = overflow_policy::drop_oldest;
};

/// Reply to a successful subscribe.
struct subscription {
  /// Identifier for unsubscribing, unique within one supervisor.
  uint64_t id = 0;
  std::string channel;
  bool pattern = false;
};

/// Reply to a successful publish.
struct publish_ack {
  /// Identifier the backend assigned to the event, or empty.
  std::string id;

  /// Number of receivers the backend reported (Redis returns the number of
  /// clients that received the message), or -1 where the backend does not
  /// report one.
  int64_t receivers = -1;
};

/// Kinds of status messages a subscriber receives.
enum class status_kind : uint8_t {
  /// The backend connection broke; no events arrive until `backend_back`.
  backend_lost,
  /// The backend connection is back and the subscription active again.
  backend_back,
  /// The subscription ended without a call from the subscriber (overflow
  /// with `overflow_policy::disconnect`, supervisor shutdown).
  closed,
};

std::string to_string(status_kind x);

/// Status message about one subscription.
struct status_event {
  status_kind kind = status_kind::backend_lost;

  /// Channel or pattern of the subscription.
  std::string channel;

  /// True if events published meanwhile may not have been delivered. With
  /// `backend_back` it reports whether the gap was recovered.
  bool events_may_be_lost = false;

  /// Human-readable cause, such as the error that broke the connection.
  std::string reason;
};

/// Tells a subscriber with `overflow_policy::drop_oldest` that the channel
/// actor discarded events because the subscriber fell behind. It precedes
/// the first batch delivered after the gap.
struct events_skipped {
  std::string channel;
  uint64_t count = 0;
};

/// A page of stored events, newest first.
struct history_page {
  std::vector<event> events;

  /// True if older events exist before the last one of this page.
  bool more = false;
};

/// Counters of one channel actor.
struct channel_stats {
  std::string channel;
  bool pattern = false;
  uint64_t subscribers = 0;
  uint64_t received = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  /// Largest number of events held back for any subscriber right now.
  uint64_t max_queued = 0;
};

/// Counters of a supervisor, its channels and its backend.
struct broadcast_stats {
  /// URL of the backend, without its password.
  std::string backend;
  uint64_t subscriptions = 0;
  std::vector<channel_stats> channels;
  /// Counters reported by the backend, such as "published".
  std::map<std::string, uint64_t> backend_counters;
};

// -- inspection ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("broadcaster::event"), x.channel, x.message,
           x.id, x.pattern);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_batch& x) {
  return f(caf::meta::type_name("broadcaster::event_batch"), x.events);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscribe_options& x) {
  return f(caf::meta::type_name("broadcaster::subscribe_options"), x.pattern,
           x.history, x.max_in_flight, x.max_queued, x.overflow);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription& x) {
  return f(caf::meta::type_name("broadcaster::subscription"), x.id,
           x.channel, x.pattern);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_ack& x) {
  return f(caf::meta::type_name("broadcaster::publish_ack"), x.id,
           x.receivers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_event& x) {
  return f(caf::meta::type_name("broadcaster::status_event"), x.kind,
           x.channel, x.events_may_be_lost, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, events_skipped& x) {
  return f(caf::meta::type_name("broadcaster::events_skipped"), x.channel,
           x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_page& x) {
  return f(caf::meta::type_name("broadcaster::history_page"), x.events,
           x.more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_stats& x) {
  return f(caf::meta::type_name("broadcaster::channel_stats"), x.channel,
           x.pattern, x.subscribers, x.received, x.delivered, x.dropped,
           x.max_queued);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, broadcast_stats& x) {
  return f(caf::meta::type_name("broadcaster::broadcast_stats"), x.backend,
           x.subscriptions, x.channels, x.backend_counters);
}

} // namespace broadcaster
