#include "broadcaster/error.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace broadcaster {

const char* to_string(errc code) {
  switch (code) {
    case errc::invalid_url:
      return "invalid_url";
    case errc::unknown_scheme:
      return "unknown_scheme";
    case errc::unsupported_option:
      return "unsupported_option";
    case errc::invalid_option:
      return "invalid_option";
    case errc::unsupported:
      return "unsupported";
    case errc::invalid_channel:
      return "invalid_channel";
    case errc::payload_too_large:
      return "payload_too_large";
    case errc::backend_unavailable:
      return "backend_unavailable";
    case errc::backend_error:
      return "backend_error";
    case errc::authentication_failed:
      return "authentication_failed";
    case errc::timeout:
      return "timeout";
    case errc::subscription_not_found:
      return "subscription_not_found";
    case errc::invalid_id:
      return "invalid_id";
    case errc::shutting_down:
      return "shutting_down";
  }
  return "unknown_error";
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(message))};
}

caf::error make_error(errc code) {
  return make_error(code, to_string(code));
}

bool is(const caf::error& err, errc code) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(code);
}

std::string describe(const caf::error& err) {
  if (!err) {
    return "no error";
  }
  if (err.category() == error_category) {
    std::string result = to_string(static_cast<errc>(err.code()));
    if (err.context().match_elements<std::string>()) {
      result += ": ";
      result += err.context().get_as<std::string>(0);
    }
    return result;
  }
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    std::string result = caf::to_string(code);
    if (!err.context().empty()) {
      result += ": ";
      result += caf::to_string(err.context());
    } else if (code == caf::sec::request_timeout) {
      // CAF's own text is only the code, which names neither cause nor fix.
      result += ": no reply before the request's deadline. The backend may "
                "still be connecting or waiting up to its publish_wait; "
                "allow a longer timeout or lower the backend's "
                "connect_timeout and publish_wait";
    }
    return result;
  }
  return caf::to_string(err);
}

} // namespace broadcaster
