#pragma once

// Internal: the channel actor, one per channel or pattern with local
// subscribers, and the supervisor's internal interface.

#include <cstdint>
#include <string>

#include <caf/typed_actor.hpp>

#include "broadcaster/interfaces.hpp"

namespace broadcaster::detail {

/// The supervisor as seen by its channel actors.
using supervisor_actor = broadcast_actor::extend<
  caf::reacts_to<bc_ended_atom, uint64_t>,
  caf::reacts_to<bc_backend_atom>>;

/// A channel actor. Besides the sink interface that backends use, it takes:
/// - `(bc_attach_atom, id, subscriber, options)` from the supervisor,
///   replying once the subscriber receives events;
/// - `(bc_detach_atom, id)` from the supervisor;
/// - `(bc_ack_atom, count)` from a subscriber that processed events;
/// - `(bc_retire_atom)`: unsubscribe from the backend and exit;
/// - `(bc_backend_atom, backend)`: subscribe again at a restarted backend;
/// - `(bc_backend_atom, reason)`: the backend actor is gone;
/// - `(bc_backend_atom, generation)`: retry a failed resubscribe, sent by
///   the channel actor to itself and ignored once a newer backend arrived;
/// - `(bc_stats_atom)`: counters.
using channel_actor = sink_actor::extend<
  caf::replies_to<bc_attach_atom, uint64_t, caf::actor,
                  subscribe_options>::with<subscription>,
  caf::replies_to<bc_detach_atom, uint64_t>::with<bc_ok_atom>,
  caf::reacts_to<bc_ack_atom, uint64_t>,
  caf::reacts_to<bc_retire_atom>,
  caf::reacts_to<bc_backend_atom, backend_actor>,
  caf::reacts_to<bc_backend_atom, std::string>,
  caf::reacts_to<bc_backend_atom, uint64_t>,
  caf::replies_to<bc_stats_atom>::with<channel_stats>,
  caf::reacts_to<bc_flush_atom>>;

/// Spawns a channel actor linked to `supervisor`.
channel_actor spawn_channel(caf::actor_system& sys,
                            const supervisor_actor& supervisor,
                            std::string key, bool pattern,
                            backend_actor backend);

/// Largest number of events a channel actor or the memory backend puts into
/// one message.
constexpr size_t max_batch_size = 512;

} // namespace broadcaster::detail
