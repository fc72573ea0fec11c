#pragma once

// Typed actor interfaces of the broadcaster library.
//
// broadcast_actor is the handle applications hold: the supervisor of one
// backend URL. backend_actor is what a backend implements, whether built in
// or registered by user code through a scheme_table. sink_actor is the part
// of a channel actor that a backend talks to.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "broadcaster/atoms.hpp"
#include "broadcaster/types.hpp"

namespace broadcaster {

/// Receiving side of a channel actor, as seen by a backend.
///
/// - `(bc_events_atom, events)`: live events for this channel or pattern,
///   oldest first.
/// - `(bc_replay_atom, token, events)`: stored events for the one subscriber
///   that asked for history with `token`, oldest first. A backend sends it
///   in order with the live events, so every live event sent before it is
///   part of the stored events or older, and every one sent after it is
///   newer. This is how a subscriber gets no gap and no duplicate between
///   history and live events.
/// - `status_event`: the backend lost or regained its connection.
using sink_actor = caf::typed_actor<
  caf::reacts_to<bc_events_atom, std::vector<event>>,
  caf::reacts_to<bc_replay_atom, uint64_t, std::vector<event>>,
  caf::reacts_to<status_event>>;

/// Interface every backend implements.
///
/// - `(bc_publish_atom, channel, message)`: replies once the server accepted
///   the message.
/// - `(bc_subscribe_atom, key, pattern, sink, history, token)`: starts
///   sending events of the channel (or, if `pattern`, of every channel that
///   matches the glob `key`) to `sink`, and replies once that is in effect.
///   Subscribing a sink that is already subscribed is not an error. If
///   `history` is non-zero, the backend also sends the last `history` stored
///   events as `(bc_replay_atom, token, events)`, or replies
///   `errc::unsupported` if it stores none.
/// - `(bc_unsubscribe_atom, key, pattern, sink)`: stops sending to `sink`.
///   Ignored if `sink` is not subscribed to `key`.
/// - `(bc_history_atom, channel, before_id, limit)`: replies with up to
///   `limit` stored events older than `before_id` (all if empty), newest
///   first.
/// - `(bc_stats_atom)`: replies with named counters, at least "published".
///
/// A backend that loses its server connection but keeps running sends a
/// `status_event` to every sink, and another one once it has subscribed
/// them again. A backend actor that exits is restarted by the supervisor.
using backend_actor = caf::typed_actor<
  caf::replies_to<bc_publish_atom, std::string, std::string>::with<
    publish_ack>,
  caf::replies_to<bc_subscribe_atom, std::string, bool, sink_actor, uint64_t,
                  uint64_t>::with<bc_ok_atom>,
  caf::reacts_to<bc_unsubscribe_atom, std::string, bool, sink_actor>,
  caf::replies_to<bc_history_atom, std::string, std::string,
                  uint64_t>::with<history_page>,
  caf::replies_to<bc_stats_atom>::with<std::map<std::string, uint64_t>>>;

/// Interface of the supervisor, the handle applications hold.
///
/// - `(bc_publish_atom, channel, message)` -> `publish_ack` once the backend
///   accepted the message, or an error such as `errc::invalid_channel`,
///   `errc::payload_too_large` or `errc::backend_unavailable`.
/// - `(bc_subscribe_atom, channel, subscriber, options)` -> `subscription`
///   once the subscription is active: a publish sent after this reply
///   reaches the subscriber. The subscriber receives `event_batch`,
///   `events_skipped` and `status_event` messages; it is unsubscribed
///   automatically when it exits.
/// - `(bc_unsubscribe_atom, id)` -> `bc_ok_atom`, or
///   `errc::subscription_not_found`.
/// - `(bc_history_atom, channel, before_id, limit)` -> `history_page`.
/// - `(bc_stats_atom)` -> `broadcast_stats`.
using broadcast_actor = caf::typed_actor<
  caf::replies_to<bc_publish_atom, std::string, std::string>::with<
    publish_ack>,
  caf::replies_to<bc_subscribe_atom, std::string, caf::actor,
                  subscribe_options>::with<subscription>,
  caf::replies_to<bc_unsubscribe_atom, uint64_t>::with<bc_ok_atom>,
  caf::replies_to<bc_history_atom, std::string, std::string,
                  uint64_t>::with<history_page>,
  caf::replies_to<bc_stats_atom>::with<broadcast_stats>>;

} // namespace broadcaster
