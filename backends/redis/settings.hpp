#pragma once

// Internal: connection settings of the Redis backend, read from its URL.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "broadcaster/url.hpp"

namespace broadcaster::redis::detail {

/// Everything the backend needs to know from its URL.
struct settings {
  /// True for `redis+unix://` and `unix://`: connect to `socket_path`.
  bool unix_socket = false;
  std::string host = "localhost";
  uint16_t port = 6379;
  std::string socket_path;

  /// User name for `AUTH user password` (Redis 6 ACL); empty for the classic
  /// `AUTH password`.
  std::string user;
  std::string password;
  bool has_password = false;

  /// Database selected with SELECT after connecting. PUB/SUB channels are
  /// global to the server, so the number only matters for the check that
  /// the database exists.
  uint64_t db = 0;

  /// Time limit for the TCP or Unix socket connect plus AUTH and SELECT.
  std::chrono::milliseconds connect_timeout{5000};

  /// Time limit for the reply to any command. A connection that exceeds it
  /// is treated as broken and reconnected.
  std::chrono::milliseconds command_timeout{5000};

  /// A connection that received nothing for this long sends PING; zero
  /// disables the check.
  std::chrono::milliseconds health_check_interval{5000};

  /// Bounds of the exponential backoff between reconnect attempts.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};

  /// How long a publish or subscribe waits for a lost connection to come
  /// back before it fails; zero fails at once.
  std::chrono::milliseconds publish_wait{0};

  /// Largest message in bytes that publish sends to Redis.
  uint64_t max_message_size = 16 * 1024 * 1024;

  /// The server for logs and error messages, without credentials:
  /// "127.0.0.1:6379" or "unix:/run/redis.sock".
  std::string server;

  /// The URL without its password.
  std::string description;
};

/// Reads the settings from a `redis://`, `redis+unix://` or `unix://` URL.
/// Errors name the wrong part and never contain the password.
caf::expected<settings> read_settings(const url& source);

} // namespace broadcaster::redis::detail
