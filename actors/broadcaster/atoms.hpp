#pragma once

#include <caf/atom.hpp>

// Atoms of the broadcaster protocol. CAF 0.17 atoms hold at most 10
// characters and CAF defines atoms such as `publish_atom` itself, so every
// atom here carries a `bc_` prefix and stays unambiguous when both
// namespaces are open.
namespace broadcaster {

/// Publishes a message on a channel.
using bc_publish_atom = caf::atom_constant<caf::atom("bcpublish")>;

/// Subscribes an actor to a channel or pattern.
using bc_subscribe_atom = caf::atom_constant<caf::atom("bcsub")>;

/// Ends a subscription.
using bc_unsubscribe_atom = caf::atom_constant<caf::atom("bcunsub")>;

/// Requests a page of stored events.
using bc_history_atom = caf::atom_constant<caf::atom("bchistory")>;

/// Requests counters.
using bc_stats_atom = caf::atom_constant<caf::atom("bcstats")>;

/// Tells a channel actor that the subscriber processed a number of events.
using bc_ack_atom = caf::atom_constant<caf::atom("bcack")>;

/// Carries live events from a backend to a channel actor.
using bc_events_atom = caf::atom_constant<caf::atom("bcevents")>;

/// Carries stored events, replayed for one subscriber, from a backend to a
/// channel actor.
using bc_replay_atom = caf::atom_constant<caf::atom("bcreplay")>;

/// Confirms a request that returns nothing else.
using bc_ok_atom = caf::atom_constant<caf::atom("bcok")>;

/// Internal: adds a subscriber to a channel actor.
using bc_attach_atom = caf::atom_constant<caf::atom("bcattach")>;

/// Internal: removes a subscription from a channel actor.
using bc_detach_atom = caf::atom_constant<caf::atom("bcdetach")>;

/// Internal: reports to the supervisor that a subscription has ended.
using bc_ended_atom = caf::atom_constant<caf::atom("bcended")>;

/// Internal: makes a channel actor unsubscribe and exit.
using bc_retire_atom = caf::atom_constant<caf::atom("bcretire")>;

/// Internal: hands a channel actor a new backend handle, or none.
using bc_backend_atom = caf::atom_constant<caf::atom("bcbackend")>;

/// Internal: flushes events that an actor batched up.
using bc_flush_atom = caf::atom_constant<caf::atom("bcflush")>;

} // namespace broadcaster
