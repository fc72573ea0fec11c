#include "assets.hpp"

#include <map>
#include <string>

namespace broadcaster::chat {

namespace {

std::string_view content_type_of(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size()
           && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (ends_with(".html")) {
    return "text/html; charset=utf-8";
  }
  if (ends_with(".js")) {
    return "text/javascript; charset=utf-8";
  }
  if (ends_with(".css")) {
    return "text/css; charset=utf-8";
  }
  return "application/octet-stream";
}

std::map<std::string, asset, std::less<>> build_index() {
  std::map<std::string, asset, std::less<>> result;
  for (const auto& file : embedded_assets()) {
    asset entry{file.body, content_type_of(file.path)};
    result.emplace(std::string{file.path}, entry);
    if (file.path == "/index.html") {
      result.emplace("/", entry);
    }
  }
  return result;
}

} // namespace

const asset* find_asset(std::string_view path) {
  static const auto index = build_index();
  auto i = index.find(path);
  if (i == index.end()) {
    return nullptr;
  }
  return &i->second;
}

} // namespace broadcaster::chat
