// Product cases: throughput, latency, idle memory and a stalled subscriber,
// each run in a fresh actor system through the public broadcaster API.

#include <algorithm>
#include <cstdio>
#include <thread>

#include <caf/all.hpp>

#include "actors.hpp"
#include "bench.hpp"
#include "broadcaster/builtin.hpp"

namespace bench {

namespace {

std::string format_rate(double x) {
  char text[32];
  if (x >= 1e6) {
    std::snprintf(text, sizeof(text), "%.2fM", x / 1e6);
  } else {
    std::snprintf(text, sizeof(text), "%.1fk", x / 1e3);
  }
  return text;
}

std::string cpu_text(double ns) {
  char text[48];
  std::snprintf(text, sizeof(text), "%.0f ns CPU per delivery", ns);
  return text;
}

std::string batch_text(double events) {
  char text[48];
  std::snprintf(text, sizeof(text), "%.1f events per batch", events);
  return text;
}

/// One throughput measurement: `channels` channels with `per_channel`
/// subscribers each, the first `stalled` of them on channel 0 stalled.
struct fanout_spec {
  std::string url;
  std::string prefix; // channel names are prefix + index
  size_t channels = 1;
  size_t per_channel = 1;
  size_t payload = 32;
  size_t stalled = 0;
};

struct fanout_outcome {
  std::string error;
  double deliveries_per_s = 0;
  double cpu_ns_per_delivery = NAN;
  double events_per_batch = NAN;
  uint64_t active = 0;
  uint64_t skipped = 0;
  int64_t rss_growth = 0; // bytes, during the measured interval
  uint64_t max_queued = 0;
  uint64_t dropped = 0;
};

void shut_down(const std::vector<caf::actor>& actors,
               const broadcaster::broadcast_actor& bc) {
  for (const auto& a : actors) {
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(bc, caf::exit_reason::user_shutdown);
}

// Sends go_atom to every subscriber, `wave` at a time, and waits for
// their replies. Returns an error message or empty.
std::string subscribe_all(const std::vector<caf::actor>& subs,
                          const std::shared_ptr<counters>& c, size_t wave) {
  size_t sent = 0;
  while (sent < subs.size()) {
    auto end = std::min(subs.size(), sent + wave);
    for (; sent < end; ++sent) {
      caf::anon_send(subs[sent], go_atom::value);
    }
    auto done = [&] {
      return c->subscribed.load() + c->failed.load() >= sent;
    };
    if (!wait_until(done, 60.0)) {
      return "subscriptions timed out after 60 s ("
             + std::to_string(c->subscribed.load()) + " of "
             + std::to_string(subs.size()) + " active)";
    }
    if (c->failed.load() > 0) {
      return std::to_string(c->failed.load()) + " subscriptions failed";
    }
  }
  return {};
}

fanout_outcome run_fanout(const options& opts, const fanout_spec& spec) {
  fanout_outcome out;
  bench_config cfg{opts};
  caf::actor_system sys{cfg};
  auto bc = broadcaster::spawn_broadcast(sys, spec.url,
                                         broadcaster::builtin_schemes());
  if (!bc) {
    out.error = "spawn_broadcast failed: " + broadcaster::describe(bc.error());
    return out;
  }
  auto c = std::make_shared<counters>();
  std::vector<caf::actor> actors;
  std::vector<std::string> names;
  for (size_t i = 0; i < spec.channels; ++i) {
    names.push_back(spec.prefix + std::to_string(i));
    for (size_t k = 0; k < spec.per_channel; ++k) {
      auto kind = i == 0 && k < spec.stalled ? subscriber_kind::stalled
                                             : subscriber_kind::counting;
      actors.push_back(spawn_subscriber(sys, *bc, names.back(), kind, c));
    }
  }
  if (auto err = subscribe_all(actors, c, 2000); !err.empty()) {
    out.error = err;
    shut_down(actors, *bc);
    return out;
  }
  out.active = spec.channels * spec.per_channel - spec.stalled;
  publisher_settings ps;
  ps.bc = *bc;
  ps.channels = names;
  ps.payload = make_payload(spec.payload);
  ps.window = opts.window;
  // Round-robin over channels: on average one publish reaches this many
  // counting subscribers.
  ps.deliveries_per_publish = std::max<uint64_t>(1, out.active / spec.channels);
  ps.max_lag = std::max<uint64_t>(opts.max_lag * ps.deliveries_per_publish,
                                  2 * report_every * out.active);
  ps.c = c;
  auto publisher = spawn_publisher(sys, ps);
  actors.push_back(publisher);
  caf::anon_send(publisher, go_atom::value);
  sleep_seconds(opts.warmup);
  auto rss0 = resident_bytes();
  auto d0 = c->delivered.load();
  auto b0 = c->batches.load();
  auto t0 = clock_type::now();
  auto cpu0 = process_cpu_ns();
  sleep_seconds(opts.duration);
  auto d1 = c->delivered.load();
  auto b1 = c->batches.load();
  auto t1 = clock_type::now();
  auto cpu1 = process_cpu_ns();
  auto rss1 = resident_bytes();
  std::chrono::duration<double> elapsed = t1 - t0;
  out.deliveries_per_s = static_cast<double>(d1 - d0) / elapsed.count();
  if (d1 > d0) {
    out.cpu_ns_per_delivery = static_cast<double>(cpu1 - cpu0)
                              / static_cast<double>(d1 - d0);
  }
  if (b1 > b0) {
    out.events_per_batch = static_cast<double>(d1 - d0)
                           / static_cast<double>(b1 - b0);
  }
  out.rss_growth = static_cast<int64_t>(rss1) - static_cast<int64_t>(rss0);
  out.skipped = c->skipped.load();
  caf::anon_send_exit(publisher, caf::exit_reason::user_shutdown);
  if (auto stats = broadcaster::stats_blocking(sys, *bc)) {
    for (const auto& ch : stats->channels) {
      out.max_queued = std::max(out.max_queued, ch.max_queued);
      out.dropped += ch.dropped;
    }
  }
  if (c->failed.load() > 0) {
    out.error = std::to_string(c->failed.load()) + " publishes failed";
  }
  shut_down(actors, *bc);
  return out;
}

result throughput_row(const std::string& system, const fanout_spec& spec,
                      const fanout_outcome& out) {
  result r;
  r.group = "throughput";
  r.system = system;
  r.subscribers = spec.channels * spec.per_channel;
  r.channels = spec.channels;
  r.payload = spec.payload;
  r.metric = "deliveries/s";
  if (!out.error.empty()) {
    r.skipped = true;
    r.note = "failed: " + out.error;
    return r;
  }
  r.value = out.deliveries_per_s;
  r.cpu_ns_per_delivery = out.cpu_ns_per_delivery;
  r.events_per_batch = out.events_per_batch;
  if (out.skipped > 0) {
    r.note = std::to_string(out.skipped) + " events skipped";
  }
  return r;
}

std::string case_label(const std::string& system, const fanout_spec& spec) {
  return system + " " + std::to_string(spec.channels) + " ch x "
         + std::to_string(spec.per_channel) + " sub, "
         + std::to_string(spec.payload) + " B";
}

void run_throughput(const options& opts, const std::string& system,
                    const std::string& url, std::vector<result>& rows,
                    int& serial) {
  std::vector<fanout_spec> specs;
  if (opts.wants_case("fanout")) {
    for (auto payload : opts.payloads) {
      for (auto n : opts.subscriber_counts) {
        fanout_spec s;
        s.per_channel = n;
        s.payload = payload;
        specs.push_back(s);
      }
    }
  }
  if (opts.wants_case("channels")) {
    for (auto payload : opts.payloads) {
      fanout_spec s;
      s.channels = opts.channel_count;
      s.payload = payload;
      specs.push_back(s);
    }
  }
  for (auto& s : specs) {
    s.url = url;
    s.prefix = "bench." + std::to_string(++serial) + ".";
    auto out = run_fanout(opts, s);
    auto row = throughput_row(system, s, out);
    progress("  " + case_label(system, s) + ": "
             + (row.skipped ? row.note
                            : format_rate(row.value) + " deliveries/s, "
                                + cpu_text(row.cpu_ns_per_delivery) + ", "
                                + batch_text(row.events_per_batch)));
    rows.push_back(row);
  }
}

// -- latency ------------------------------------------------------------------

void run_latency(const options& opts, const std::string& system,
                 const std::string& url, std::vector<result>& rows,
                 int& serial) {
  auto fail = [&](const std::string& why) {
    for (auto metric : {"p50 us", "p99 us", "p99.9 us"}) {
      result r;
      r.group = "latency";
      r.system = system;
      r.subscribers = 1;
      r.payload = 32;
      r.metric = metric;
      r.skipped = true;
      r.note = why;
      rows.push_back(r);
    }
    progress("  " + system + " latency: " + why);
  };
  auto log = std::make_shared<latency_log>();
  auto c = std::make_shared<counters>();
  uint64_t sent = 0;
  int64_t measure_from = 0;
  {
    bench_config cfg{opts};
    caf::actor_system sys{cfg};
    auto bc = broadcaster::spawn_broadcast(sys, url,
                                           broadcaster::builtin_schemes());
    if (!bc) {
      fail("failed: spawn_broadcast: " + broadcaster::describe(bc.error()));
      return;
    }
    auto total = 1.0 + opts.latency_duration;
    log->samples.reserve(static_cast<size_t>(opts.rate * (total + 1)));
    auto channel = "bench." + std::to_string(++serial) + ".latency";
    std::vector<caf::actor> actors{
      spawn_subscriber(sys, *bc, channel, subscriber_kind::timing, c, log)};
    if (auto err = subscribe_all(actors, c, 1); !err.empty()) {
      shut_down(actors, *bc);
      fail("failed: " + err);
      return;
    }
    // Publishes from a plain thread at fixed times (an open loop), so a
    // slow delivery does not delay the next publish.
    auto interval = std::chrono::nanoseconds{
      static_cast<int64_t>(1e9 / static_cast<double>(opts.rate))};
    auto payload = make_payload(32);
    auto start = clock_type::now();
    measure_from = now_ns() + 1'000'000'000;
    auto end = start + std::chrono::duration_cast<clock_type::duration>(
                         std::chrono::duration<double>(total));
    auto next = start;
    while (next < end) {
      next += interval;
      std::this_thread::sleep_until(next);
      stamp_payload(payload, now_ns());
      caf::anon_send(*bc, broadcaster::bc_publish_atom::value, channel,
                     payload);
      ++sent;
    }
    sleep_seconds(0.5);
    shut_down(actors, *bc);
  }
  std::vector<int64_t> samples;
  for (const auto& [at, latency] : log->samples) {
    if (at >= measure_from) {
      samples.push_back(latency);
    }
  }
  if (samples.empty()) {
    fail("failed: no event arrived");
    return;
  }
  auto received = log->samples.size();
  const std::pair<const char*, double> metrics[] = {
    {"p50 us", 0.5}, {"p99 us", 0.99}, {"p99.9 us", 0.999}};
  std::string summary;
  for (const auto& [metric, q] : metrics) {
    result r;
    r.group = "latency";
    r.system = system;
    r.subscribers = 1;
    r.payload = 32;
    r.metric = metric;
    r.value = quantile(samples, q) / 1000.0;
    if (received < sent) {
      r.note = std::to_string(sent - received) + " of "
               + std::to_string(sent) + " events lost";
    }
    char text[64];
    std::snprintf(text, sizeof(text), " %s %.0f", metric, r.value);
    summary += text;
    rows.push_back(r);
  }
  progress("  " + system + " latency at " + std::to_string(opts.rate)
           + " msg/s:" + summary);
}

// -- idle subscriptions -------------------------------------------------------

void run_idle(const options& opts, const std::string& system,
              const std::string& url, std::vector<result>& rows,
              int& serial) {
  result r;
  r.group = "idle";
  r.system = system;
  r.subscribers = opts.idle_subscriptions;
  r.payload = 0;
  r.metric = "bytes/subscription";
  result actor_row = r;
  actor_row.metric = "bytes/actor";
  bench_config cfg{opts};
  caf::actor_system sys{cfg};
  auto bc = broadcaster::spawn_broadcast(sys, url,
                                         broadcaster::builtin_schemes());
  if (!bc) {
    r.skipped = true;
    r.note = "failed: spawn_broadcast: " + broadcaster::describe(bc.error());
    rows.push_back(r);
    return;
  }
  auto c = std::make_shared<counters>();
  auto channel = "bench." + std::to_string(++serial) + ".idle";
  // A first subscription creates the channel actor, so the figure below
  // counts only what each further subscription adds.
  std::vector<caf::actor> first{
    spawn_subscriber(sys, *bc, channel, subscriber_kind::counting, c)};
  auto err = subscribe_all(first, c, 1);
  auto rss0 = resident_bytes();
  auto idle = std::make_shared<counters>();
  std::vector<caf::actor> actors;
  actors.reserve(opts.idle_subscriptions);
  for (uint64_t i = 0; i < opts.idle_subscriptions && err.empty(); ++i) {
    actors.push_back(
      spawn_subscriber(sys, *bc, channel, subscriber_kind::counting, idle));
  }
  sleep_seconds(0.2);
  auto rss1 = resident_bytes();
  if (err.empty()) {
    err = subscribe_all(actors, idle, 2000);
  }
  sleep_seconds(0.3);
  auto rss2 = resident_bytes();
  uint64_t reported = 0;
  if (auto stats = broadcaster::stats_blocking(sys, *bc)) {
    reported = stats->subscriptions;
  }
  actors.push_back(first.front());
  shut_down(actors, *bc);
  auto n = static_cast<double>(opts.idle_subscriptions);
  if (!err.empty()) {
    r.skipped = true;
    r.note = "failed: " + err;
  } else {
    r.value = (static_cast<double>(rss2) - static_cast<double>(rss1)) / n;
    actor_row.value
      = (static_cast<double>(rss1) - static_cast<double>(rss0)) / n;
    if (reported != opts.idle_subscriptions + 1) {
      r.note = "supervisor reports " + std::to_string(reported)
               + " subscriptions";
    }
  }
  rows.push_back(r);
  rows.push_back(actor_row);
  char text[128];
  std::snprintf(text, sizeof(text),
                ": %.0f B per subscription, %.0f B per subscriber actor",
                r.value, actor_row.value);
  progress("  " + system + " idle " + std::to_string(opts.idle_subscriptions)
           + " subscriptions" + (err.empty() ? text : ": " + r.note));
}

// -- stalled subscriber -------------------------------------------------------

void run_stalled(const options& opts, const std::string& system,
                 const std::string& url, std::vector<result>& rows,
                 int& serial) {
  std::vector<double> none;
  std::vector<double> one;
  fanout_outcome worst;
  std::string error;
  for (int round = 0; round < opts.stalled_rounds && error.empty();
       ++round) {
    for (size_t stalled : {size_t{0}, size_t{1}}) {
      fanout_spec s;
      s.url = url;
      s.prefix = "bench." + std::to_string(++serial) + ".";
      s.per_channel = 100;
      s.payload = 32;
      s.stalled = stalled;
      auto out = run_fanout(opts, s);
      if (!out.error.empty()) {
        error = out.error;
        break;
      }
      auto per_subscriber = out.deliveries_per_s
                            / static_cast<double>(out.active);
      (stalled == 0 ? none : one).push_back(per_subscriber);
      char text[128];
      std::snprintf(text, sizeof(text),
                    "    round %d, %zu stalled: %.0f/s per subscriber, %s",
                    round + 1, stalled, per_subscriber,
                    cpu_text(out.cpu_ns_per_delivery).c_str());
      progress(text);
      if (stalled == 1) {
        worst.max_queued = std::max(worst.max_queued, out.max_queued);
        worst.rss_growth = std::max(worst.rss_growth, out.rss_growth);
        worst.dropped += out.dropped;
      }
    }
  }
  auto median = [](std::vector<double> xs) {
    std::sort(xs.begin(), xs.end());
    return xs.empty() ? NAN : xs[xs.size() / 2];
  };
  result rate;
  rate.group = "stalled";
  rate.system = system;
  rate.subscribers = 100;
  rate.payload = 32;
  rate.metric = "deliveries/s per other subscriber";
  result queued = rate;
  queued.metric = "events queued for the stalled one";
  result growth = rate;
  growth.metric = "RSS growth while stalled, bytes";
  if (!error.empty()) {
    for (auto* r : {&rate, &queued, &growth}) {
      r->skipped = true;
      r->note = "failed: " + error;
      rows.push_back(*r);
    }
    progress("  " + system + " stalled subscriber: " + error);
    return;
  }
  // Each round runs both cases back to back, so their ratio cancels most of
  // the drift in what other processes take from the cores.
  std::vector<double> ratios;
  for (size_t i = 0; i < one.size() && i < none.size(); ++i) {
    ratios.push_back(one[i] / none[i]);
  }
  rate.value = median(one);
  rate.baseline = "none stalled";
  rate.baseline_value = median(none);
  rate.paired_ratio = median(ratios);
  rate.note = "ratio: median of " + std::to_string(ratios.size())
              + " paired rounds";
  queued.value = static_cast<double>(worst.max_queued);
  queued.baseline = "max_queued";
  queued.baseline_value = broadcaster::subscribe_options{}.max_queued;
  queued.note = std::to_string(worst.dropped) + " events dropped";
  growth.value = static_cast<double>(worst.rss_growth);
  char interval[64];
  std::snprintf(interval, sizeof(interval),
                "largest growth over %.1f s measured", opts.duration);
  growth.note = interval;
  rows.push_back(rate);
  rows.push_back(queued);
  rows.push_back(growth);
  char text[160];
  std::snprintf(text, sizeof(text),
                ": others %.0f/s each vs %.0f/s with none stalled "
                "(paired ratio %.2f), %.0f events queued",
                rate.value, rate.baseline_value, rate.paired_ratio,
                queued.value);
  progress("  " + system + " stalled subscriber" + text);
}

} // namespace

std::vector<result> run_product_cases(const options& opts,
                                      const environment& env) {
  std::vector<result> rows;
  int serial = 0;
  for (const std::string backend : {"memory", "caf", "redis"}) {
    if (!opts.wants_backend(backend)) {
      continue;
    }
    auto system = backend + "://";
    std::string why;
    auto url = env.url_for(backend, why);
    if (url.empty()) {
      result r;
      r.group = "all";
      r.system = system;
      r.skipped = true;
      r.note = why;
      rows.push_back(r);
      progress(system + " " + why);
      continue;
    }
    progress(system + " (" + url + ")");
    run_throughput(opts, system, url, rows, serial);
    if (opts.wants_case("latency")) {
      run_latency(opts, system, url, rows, serial);
    }
    if (opts.wants_case("idle")) {
      run_idle(opts, system, url, rows, serial);
    }
    if (opts.wants_case("stalled")) {
      run_stalled(opts, system, url, rows, serial);
    }
  }
  return rows;
}

} // namespace bench
