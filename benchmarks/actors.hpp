#pragma once

// Actors of the product cases: subscribers that count or time events, and
// a publisher that keeps a bounded number of publish requests outstanding.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include "bench.hpp"
#include "broadcaster/broadcast.hpp"

namespace bench {

/// Asks a subscriber actor to subscribe, or a publisher to start.
using go_atom = caf::atom_constant<caf::atom("bbgo")>;

/// Wakes a publisher that waited for subscribers to catch up.
using tick_atom = caf::atom_constant<caf::atom("bbtick")>;

/// Subscribers add to the shared delivery counter once they have at least
/// this many events to add, so that 1000 of them do not contend on one
/// cache line.
constexpr uint64_t report_every = 64;

/// Send times and latencies, in nanoseconds, recorded by one subscriber.
struct latency_log {
  std::vector<std::pair<int64_t, int64_t>> samples;
};

/// What a subscriber actor does with the events it receives.
enum class subscriber_kind {
  /// Counts events and acknowledges every batch, as
  /// broadcaster::event_handler() does.
  counting,
  /// Receives batches but never acknowledges them, as a subscriber stuck
  /// in a long computation looks to the channel actor.
  stalled,
  /// Records each event's latency from the send time stamped in its
  /// payload.
  timing,
};

/// Spawns a subscriber that subscribes to `channel` at `bc` when it
/// receives `go_atom`, counting replies in `c->subscribed` or `c->failed`.
caf::actor spawn_subscriber(caf::actor_system& sys,
                            broadcaster::broadcast_actor bc,
                            std::string channel, subscriber_kind kind,
                            std::shared_ptr<counters> c,
                            std::shared_ptr<latency_log> log = nullptr);

/// Settings of a publisher actor.
struct publisher_settings {
  broadcaster::broadcast_actor bc;
  std::vector<std::string> channels; // published to in turn
  std::string payload;
  size_t window = 256;
  /// Deliveries that one publish causes (active subscribers per channel).
  uint64_t deliveries_per_publish = 1;
  /// Deliveries the publisher may run ahead of `c->delivered`.
  uint64_t max_lag = 4096;
  std::shared_ptr<counters> c;
};

/// Spawns a publisher that starts on `go_atom` and publishes until it
/// receives an exit message.
caf::actor spawn_publisher(caf::actor_system& sys, publisher_settings s);

} // namespace bench
