#pragma once

// The chat page's files, compiled into the program from page/.

#include <string_view>
#include <vector>

namespace broadcaster::chat {

/// One file of the page, addressed by its URL path such as "/chat.js".
struct embedded_file {
  std::string_view path;
  std::string_view body;
};

/// Returns every embedded file. Defined in the generated chat_assets.cpp.
const std::vector<embedded_file>& embedded_assets();

/// A file ready to serve over HTTP.
struct asset {
  std::string_view body;
  std::string_view content_type;
};

/// Looks up the file for a request path without query string. "/" returns
/// the page itself. Returns nothing for unknown paths.
const asset* find_asset(std::string_view path);

} // namespace broadcaster::chat
