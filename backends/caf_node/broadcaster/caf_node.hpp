#pragma once

// The caf:// backend: a broadcast supervisor whose backend is the
// supervisor of another CAF node, such as a `broadcaster serve` process,
// reached through CAF's middleman.
//
//   struct config : caf::actor_system_config {
//     config() {
//       broadcaster::register_types(*this);
//       load<caf::io::middleman>();
//     }
//   };
//
//   auto table = broadcaster::memory_schemes();
//   broadcaster::register_caf_node_backend(table);
//   auto bc = broadcaster::spawn_broadcast(sys, "caf://127.0.0.1:4242",
//                                          table);
//
// Local subscribers of one channel or pattern share one subscription at the
// remote node, so each event crosses the network once per subscribing node.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "broadcaster/interfaces.hpp"
#include "broadcaster/scheme_table.hpp"
#include "broadcaster/url.hpp"

namespace broadcaster {

/// Spawns the backend for a `caf://host:port` URL. The actor system must
/// have the middleman loaded and the broadcaster types registered. The
/// backend connects in the background; requests sent before the first
/// connection attempt has finished wait for it.
///
/// URL options (query parameters):
/// - `connect_timeout`: limit for one connection attempt, default 5s.
/// - `request_timeout`: limit for a publish, history or subscribe request
///   at the remote node, default 10s.
/// - `reconnect_min`: first delay before reconnecting after the node was
///   lost or could not be reached, default 100ms. Each further attempt
///   doubles it and adds random jitter of up to 25 percent.
/// - `reconnect_max`: longest delay between two attempts, default 5s.
///
/// Errors: `errc::invalid_url` for a URL without host or port, or with a
/// user, password or path; `errc::unsupported_option` and
/// `errc::invalid_option` for bad options; `errc::unsupported` if the
/// middleman is not loaded.
caf::expected<backend_actor> spawn_caf_node_backend(caf::actor_system& sys,
                                                    const url& source);

/// Adds the `caf` scheme to `table`.
void register_caf_node_backend(scheme_table& table);

/// Connects to the broadcast supervisor that a node published at
/// `host:port` and checks that it offers this program's `broadcast_actor`
/// interface. Blocks the calling thread for up to `timeout`; never call it
/// from inside an actor. Errors name the node: `errc::backend_unavailable`
/// when it cannot be reached, `errc::timeout`, and `errc::backend_error`
/// when nothing or an actor of another type is published there.
caf::expected<broadcast_actor>
connect_node(caf::actor_system& sys, const std::string& host, uint16_t port,
             std::chrono::milliseconds timeout
             = std::chrono::milliseconds{5000});

/// Converts an error from connecting to `host:port` (for example from
/// `middleman().remote_actor<broadcast_actor>()`) into an error of this
/// library with a message that names the node and the likely cause, such as
/// an incompatible broadcaster version for
/// `sec::unexpected_actor_messaging_interface`.
caf::error explain_connect_error(const caf::error& err,
                                 const std::string& host, uint16_t port);

} // namespace broadcaster
