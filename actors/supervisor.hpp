#pragma once

// Internal: spawning the supervisor.

#include <caf/actor_system.hpp>

#include "broadcaster/broadcast.hpp"
#include "channel.hpp"

namespace broadcaster::detail {

/// Spawns a supervisor whose first backend is `first`, created by `factory`
/// from `source`; `factory` creates its replacements.
broadcast_actor spawn_supervisor(caf::actor_system& sys,
                                 backend_factory factory, url source,
                                 std::string description,
                                 backend_actor first,
                                 broadcast_options options);

} // namespace broadcaster::detail
