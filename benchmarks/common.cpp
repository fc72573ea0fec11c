#include "bench.hpp"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>

#include "broadcaster/broadcast.hpp"

namespace bench {

bool options::wants_backend(const std::string& name) const {
  return std::find(backends.begin(), backends.end(), name) != backends.end();
}

bool options::wants_case(const std::string& name) const {
  return std::find(cases.begin(), cases.end(), name) != cases.end();
}

std::string environment::url_for(const std::string& backend,
                                 std::string& why) const {
  if (backend == "memory") {
    return "memory://";
  }
  if (backend == "redis") {
    if (!has_redis_scheme) {
      why = "skipped: this build has no redis:// backend";
      return {};
    }
    if (redis_port == 0) {
      why = "skipped: " + redis_problem;
      return {};
    }
    return "redis://127.0.0.1:" + std::to_string(redis_port);
  }
  if (backend == "caf") {
    if (!has_caf_scheme) {
      why = "skipped: this build has no caf:// backend";
      return {};
    }
    if (node_port == 0) {
      why = "skipped: " + node_problem;
      return {};
    }
    return "caf://127.0.0.1:" + std::to_string(node_port);
  }
  why = "skipped: unknown backend " + backend;
  return {};
}

bench_config::bench_config(const options& opts) {
  broadcaster::register_types(*this);
  load<caf::io::middleman>();
  auto threads = opts.threads;
  if (threads == 0) {
    threads = std::max(1u, std::thread::hardware_concurrency());
  }
  set("scheduler.max-threads", threads);
  set("scheduler.policy", caf::atom_from_string(opts.policy));
  for (const auto& [name, value] : opts.caf_settings) {
    // main() checked that the value parses.
    set(name, *caf::config_value::parse(value));
  }
  if (opts.max_throughput > 0) {
    set("scheduler.max-throughput", opts.max_throughput);
  }
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

uint64_t resident_bytes() {
  malloc_trim(0);
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0;
  uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

int64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double quantile(std::vector<int64_t>& samples, double q) {
  if (samples.empty()) {
    return NAN;
  }
  std::sort(samples.begin(), samples.end());
  auto index = static_cast<size_t>(q * static_cast<double>(samples.size()));
  index = std::min(index, samples.size() - 1);
  return static_cast<double>(samples[index]);
}

void sleep_seconds(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

bool wait_until(const std::function<bool()>& done, double seconds) {
  auto deadline = clock_type::now() + std::chrono::duration_cast<
                                        clock_type::duration>(
                                        std::chrono::duration<double>(seconds));
  while (!done()) {
    if (clock_type::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return true;
}

void progress(const std::string& text) {
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

std::string make_payload(size_t payload_size) {
  std::string result(std::max<size_t>(payload_size, sizeof(int64_t)), 'x');
  for (size_t i = sizeof(int64_t); i < result.size(); ++i) {
    result[i] = static_cast<char>('a' + i % 26);
  }
  stamp_payload(result, 0);
  return result;
}

void stamp_payload(std::string& payload, int64_t ns) {
  std::memcpy(payload.data(), &ns, sizeof(ns));
}

int64_t read_stamp(const std::string& payload) {
  int64_t ns = 0;
  if (payload.size() >= sizeof(ns)) {
    std::memcpy(&ns, payload.data(), sizeof(ns));
  }
  return ns;
}

} // namespace bench
