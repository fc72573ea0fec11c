#include "broadcaster/types.hpp"

namespace broadcaster {

std::string to_string(overflow_policy x) {
  switch (x) {
    case overflow_policy::drop_oldest:
      return "drop_oldest";
    case overflow_policy::disconnect:
      return "disconnect";
  }
  return "unknown";
}

std::string to_string(status_kind x) {
  switch (x) {
    case status_kind::backend_lost:
      return "backend_lost";
    case status_kind::backend_back:
      return "backend_back";
    case status_kind::closed:
      return "closed";
  }
  return "unknown";
}

} // namespace broadcaster
