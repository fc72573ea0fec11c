#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace broadcaster {

/// Error codes of the broadcaster library. They travel inside `caf::error`
/// with the category `error_category` and a message that states what failed
/// and on which value, so callers decide between retrying and giving up from
/// the code alone.
enum class errc : uint8_t {
  /// The URL is not of the form `scheme://...` or has an invalid part.
  invalid_url = 1,
  /// No backend is registered for the URL's scheme.
  unknown_scheme,
  /// The backend does not know a URL option.
  unsupported_option,
  /// A URL option or subscribe option has a value out of range.
  invalid_option,
  /// The backend cannot do what was requested (history on PUB/SUB ...).
  unsupported,
  /// The channel name or pattern is empty, too long or malformed.
  invalid_channel,
  /// The message is larger than the backend accepts.
  payload_too_large,
  /// The backend is not connected right now; retrying later may succeed.
  backend_unavailable,
  /// The backend server rejected a command or returned an error.
  backend_error,
  /// The backend server rejected the credentials.
  authentication_failed,
  /// An operation did not finish within its time limit.
  timeout,
  /// No subscription with the given id exists.
  subscription_not_found,
  /// A history request named an id the backend cannot parse.
  invalid_id,
  /// The supervisor is shutting down.
  shutting_down,
};

/// Category atom of every `errc` error.
constexpr caf::atom_value error_category = caf::atom("broadcast");

/// Returns the name of an error code, such as "invalid_url".
const char* to_string(errc code);

/// Creates an error with a code and a message for humans.
caf::error make_error(errc code, std::string message);

/// Creates an error with a code and the code's name as message.
caf::error make_error(errc code);

/// Returns true if `err` belongs to `error_category` and has code `code`.
bool is(const caf::error& err, errc code);

/// Returns the human-readable message of an error of this library, or CAF's
/// rendering of any other error, without the need for an actor system.
std::string describe(const caf::error& err);

} // namespace broadcaster
