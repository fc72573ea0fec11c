#pragma once

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "broadcaster/interfaces.hpp"
#include "broadcaster/url.hpp"

namespace broadcaster {

/// Spawns the in-process backend for a `memory://` URL. Every supervisor
/// spawned from `memory://` has a backend of its own: two supervisors in one
/// process do not share channels.
///
/// URL options (query parameters):
/// - `retention`: events kept per channel for history, 0 to 10,000,000,
///   default 1000. The oldest event goes when a channel exceeds it.
/// - `max_message_size`: largest message in bytes, default 16777216
///   (16 MiB); a larger publish fails with `errc::payload_too_large`.
/// - `max_channels`: channels that keep history, default 100,000; when a
///   publish on a new channel exceeds it, the channel published to least
///   recently loses its stored events.
///
/// Event ids are decimal sequence numbers, increasing across all channels
/// of one backend.
caf::expected<backend_actor> spawn_memory_backend(caf::actor_system& sys,
                                                  const url& source);

} // namespace broadcaster
