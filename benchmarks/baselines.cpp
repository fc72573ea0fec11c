// Baselines measured in the same run as the product: a hiredis publisher
// pipelining PUBLISH to one hiredis subscriber connection, the same pair at
// a fixed rate for latency, and CAF 0.17's local groups for fan-out.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include <caf/all.hpp>

#ifdef BENCH_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#include "actors.hpp"
#include "bench.hpp"

namespace bench {

namespace {

// -- CAF local groups ---------------------------------------------------------

struct member_state {
  uint64_t unreported = 0;
  uint64_t bytes = 0;

  static inline const char* name = "bench.group_member";
};

caf::behavior group_member(caf::stateful_actor<member_state>* self,
                           caf::group grp, std::shared_ptr<counters> c) {
  self->join(grp);
  c->subscribed.fetch_add(1);
  return {
    [self, c](const std::string& payload) {
      auto& st = self->state;
      st.bytes += payload.size();
      if (++st.unreported == report_every) {
        c->delivered.fetch_add(report_every, std::memory_order_relaxed);
        st.unreported = 0;
      }
    },
  };
}

struct group_publisher_state {
  std::vector<caf::group> groups;
  std::string payload;
  uint64_t deliveries_per_publish = 1;
  uint64_t max_lag = 0;
  std::shared_ptr<counters> c;
  uint64_t sent = 0;
  size_t next = 0;

  static inline const char* name = "bench.group_publisher";
};

using group_publisher_pointer = caf::stateful_actor<group_publisher_state>*;

// Sends up to `burst` messages, then yields with a message to itself, or
// polls again shortly once the members are `max_lag` deliveries behind.
// The burst matches the product publisher's window of requests.
void group_pump(group_publisher_pointer self, size_t burst) {
  auto& st = self->state;
  for (size_t i = 0; i < burst; ++i) {
    auto delivered = st.c->delivered.load(std::memory_order_relaxed);
    if (st.sent * st.deliveries_per_publish > delivered + st.max_lag) {
      self->delayed_send(self, std::chrono::microseconds{50},
                         tick_atom::value);
      return;
    }
    self->send(st.groups[st.next], st.payload);
    st.next = (st.next + 1) % st.groups.size();
    ++st.sent;
  }
  self->send(self, tick_atom::value);
}

caf::behavior group_publisher(group_publisher_pointer self,
                              std::vector<caf::group> groups,
                              std::string payload, uint64_t per_publish,
                              uint64_t max_lag, size_t burst,
                              std::shared_ptr<counters> c) {
  auto& st = self->state;
  st.groups = std::move(groups);
  st.payload = std::move(payload);
  st.deliveries_per_publish = per_publish;
  st.max_lag = max_lag;
  st.c = std::move(c);
  return {
    [self, burst](go_atom) { group_pump(self, burst); },
    [self, burst](tick_atom) { group_pump(self, burst); },
  };
}

struct rate_sample {
  double per_second = 0;
  double cpu_ns_per_delivery = NAN;
};

rate_sample run_group(const options& opts, size_t group_count, size_t per_group,
                 size_t payload, int serial) {
  bench_config cfg{opts};
  caf::actor_system sys{cfg};
  auto c = std::make_shared<counters>();
  std::vector<caf::group> groups;
  std::vector<caf::actor> actors;
  for (size_t i = 0; i < group_count; ++i) {
    groups.push_back(sys.groups().get_local(
      "bench." + std::to_string(serial) + "." + std::to_string(i)));
    for (size_t k = 0; k < per_group; ++k) {
      actors.push_back(sys.spawn(group_member, groups.back(), c));
    }
  }
  auto total = group_count * per_group;
  wait_until([&] { return c->subscribed.load() >= total; }, 30.0);
  auto lag = std::max<uint64_t>(opts.max_lag * per_group,
                                2 * report_every * total);
  auto publisher = sys.spawn(group_publisher, groups, make_payload(payload),
                             static_cast<uint64_t>(per_group), lag,
                             opts.window, c);
  caf::anon_send(publisher, go_atom::value);
  sleep_seconds(opts.warmup);
  auto d0 = c->delivered.load();
  auto t0 = clock_type::now();
  auto cpu0 = process_cpu_ns();
  sleep_seconds(opts.duration);
  auto d1 = c->delivered.load();
  std::chrono::duration<double> elapsed = clock_type::now() - t0;
  auto cpu1 = process_cpu_ns();
  caf::anon_send_exit(publisher, caf::exit_reason::user_shutdown);
  for (const auto& a : actors) {
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  rate_sample out;
  out.per_second = static_cast<double>(d1 - d0) / elapsed.count();
  if (d1 > d0) {
    out.cpu_ns_per_delivery = static_cast<double>(cpu1 - cpu0)
                              / static_cast<double>(d1 - d0);
  }
  return out;
}

void run_group_cases(const options& opts, std::vector<result>& rows) {
  progress("caf group (system.groups().get_local)");
  int serial = 0;
  struct shape {
    size_t groups;
    size_t per_group;
  };
  std::vector<shape> shapes;
  if (opts.wants_case("fanout") || opts.wants_case("stalled")) {
    for (auto n : opts.subscriber_counts) {
      shapes.push_back({1, n});
    }
  }
  if (opts.wants_case("channels")) {
    shapes.push_back({opts.channel_count, 1});
  }
  for (auto payload : opts.payloads) {
    for (auto s : shapes) {
      result r;
      r.group = "throughput";
      r.system = "caf group";
      r.subscribers = s.groups * s.per_group;
      r.channels = s.groups;
      r.payload = payload;
      r.metric = "deliveries/s";
      auto sample = run_group(opts, s.groups, s.per_group, payload,
                              ++serial);
      r.value = sample.per_second;
      r.cpu_ns_per_delivery = sample.cpu_ns_per_delivery;
      char text[160];
      std::snprintf(text, sizeof(text),
                    "  caf group %zu groups x %zu members, %zu B: %.2fM "
                    "deliveries/s, %.0f ns CPU per delivery",
                    s.groups, s.per_group, payload, r.value / 1e6,
                    r.cpu_ns_per_delivery);
      progress(text);
      rows.push_back(r);
    }
  }
}

// -- hiredis ------------------------------------------------------------------

#ifdef BENCH_HAVE_HIREDIS

struct redis_deleter {
  void operator()(redisContext* ctx) const {
    redisFree(ctx);
  }
};

using redis_pointer = std::unique_ptr<redisContext, redis_deleter>;

redis_pointer connect_redis(uint16_t port, std::string& error) {
  redis_pointer ctx{redisConnect("127.0.0.1", port)};
  if (!ctx || ctx->err != 0) {
    error = ctx ? ctx->errstr : "out of memory";
    return nullptr;
  }
  return ctx;
}

constexpr const char* stop_message = "bench-stop";

// Reads messages of one subscribed channel until `stop_message` arrives,
// calling `on_message` with each payload.
template <class OnMessage>
bool read_messages(redisContext* ctx, OnMessage on_message) {
  for (;;) {
    void* raw = nullptr;
    if (redisGetReply(ctx, &raw) != REDIS_OK) {
      return false;
    }
    auto* reply = static_cast<redisReply*>(raw);
    bool stop = false;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
      auto* body = reply->element[2];
      if (body->len == static_cast<int>(std::strlen(stop_message))
          && std::memcmp(body->str, stop_message, body->len) == 0) {
        stop = true;
      } else {
        on_message(body->str, static_cast<size_t>(body->len));
      }
    }
    freeReplyObject(reply);
    if (stop) {
      return true;
    }
  }
}

bool subscribe_redis(redisContext* ctx, const std::string& channel) {
  auto* reply = static_cast<redisReply*>(
    redisCommand(ctx, "SUBSCRIBE %s", channel.c_str()));
  if (reply == nullptr) {
    return false;
  }
  freeReplyObject(reply);
  return true;
}

void publish_stop(redisContext* ctx, const std::string& channel) {
  auto* reply = static_cast<redisReply*>(
    redisCommand(ctx, "PUBLISH %s %s", channel.c_str(), stop_message));
  if (reply != nullptr) {
    freeReplyObject(reply);
  }
}

result hiredis_row(const std::string& group, const std::string& metric,
                   size_t payload) {
  result r;
  r.group = group;
  r.system = "hiredis";
  r.subscribers = 1;
  r.payload = payload;
  r.metric = metric;
  return r;
}

// One publisher connection pipelining `window` PUBLISH commands at a time,
// never more than `max_lag` messages ahead of one subscriber connection.
result run_hiredis_pair(const options& opts, uint16_t port, size_t payload) {
  auto row = hiredis_row("throughput", "deliveries/s", payload);
  std::string error;
  auto sub = connect_redis(port, error);
  auto pub = sub ? connect_redis(port, error) : nullptr;
  std::string channel = "bench.raw." + std::to_string(payload);
  if (!pub || !subscribe_redis(sub.get(), channel)) {
    row.skipped = true;
    row.note = "failed: " + (error.empty() ? "SUBSCRIBE failed" : error);
    return row;
  }
  std::atomic<uint64_t> received{0};
  std::atomic<bool> stop{false};
  std::thread reader{[&] {
    uint64_t count = 0;
    read_messages(sub.get(), [&](const char*, size_t) {
      received.store(++count, std::memory_order_relaxed);
    });
  }};
  std::thread writer{[&] {
    auto body = make_payload(payload);
    uint64_t sent = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (sent + opts.window
          > received.load(std::memory_order_relaxed) + opts.max_lag) {
        std::this_thread::sleep_for(std::chrono::microseconds{50});
        continue;
      }
      for (size_t i = 0; i < opts.window; ++i) {
        redisAppendCommand(pub.get(), "PUBLISH %s %b", channel.c_str(),
                           body.data(), body.size());
      }
      for (size_t i = 0; i < opts.window; ++i) {
        void* reply = nullptr;
        if (redisGetReply(pub.get(), &reply) != REDIS_OK) {
          return;
        }
        freeReplyObject(reply);
      }
      sent += opts.window;
    }
  }};
  sleep_seconds(opts.warmup);
  auto d0 = received.load();
  auto t0 = clock_type::now();
  sleep_seconds(opts.duration);
  auto d1 = received.load();
  std::chrono::duration<double> elapsed = clock_type::now() - t0;
  stop = true;
  writer.join();
  publish_stop(pub.get(), channel);
  reader.join();
  row.value = static_cast<double>(d1 - d0) / elapsed.count();
  return row;
}

// One PUBLISH round trip per message at `opts.rate` messages per second.
std::vector<result> run_hiredis_latency(const options& opts, uint16_t port) {
  std::vector<result> rows;
  std::string error;
  auto sub = connect_redis(port, error);
  auto pub = sub ? connect_redis(port, error) : nullptr;
  std::string channel = "bench.raw.latency";
  if (!pub || !subscribe_redis(sub.get(), channel)) {
    for (auto metric : {"p50 us", "p99 us", "p99.9 us"}) {
      auto r = hiredis_row("latency", metric, 32);
      r.skipped = true;
      r.note = "failed: " + error;
      rows.push_back(r);
    }
    return rows;
  }
  latency_log log;
  auto total = 1.0 + opts.latency_duration;
  log.samples.reserve(static_cast<size_t>(opts.rate * (total + 1)));
  std::thread reader{[&] {
    read_messages(sub.get(), [&](const char* data, size_t size) {
      std::string body{data, size};
      auto sent = read_stamp(body);
      log.samples.emplace_back(sent, now_ns() - sent);
    });
  }};
  auto interval = std::chrono::nanoseconds{
    static_cast<int64_t>(1e9 / static_cast<double>(opts.rate))};
  auto body = make_payload(32);
  auto start = clock_type::now();
  auto measure_from = now_ns() + 1'000'000'000;
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                       std::chrono::duration<double>(total));
  uint64_t sent = 0;
  for (auto next = start; next < end;) {
    next += interval;
    std::this_thread::sleep_until(next);
    stamp_payload(body, now_ns());
    auto* reply = static_cast<redisReply*>(
      redisCommand(pub.get(), "PUBLISH %s %b", channel.c_str(), body.data(),
                   body.size()));
    if (reply == nullptr) {
      break;
    }
    freeReplyObject(reply);
    ++sent;
  }
  publish_stop(pub.get(), channel);
  reader.join();
  std::vector<int64_t> samples;
  for (const auto& [at, latency] : log.samples) {
    if (at >= measure_from) {
      samples.push_back(latency);
    }
  }
  const std::pair<const char*, double> metrics[] = {
    {"p50 us", 0.5}, {"p99 us", 0.99}, {"p99.9 us", 0.999}};
  for (const auto& [metric, q] : metrics) {
    auto r = hiredis_row("latency", metric, 32);
    r.value = quantile(samples, q) / 1000.0;
    if (log.samples.size() < sent) {
      r.note = std::to_string(sent - log.samples.size()) + " lost";
    }
    rows.push_back(r);
  }
  return rows;
}

void run_hiredis_cases(const options& opts, const environment& env,
                       std::vector<result>& rows) {
  if (env.redis_port == 0) {
    auto r = hiredis_row("all", "", 0);
    r.skipped = true;
    r.note = "skipped: " + env.redis_problem;
    rows.push_back(r);
    progress("hiredis " + r.note);
    return;
  }
  progress("hiredis (127.0.0.1:" + std::to_string(env.redis_port) + ")");
  if (opts.wants_case("fanout")) {
    for (auto payload : opts.payloads) {
      auto r = run_hiredis_pair(opts, env.redis_port, payload);
      char text[96];
      std::snprintf(text, sizeof(text),
                    "  hiredis pair, %zu B: %.2fM deliveries/s", payload,
                    r.value / 1e6);
      progress(r.skipped ? "  hiredis pair: " + r.note : text);
      rows.push_back(r);
    }
  }
  if (opts.wants_case("latency")) {
    auto latency = run_hiredis_latency(opts, env.redis_port);
    std::string summary;
    for (const auto& r : latency) {
      char text[48];
      std::snprintf(text, sizeof(text), " %s %.0f", r.metric.c_str(),
                    r.value);
      summary += text;
      rows.push_back(r);
    }
    progress("  hiredis latency at " + std::to_string(opts.rate)
             + " msg/s:" + summary);
  }
}

#else

void run_hiredis_cases(const options&, const environment&,
                       std::vector<result>& rows) {
  result r;
  r.group = "all";
  r.system = "hiredis";
  r.skipped = true;
  r.note = "skipped: built without hiredis (install libhiredis-dev)";
  rows.push_back(r);
  progress("hiredis " + r.note);
}

#endif

} // namespace

std::vector<result> run_baselines(const options& opts,
                                  const environment& env) {
  std::vector<result> rows;
  run_hiredis_cases(opts, env, rows);
  run_group_cases(opts, rows);
  return rows;
}

} // namespace bench
