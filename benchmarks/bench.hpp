#pragma once

// Declarations shared by the parts of broadcaster-bench: the options, one
// result row, the servers a run starts, and the CAF configuration that the
// product and the CAF group baseline share.

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

namespace bench {

/// Settings of one run, from the command line.
struct options {
  /// Product backends to measure: any of memory, caf, redis.
  std::vector<std::string> backends{"memory", "caf", "redis"};

  /// Case groups to run: any of fanout, channels, latency, idle, stalled.
  std::vector<std::string> cases{"fanout", "channels", "latency", "idle",
                                 "stalled"};

  /// Seconds measured per throughput case, after `warmup` seconds.
  double duration = 1.0;
  double warmup = 0.3;

  /// Seconds measured per latency case, after one second of warm-up.
  double latency_duration = 3.0;

  /// Offered rate of the latency cases, in messages per second.
  uint64_t rate = 10000;

  /// Subscriptions of the idle-memory case.
  uint64_t idle_subscriptions = 100000;

  std::vector<size_t> subscriber_counts{1, 10, 100, 1000};
  std::vector<size_t> payloads{32, 1024};

  /// Channels of the multi-channel case, one subscriber each.
  size_t channel_count = 100;

  /// Rounds of the stalled-subscriber case, each a run without and a run
  /// with the stalled subscriber; the median of the paired ratios counts.
  int stalled_rounds = 5;

  /// Publish requests a publisher keeps outstanding.
  size_t window = 256;

  /// Events per subscriber that a publisher may run ahead of delivery, on
  /// average. With 4096, single subscribers of 1000 fell more than
  /// max_in_flight + max_queued (9216) behind and events were skipped.
  size_t max_lag = 1024;

  /// CAF scheduler settings, applied to the product and to the CAF group
  /// baseline alike. Zero threads means one per core.
  size_t threads = 0;
  std::string policy = "stealing";
  size_t max_throughput = 0; // 0 leaves CAF's default (unlimited)
  /// Further CAF settings as (name, value) pairs, such as
  /// ("work-stealing.moderate-poll-attempts", "0").
  std::vector<std::pair<std::string, std::string>> caf_settings;

  std::string output_dir = "bench-results";

  /// Runs the hiredis and CAF group baselines; off only for profiling.
  bool baselines = true;

  /// Path of this program, for starting the caf:// node as a child.
  std::string self_path;

  bool wants_backend(const std::string& name) const;
  bool wants_case(const std::string& name) const;
};

/// One measured figure, or one skipped case.
struct result {
  std::string group;  // throughput, latency, idle, stalled
  std::string system; // memory://, caf://, redis://, caf group, hiredis
  size_t subscribers = 0;
  size_t channels = 1;
  size_t payload = 0;
  std::string metric; // deliveries/s, p99 us, bytes/subscription, ...
  double value = NAN;
  std::string baseline; // what `baseline_value` measured, or empty
  double baseline_value = NAN;
  std::string note;
  bool skipped = false;

  /// CPU time of this process per delivery during the measured interval,
  /// in nanoseconds. It changes less than the rate when other processes
  /// compete for the cores. Servers in other processes are not counted.
  double cpu_ns_per_delivery = NAN;

  /// Events per event_batch message that subscribers received.
  double events_per_batch = NAN;

  /// Ratio to the baseline when it is not value / baseline_value, such as
  /// the median of paired rounds.
  double paired_ratio = NAN;

  double ratio() const {
    if (!std::isnan(paired_ratio)) {
      return paired_ratio;
    }
    return baseline_value > 0 ? value / baseline_value : NAN;
  }
};

/// Servers started for the run. A port of 0 means the server is missing.
struct environment {
  uint16_t redis_port = 0;
  uint16_t node_port = 0;
  std::string redis_problem; // why redis_port is 0
  std::string node_problem;  // why node_port is 0
  bool has_redis_scheme = false;
  bool has_caf_scheme = false;

  /// Returns the URL for a product backend name, or empty with `why` set.
  std::string url_for(const std::string& backend, std::string& why) const;
};

/// CAF configuration used by every actor system of a run: the broadcaster
/// types, the middleman, and the scheduler settings from `options`.
struct bench_config : caf::actor_system_config {
  explicit bench_config(const options& opts);
};

/// Counters that subscriber actors update and the harness samples.
struct counters {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> batches{0}; // event_batch messages received
  std::atomic<uint64_t> skipped{0};
  std::atomic<uint64_t> subscribed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> published{0};
};

// -- measuring ----------------------------------------------------------------

using clock_type = std::chrono::steady_clock;

/// Nanoseconds on the monotonic clock, comparable across processes.
int64_t now_ns();

/// Resident set size of this process in bytes, after returning free heap
/// pages to the system so that two samples compare live memory.
uint64_t resident_bytes();

/// CPU time (user plus system) that this process used so far, in
/// nanoseconds.
int64_t process_cpu_ns();

/// Returns the q-quantile (0..1) of `samples`, sorting them.
double quantile(std::vector<int64_t>& samples, double q);

/// Sleeps for `seconds`.
void sleep_seconds(double seconds);

/// Waits up to `seconds` for `done()`, polling every millisecond.
bool wait_until(const std::function<bool()>& done, double seconds);

/// Prints a progress line to standard error.
void progress(const std::string& text);

/// Returns a payload of `payload_size` bytes (at least eight) whose first
/// eight bytes hold a time stamp, zero until stamp_payload() sets it.
std::string make_payload(size_t payload_size);
void stamp_payload(std::string& payload, int64_t ns);
int64_t read_stamp(const std::string& payload);

// -- cases --------------------------------------------------------------------

/// Product cases, run through the public broadcaster API.
std::vector<result> run_product_cases(const options& opts,
                                      const environment& env);

/// Baselines: hiredis pair and CAF's local groups.
std::vector<result> run_baselines(const options& opts,
                                  const environment& env);

/// Fills `baseline` and `baseline_value` of every product row.
void attach_baselines(std::vector<result>& rows);

/// Prints the table and the targets, writes the CSV and the plots.
/// Returns the number of failed targets.
int report(const options& opts, std::vector<result>& rows,
           const std::string& machine);

} // namespace bench
