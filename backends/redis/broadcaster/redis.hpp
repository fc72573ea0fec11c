#pragma once

// Redis PUB/SUB backend, wire-compatible with the `redis://` backend of
// Python's broadcaster library: a channel is a Redis channel and a message
// is the PUBLISH payload, byte for byte.
//
//   auto table = broadcaster::memory_schemes();
//   broadcaster::redis::add_to(table);
//   auto bc = broadcaster::spawn_broadcast(
//     sys, "redis://:secret@127.0.0.1:6379/0?publish_wait=2s", table);
//
// URL forms (docs/backends/redis.md lists every option):
//
//   redis://[[user]:password@]host[:port][/db][?options]
//   redis+unix://[[user]:password@]/path/to/redis.sock[?db=N&options]
//   unix://[[user]:password@]/path/to/redis.sock[?db=N&options]
//
// `rediss://` (TLS) is registered only to reject it with a clear error,
// because Debian's hiredis 0.14 has no TLS support.

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "broadcaster/interfaces.hpp"
#include "broadcaster/scheme_table.hpp"
#include "broadcaster/url.hpp"

namespace broadcaster::redis {

/// Registers `redis://`, `redis+unix://`, `unix://` and the rejecting
/// `rediss://` factory in `table`.
void add_to(scheme_table& table);

/// Checks the URL and its options, then spawns a backend actor that keeps
/// one subscribe connection and one publish connection to the server. The
/// actor connects in the background: a wrong password or an unreachable
/// server shows up as the error of the first publish or subscribe
/// (`errc::authentication_failed`, `errc::backend_unavailable`), not here.
///
/// Returns `errc::invalid_url`, `errc::invalid_option`,
/// `errc::unsupported_option` or `errc::unsupported` (for `rediss://`)
/// without spawning anything when the URL is wrong. It does not block:
/// connecting happens on the backend's own thread.
caf::expected<backend_actor> spawn_backend(caf::actor_system& sys,
                                           const url& source);

} // namespace broadcaster::redis
