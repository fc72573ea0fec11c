#include "broadcaster/log.hpp"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace broadcaster {

namespace {

spdlog::level::level_enum level_from_environment() {
  const char* value = std::getenv("BROADCASTER_LOG_LEVEL");
  if (value == nullptr || *value == '\0') {
    return spdlog::level::info;
  }
  return spdlog::level::from_str(value);
}

} // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  auto name = "broadcaster." + component;
  if (auto existing = spdlog::get(name)) {
    return existing;
  }
  auto result = spdlog::stderr_color_mt(name);
  result->set_level(level_from_environment());
  result->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %n: %v");
  return result;
}

} // namespace broadcaster
