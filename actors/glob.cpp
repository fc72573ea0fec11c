#include "broadcaster/glob.hpp"

#include "broadcaster/error.hpp"

namespace broadcaster {

caf::error validate_glob(std::string_view pattern) {
  if (pattern.empty()) {
    return make_error(errc::invalid_channel, "pattern is empty");
  }
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 == pattern.size()) {
        return make_error(errc::invalid_channel,
                          "pattern ends with a lone backslash: "
                            + std::string{pattern});
      }
      ++i;
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') {
        ++j;
      }
      // A ']' right after '[' or '[^' is a member of the set.
      if (j < pattern.size() && pattern[j] == ']') {
        ++j;
      }
      while (j < pattern.size() && pattern[j] != ']') {
        if (pattern[j] == '\\') {
          ++j;
        }
        ++j;
      }
      if (j >= pattern.size()) {
        return make_error(errc::invalid_channel,
                          "pattern has an unterminated '[' at offset "
                            + std::to_string(i) + ": "
                            + std::string{pattern});
      }
      i = j;
    }
  }
  return caf::none;
}

namespace {

// Matches one bracket expression starting after '[' at pattern[p]. Sets p
// to the index after the closing ']' and returns whether `c` is in the set.
bool match_set(std::string_view pattern, size_t& p, char c) {
  bool negate = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool found = false;
  bool first = true;
  while (p < pattern.size() && (pattern[p] != ']' || first)) {
    first = false;
    char lo = pattern[p];
    if (lo == '\\' && p + 1 < pattern.size()) {
      lo = pattern[++p];
    }
    if (p + 2 < pattern.size() && pattern[p + 1] == '-'
        && pattern[p + 2] != ']') {
      char hi = pattern[p + 2];
      p += 3;
      if (hi == '\\' && p < pattern.size()) {
        hi = pattern[p++];
      }
      auto uc = static_cast<unsigned char>(c);
      auto ulo = static_cast<unsigned char>(lo);
      auto uhi = static_cast<unsigned char>(hi);
      if (ulo > uhi) {
        std::swap(ulo, uhi);
      }
      if (uc >= ulo && uc <= uhi) {
        found = true;
      }
    } else {
      if (lo == c) {
        found = true;
      }
      ++p;
    }
  }
  if (p < pattern.size()) {
    ++p; // skip ']'
  }
  return found != negate;
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point for the most recent '*',
  // which keeps the cost at O(pattern * text) in the worst case.
  size_t p = 0;
  size_t t = 0;
  size_t star_p = std::string_view::npos;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      char c = pattern[p];
      if (c == '*') {
        star_p = ++p;
        star_t = t;
        continue;
      }
      if (c == '?') {
        ++p;
        ++t;
        continue;
      }
      if (c == '[') {
        size_t q = p + 1;
        if (match_set(pattern, q, text[t])) {
          p = q;
          ++t;
          continue;
        }
      } else {
        if (c == '\\' && p + 1 < pattern.size()) {
          c = pattern[p + 1];
          if (c == text[t]) {
            p += 2;
            ++t;
            continue;
          }
        } else if (c == text[t]) {
          ++p;
          ++t;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) {
      return false;
    }
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

} // namespace broadcaster
