#include "broadcaster/url.hpp"

#include <cctype>
#include <charconv>

#include "broadcaster/error.hpp"

namespace broadcaster {

namespace {

caf::error invalid(std::string what) {
  return make_error(errc::invalid_url, std::move(what));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes %XX sequences. Returns false on a malformed sequence.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool valid_scheme(std::string_view scheme) {
  if (scheme.empty() || !std::isalpha(static_cast<unsigned char>(scheme[0]))) {
    return false;
  }
  for (char c : scheme) {
    auto uc = static_cast<unsigned char>(c);
    if (!std::isalnum(uc) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string join(const std::set<std::string, std::less<>>& keys) {
  std::string result;
  for (const auto& key : keys) {
    if (!result.empty()) {
      result += ", ";
    }
    result += key;
  }
  return result.empty() ? "none" : result;
}

} // namespace

caf::expected<url> parse_url(std::string_view text) {
  url result;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    return invalid("expected scheme://..., got a value without \"://\"");
  }
  auto scheme = text.substr(0, sep);
  if (!valid_scheme(scheme)) {
    return invalid("invalid scheme \"" + std::string{scheme}
                   + "\": expected a letter followed by letters, digits, "
                     "'+', '-' or '.'");
  }
  for (char c : scheme) {
    result.scheme += static_cast<char>(
      std::tolower(static_cast<unsigned char>(c)));
  }
  auto rest = text.substr(sep + 3);
  // Split off the query string, then the path.
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto f = rest.find('#'); f != std::string_view::npos) {
    return invalid("fragments ('#') are not supported in backend URLs");
  }
  // An '@' after the authority means a password with an unencoded '/',
  // '?' or '#'. Errors about the host or port must then not echo them,
  // since they would contain part of the password.
  bool may_hold_secret = text.find('@') != std::string_view::npos;
  auto quoted_or_hidden = [&](std::string_view part) {
    return may_hold_secret ? std::string{"(hidden, since the URL contains "
                                         "'@'; percent-encode '/', '?' and "
                                         "'#' in passwords)"}
                           : "\"" + std::string{part} + "\"";
  };
  std::string_view authority = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    if (!percent_decode(rest.substr(slash), result.path)) {
      return invalid("invalid percent-encoding in the path");
    }
  }
  // User information.
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), result.user)) {
      return invalid("invalid percent-encoding in the user name");
    }
    if (colon != std::string_view::npos) {
      result.has_password = true;
      if (!percent_decode(userinfo.substr(colon + 1), result.password)) {
        // The password is not echoed, even in part.
        return invalid("invalid percent-encoding in the password");
      }
    }
  }
  // Host and port; IPv6 literals come in brackets.
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid("unterminated '[' in host " + quoted_or_hidden(authority));
    }
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return invalid("unexpected characters after ']' in "
                       + quoted_or_hidden(authority));
      }
      port = after.substr(1);
      result.has_port = true;
    }
  } else if (auto colon = authority.rfind(':');
             colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    result.has_port = true;
    if (host.find(':') != std::string_view::npos) {
      return invalid("IPv6 addresses need brackets, as in [::1]:6379");
    }
  }
  for (char c : host) {
    auto uc = static_cast<unsigned char>(c);
    if (!std::isalnum(uc) && c != '.' && c != '-' && c != '_' && c != ':'
        && c != '%') {
      return invalid("invalid character in host " + quoted_or_hidden(host));
    }
  }
  result.host = std::string{host};
  if (result.has_port) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(),
                                     value);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size()
        || value == 0 || value > 65535) {
      return invalid("invalid port " + quoted_or_hidden(port)
                     + ": expected a number from 1 to 65535");
    }
    result.port = static_cast<uint16_t>(value);
  }
  // Query parameters.
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{}
                                          : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    auto eq = pair.find('=');
    std::string key;
    std::string value;
    if (!percent_decode(pair.substr(0, eq), key)
        || (eq != std::string_view::npos
            && !percent_decode(pair.substr(eq + 1), value))) {
      return invalid("invalid percent-encoding in query parameter \""
                     + std::string{pair.substr(0, eq)} + "\"");
    }
    if (key.empty()) {
      return invalid("query parameter without a name");
    }
    if (result.option(key) != nullptr) {
      return invalid("query parameter \"" + key + "\" appears twice");
    }
    result.query.emplace_back(std::move(key), std::move(value));
  }
  return result;
}

std::string redact_url(std::string_view text) {
  if (auto parsed = parse_url(text)) {
    return parsed->redacted();
  }
  auto sep = text.find("://");
  auto at = text.rfind('@');
  if (sep == std::string_view::npos || at == std::string_view::npos
      || at < sep) {
    return std::string{text};
  }
  return std::string{text.substr(0, sep + 3)} + "***"
         + std::string{text.substr(at)};
}

std::string url::redacted() const {
  std::string result = scheme + "://";
  if (!user.empty() || has_password) {
    result += user;
    if (has_password) {
      result += ":***";
    }
    result += '@';
  }
  if (host.find(':') != std::string::npos) {
    result += '[' + host + ']';
  } else {
    result += host;
  }
  if (has_port) {
    result += ':' + std::to_string(port);
  }
  result += path;
  for (size_t i = 0; i < query.size(); ++i) {
    result += i == 0 ? '?' : '&';
    result += query[i].first;
    result += '=';
    result += query[i].second;
  }
  return result;
}

const std::string* url::option(std::string_view key) const {
  for (const auto& entry : query) {
    if (entry.first == key) {
      return &entry.second;
    }
  }
  return nullptr;
}

url_options::url_options(const url& source, std::string backend)
  : source_(source), backend_(std::move(backend)) {
  // nop
}

const std::string* url_options::lookup(std::string_view key) {
  known_.emplace(key);
  return source_.option(key);
}

caf::error url_options::get(std::string_view key, uint64_t& out,
                            uint64_t min, uint64_t max) {
  auto value = lookup(key);
  if (value == nullptr) {
    return caf::none;
  }
  uint64_t parsed = 0;
  auto first = value->data();
  auto last = first + value->size();
  auto [ptr, ec] = std::from_chars(first, last, parsed);
  if (value->empty() || ec != std::errc{} || ptr != last || parsed < min
      || parsed > max) {
    return make_error(errc::invalid_option,
                      backend_ + " option " + std::string{key} + "=\""
                        + *value + "\" is invalid: expected a whole number "
                        "from " + std::to_string(min) + " to "
                        + std::to_string(max));
  }
  out = parsed;
  return caf::none;
}

caf::error url_options::get(std::string_view key,
                            std::chrono::milliseconds& out,
                            std::chrono::milliseconds min,
                            std::chrono::milliseconds max) {
  auto value = lookup(key);
  if (value == nullptr) {
    return caf::none;
  }
  auto fail = [&] {
    return make_error(errc::invalid_option,
                      backend_ + " option " + std::string{key} + "=\""
                        + *value + "\" is invalid: expected a duration "
                        "such as 250ms, 2s, 10min or 1h, from "
                        + std::to_string(min.count()) + "ms to "
                        + std::to_string(max.count()) + "ms");
  };
  uint64_t number = 0;
  auto first = value->data();
  auto last = first + value->size();
  auto [ptr, ec] = std::from_chars(first, last, number);
  if (value->empty() || ec != std::errc{}) {
    return fail();
  }
  std::string_view unit{ptr, static_cast<size_t>(last - ptr)};
  uint64_t factor = 1;
  if (unit == "s") {
    factor = 1000;
  } else if (unit == "min") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else if (!unit.empty() && unit != "ms") {
    return fail();
  }
  if (number > static_cast<uint64_t>(max.count()) / factor + 1) {
    return fail();
  }
  std::chrono::milliseconds parsed{static_cast<int64_t>(number * factor)};
  if (parsed < min || parsed > max) {
    return fail();
  }
  out = parsed;
  return caf::none;
}

caf::error url_options::get(std::string_view key, bool& out) {
  auto value = lookup(key);
  if (value == nullptr) {
    return caf::none;
  }
  if (*value == "true" || *value == "1" || *value == "yes") {
    out = true;
  } else if (*value == "false" || *value == "0" || *value == "no") {
    out = false;
  } else {
    return make_error(errc::invalid_option,
                      backend_ + " option " + std::string{key} + "=\""
                        + *value + "\" is invalid: expected true or false");
  }
  return caf::none;
}

caf::error url_options::get(std::string_view key, std::string& out) {
  if (auto value = lookup(key)) {
    out = *value;
  }
  return caf::none;
}

caf::error url_options::finish() const {
  for (const auto& entry : source_.query) {
    if (known_.count(entry.first) == 0) {
      return make_error(errc::unsupported_option,
                        backend_ + " does not support option \"" + entry.first
                          + "\"; supported options: " + join(known_));
    }
  }
  return caf::none;
}

} // namespace broadcaster
