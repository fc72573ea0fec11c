#include "settings.hpp"

#include <charconv>

#include "broadcaster/error.hpp"

namespace broadcaster::redis::detail {

namespace {

using std::chrono::milliseconds;

constexpr uint64_t max_db = 2147483647;

caf::error invalid_url(const url& source, std::string message) {
  return make_error(errc::invalid_url,
                    std::move(message) + " in " + source.redacted());
}

// Reads the database number from the path of a redis:// URL ("" or "/" for
// none, "/N" otherwise).
caf::error read_path_db(const url& source, bool& has_db, uint64_t& db) {
  if (source.path.empty() || source.path == "/") {
    return caf::none;
  }
  auto text = std::string_view{source.path}.substr(1);
  auto first = text.data();
  auto last = first + text.size();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr != last || value > max_db) {
    return invalid_url(source,
                       "invalid database \"" + std::string{text}
                         + "\" in the path: expected /N with N a whole "
                           "number from 0 to "
                         + std::to_string(max_db)
                         + ", as in redis://localhost:6379/0");
  }
  has_db = true;
  db = value;
  return caf::none;
}

caf::error read_location(const url& source, settings& result, bool& has_db) {
  if (result.unix_socket) {
    if (!source.host.empty() || source.has_port) {
      return invalid_url(source,
                         "a " + source.scheme
                           + ":// URL takes a socket path, not a host or "
                             "port; write "
                           + source.scheme
                           + ":///path/to/redis.sock with three slashes");
    }
    if (source.path.empty() || source.path == "/") {
      return invalid_url(source,
                         "missing socket path; write " + source.scheme
                           + ":///path/to/redis.sock?db=0");
    }
    result.socket_path = source.path;
    result.server = "unix:" + result.socket_path;
    return caf::none;
  }
  if (!source.host.empty()) {
    result.host = source.host;
  }
  if (source.has_port) {
    result.port = source.port;
  }
  if (result.host.find(':') != std::string::npos) {
    result.server = "[" + result.host + "]:" + std::to_string(result.port);
  } else {
    result.server = result.host + ":" + std::to_string(result.port);
  }
  return read_path_db(source, has_db, result.db);
}

caf::error read_credentials(const url& source, settings& result) {
  if (!source.user.empty() && !source.has_password) {
    return invalid_url(source,
                       "user \"" + source.user
                         + "\" has no password; Redis authenticates a user "
                           "with AUTH user password, so write "
                         + source.scheme + "://" + source.user
                         + ":PASSWORD@..., or " + source.scheme
                         + "://:PASSWORD@... for the default user");
  }
  if (source.has_password && source.password.empty()) {
    return invalid_url(source,
                       "empty password; leave out the user information "
                       "to connect without AUTH");
  }
  result.user = source.user;
  result.password = source.password;
  result.has_password = source.has_password;
  return caf::none;
}

caf::error read_options(const url& source, settings& result, bool has_db) {
  url_options opts{source, source.scheme + "://"};
  auto minute = milliseconds{60'000};
  if (source.option("db") != nullptr && has_db) {
    return invalid_url(source,
                       "the database is given twice, in the path and as "
                       "option db; keep one of them");
  }
  if (auto err = opts.get("db", result.db, 0, max_db)) {
    return err;
  }

  if (auto err = opts.get("connect_timeout", result.connect_timeout,
                          milliseconds{1}, 10 * minute)) {
    return err;
  }
  if (auto err = opts.get("command_timeout", result.command_timeout,
                          milliseconds{1}, 10 * minute)) {
    return err;
  }
  if (auto err = opts.get("health_check_interval",
                          result.health_check_interval, milliseconds{0},
                          10 * minute)) {
    return err;
  }

  if (auto err = opts.get("reconnect_min", result.reconnect_min,
                          milliseconds{1}, 10 * minute)) {
    return err;
  }
  if (auto err = opts.get("reconnect_max", result.reconnect_max,
                          milliseconds{1}, 60 * minute)) {
    return err;
  }

  if (auto err = opts.get("publish_wait", result.publish_wait,
                          milliseconds{0}, 10 * minute)) {
    return err;
  }
  if (auto err = opts.get("max_message_size", result.max_message_size, 1,
                          512ull * 1024 * 1024)) {
    return err;
  }
  if (auto err = opts.finish()) {
    return err;
  }

  if (result.reconnect_min > result.reconnect_max) {
    return make_error(errc::invalid_option,
                      source.scheme + ":// option reconnect_min = "
                        + std::to_string(result.reconnect_min.count())
                        + "ms is larger than reconnect_max = "
                        + std::to_string(result.reconnect_max.count())
                        + "ms; reconnect_min must not exceed reconnect_max");
  }
  return caf::none;
}

} // namespace

caf::expected<settings> read_settings(const url& source) {
  settings result;
  if (source.scheme == "redis+unix" || source.scheme == "unix") {
    result.unix_socket = true;
  } else if (source.scheme != "redis") {
    return make_error(errc::unknown_scheme,
                      "the Redis backend does not handle scheme \""
                        + source.scheme + "://\"");
  }
  bool has_db = false;
  if (auto err = read_location(source, result, has_db)) {
    return err;
  }
  if (auto err = read_credentials(source, result)) {
    return err;
  }
  if (auto err = read_options(source, result, has_db)) {
    return err;
  }
  result.description = source.redacted();
  return result;
}

} // namespace broadcaster::redis::detail
