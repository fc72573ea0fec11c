#pragma once

// Logging for the library and its backends: one spdlog logger per
// component, named "broadcaster.<component>", writing to standard error.
// The level comes from the environment variable BROADCASTER_LOG_LEVEL
// (trace, debug, info, warn, error, critical, off; default info).
//
// Messages are lowercase with `key = value` fields. Levels: error for lost
// data or a dead component, warn for degraded or retried operations, info
// for connect, subscribe, reconnect and shutdown, debug for decisions.
// Never pass a password or a full connection string; use url::redacted().

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace broadcaster {

/// Returns the logger of `component`, creating it on first use. Safe to call
/// from any thread.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

} // namespace broadcaster
