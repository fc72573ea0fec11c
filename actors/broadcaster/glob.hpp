#pragma once

#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace broadcaster {

/// Checks a glob pattern: `*` matches any run of bytes, `?` one byte,
/// `[abc]` one of a set, `[^abc]` one outside a set, `[a-z]` a range, and
/// `\` makes the next byte literal, as in Redis PSUBSCRIBE. Returns an
/// `errc::invalid_channel` error for an empty pattern, an unterminated `[`
/// or a trailing `\`.
caf::error validate_glob(std::string_view pattern);

/// Returns true if `text` matches the glob `pattern`. The pattern should
/// have passed `validate_glob`; malformed parts then match literally.
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace broadcaster
