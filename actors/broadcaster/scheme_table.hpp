#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "broadcaster/interfaces.hpp"
#include "broadcaster/url.hpp"

namespace broadcaster {

/// Creates the backend for a parsed URL. A factory checks every URL option
/// before it spawns anything and returns an error naming a bad option;
/// connection failures afterwards are the backend's to report as
/// `status_event`s and publish errors. The supervisor calls the factory
/// again to restart a backend that exited, so a factory must not keep state
/// that a second call would trip over.
using backend_factory
  = std::function<caf::expected<backend_actor>(caf::actor_system&, const url&)>;

/// Maps URL schemes to backend factories. This is the extension point for
/// user backends, the counterpart of `Broadcast(backend=...)` in Python's
/// broadcaster:
///
///   auto table = broadcaster::memory_schemes();
///   table.add("mine", [](caf::actor_system& sys, const broadcaster::url& u)
///                       -> caf::expected<broadcaster::backend_actor> {
///     return sys.spawn(my_backend, u);
///   });
///   auto bc = broadcaster::spawn_broadcast(sys, "mine://x", table);
class scheme_table {
public:
  /// Registers or replaces the factory for `scheme` (without "://").
  void add(std::string scheme, backend_factory factory);

  /// Returns the factory for `scheme`, or nullptr.
  const backend_factory* find(const std::string& scheme) const;

  /// Returns the registered schemes in alphabetical order.
  std::vector<std::string> schemes() const;

private:
  std::map<std::string, backend_factory> factories_;
};

/// Returns a table that contains only `memory://`.
scheme_table memory_schemes();

} // namespace broadcaster
