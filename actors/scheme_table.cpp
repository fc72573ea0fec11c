#include "broadcaster/scheme_table.hpp"

#include "broadcaster/memory_backend.hpp"

namespace broadcaster {

void scheme_table::add(std::string scheme, backend_factory factory) {
  factories_[std::move(scheme)] = std::move(factory);
}

const backend_factory* scheme_table::find(const std::string& scheme) const {
  auto i = factories_.find(scheme);
  return i == factories_.end() ? nullptr : &i->second;
}

std::vector<std::string> scheme_table::schemes() const {
  std::vector<std::string> result;
  for (const auto& entry : factories_) {
    result.push_back(entry.first);
  }
  return result;
}

scheme_table memory_schemes() {
  scheme_table table;
  table.add("memory", spawn_memory_backend);
  return table;
}

} // namespace broadcaster
