#pragma once

// Backend URLs: `scheme://[user[:password]@]host[:port][/path][?key=value&...]`.
//
//   auto u = broadcaster::parse_url("redis://:secret@127.0.0.1:6379/0");
//   if (!u) { ... describe(u.error()) ... }
//   u->redacted();  // "redis://:***@127.0.0.1:6379/0"

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace broadcaster {

/// A parsed backend URL. User name, password, path and query values are
/// percent-decoded.
struct url {
  std::string scheme;
  std::string user;
  std::string password;
  bool has_password = false;
  /// Host name or address; IPv6 addresses without their brackets.
  std::string host;
  uint16_t port = 0;
  bool has_port = false;
  /// Path after the authority, starting with '/' if present.
  std::string path;
  /// Query parameters in their order of appearance; keys are unique.
  std::vector<std::pair<std::string, std::string>> query;

  /// Returns the URL with the password replaced by `***`, for logs and
  /// error messages.
  std::string redacted() const;

  /// Returns the value of a query parameter, or nullptr.
  const std::string* option(std::string_view key) const;
};

/// Parses a URL. Errors have code `errc::invalid_url` and name the part
/// that is wrong; the password never appears in them.
caf::expected<url> parse_url(std::string_view text);

/// Returns `text` fit for logs and error messages: the parsed URL with its
/// password replaced by `***`, or, if `text` does not parse, `text` with
/// everything between "://" and the last '@' replaced by `***`.
std::string redact_url(std::string_view text);

/// Reads a backend's query parameters with range checks. Each getter marks
/// its key as known, and `finish()` rejects every parameter that no getter
/// read, naming it and listing the supported ones:
///
///   url_options opts{u, "memory"};
///   uint64_t retention = 1000;
///   if (auto err = opts.get("retention", retention, 0, 1'000'000)) ...
///   if (auto err = opts.finish()) ...
class url_options {
public:
  url_options(const url& source, std::string backend);

  /// Reads an unsigned integer in [min, max]; leaves `out` unchanged when
  /// the parameter is absent.
  caf::error get(std::string_view key, uint64_t& out, uint64_t min,
                 uint64_t max);

  /// Reads a duration written as a number with unit `ms` or `s`
  /// (`250ms`, `2s`), or a plain number of milliseconds, in [min, max].
  caf::error get(std::string_view key, std::chrono::milliseconds& out,
                 std::chrono::milliseconds min,
                 std::chrono::milliseconds max);

  /// Reads `true`, `false`, `1`, `0`, `yes` or `no`.
  caf::error get(std::string_view key, bool& out);

  /// Reads any string.
  caf::error get(std::string_view key, std::string& out);

  /// Rejects query parameters that no getter asked for.
  caf::error finish() const;

private:
  const std::string* lookup(std::string_view key);

  const url& source_;
  std::string backend_;
  std::set<std::string, std::less<>> known_;
};

} // namespace broadcaster
