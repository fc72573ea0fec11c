#include "broadcaster/redis.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/log.hpp"
#include "io_thread.hpp"
#include "settings.hpp"

namespace broadcaster::redis {

namespace {

using detail::clock_type;
using detail::failure;
using detail::io_thread;
using detail::settings;
using detail::subscription_op;

/// Fails subscribe requests that waited longer than publish_wait.
using expire_atom = caf::atom_constant<caf::atom("rdexpire")>;

/// Writes the publishes queued on the publish connection.
using write_atom = caf::atom_constant<caf::atom("rdwrite")>;

/// Sends SUBSCRIBE or PSUBSCRIBE again for a key whose resubscription
/// Redis rejected.
using retry_atom = caf::atom_constant<caf::atom("rdretry")>;

using redis_actor
  = backend_actor::extend<caf::reacts_to<detail::wake_atom>,
                          caf::reacts_to<expire_atom>,
                          caf::reacts_to<write_atom>,
                          caf::reacts_to<retry_atom, bool, std::string,
                                         uint64_t>>;

/// Largest number of events in one message to a sink.
constexpr size_t max_batch_size = 512;

struct waiter {
  sink_actor sink;
  caf::typed_response_promise<bc_ok_atom> promise;
  /// When the request fails if the subscribe connection is down.
  clock_type::time_point deadline;
};

// The local sinks of one channel or pattern and the state of its Redis
// subscription. Usually one sink, but two while a retiring channel actor and
// its successor overlap.
struct subscription_entry {
  bool empty() const {
    return active.empty() && waiting.empty();
  }

  /// Sinks whose subscribe request got its reply.
  std::vector<sink_actor> active;
  /// Sinks waiting for Redis to confirm the subscription.
  std::vector<waiter> waiting;
  /// Commands for this key sent in the current session and not confirmed.
  uint32_t pending = 0;
  /// True if the last command sent was SUBSCRIBE or PSUBSCRIBE.
  bool subscribed = false;
  /// True once Redis confirmed the subscription and nothing is in flight.
  bool confirmed = false;
  /// True while the active sinks wait for backend_back.
  bool lost = false;
  /// Rejected subscription commands in a row, for the retry backoff.
  uint32_t rejections = 0;
};

enum class link_phase : uint8_t {
  first_attempt,
  ready,
  down,
};

struct redis_state {
  settings cfg;
  std::unique_ptr<io_thread> io;
  std::unordered_map<std::string, subscription_entry> channels;
  std::unordered_map<std::string, subscription_entry> patterns;
  /// Number of entries each sink belongs to. Every sink in it is monitored.
  std::unordered_map<caf::actor_addr, size_t> sink_refs;
  link_phase sub_phase = link_phase::first_attempt;
  uint64_t sub_generation = 0;
  failure sub_failure;
  std::unordered_map<uint64_t, caf::typed_response_promise<publish_ack>>
    publishes;
  uint64_t next_publish_id = 1;
  /// Events batched per sink while one wake-up is handled.
  std::vector<std::pair<sink_actor, std::vector<event>>> batches;
  std::unordered_map<caf::actor_addr, size_t> batch_index;
  bool expiry_scheduled = false;
  /// True while a write_atom message is on its way to this actor.
  bool write_scheduled = false;
  uint64_t forwarded = 0;
  uint64_t unrouted = 0;
  uint64_t rejected = 0;
  std::shared_ptr<spdlog::logger> log = logger("redis");

  static inline const char* name = "broadcaster.redis";
};

using redis_pointer = redis_actor::stateful_pointer<redis_state>;

using entry_table = std::unordered_map<std::string, subscription_entry>;

entry_table& table_of(redis_pointer self, bool pattern) {
  return pattern ? self->state.patterns : self->state.channels;
}

bool is_pattern(subscription_op op) {
  return op == subscription_op::psubscribe
         || op == subscription_op::punsubscribe;
}

caf::error to_error(const failure& reason) {
  return make_error(reason.code, reason.text);
}

caf::error history_unsupported() {
  return make_error(errc::unsupported,
                    "redis:// is Redis PUB/SUB, which stores no events, so "
                    "it has no history. History on Redis needs the Redis "
                    "Streams backend (redis-stream:// URLs), which this "
                    "build does not include yet; memory:// and a caf:// "
                    "node with memory:// keep history");
}

// The error for a subscribe request while the subscribe connection is down.
caf::error subscribe_outage(redis_pointer self) {
  auto& st = self->state;
  const auto& last = st.sub_failure;
  if (last.code == errc::authentication_failed) {
    return to_error(last);
  }
  if (last.code == errc::backend_error) {
    // Redis rejected the connection set-up, which a retry does not fix.
    return make_error(errc::backend_error,
                      "not connected to Redis at " + st.cfg.server + " ("
                        + last.text
                        + "); the subscription was not made. Check the "
                          "URL's database number and the user's rights on "
                          "the server");
  }
  return make_error(errc::backend_unavailable,
                    "not connected to Redis at " + st.cfg.server + " ("
                      + last.text
                      + "); the subscription was not made. Retry later, or "
                        "set the URL option publish_wait to wait for the "
                        "reconnect");
}

// -- sinks --------------------------------------------------------------------

bool is_active(const subscription_entry& entry, const caf::actor_addr& addr) {
  return std::any_of(entry.active.begin(), entry.active.end(),
                     [&](const sink_actor& x) { return x.address() == addr; });
}

bool is_member(const subscription_entry& entry, const caf::actor_addr& addr) {
  return is_active(entry, addr)
         || std::any_of(entry.waiting.begin(), entry.waiting.end(),
                        [&](const waiter& x) {
                          return x.sink.address() == addr;
                        });
}

void add_sink_ref(redis_pointer self, const sink_actor& sink) {
  if (++self->state.sink_refs[sink.address()] == 1) {
    self->monitor(sink);
  }
}

void release_sink_ref(redis_pointer self, const caf::actor_addr& addr) {
  auto& refs = self->state.sink_refs;
  auto i = refs.find(addr);
  if (i == refs.end()) {
    return;
  }
  if (--i->second == 0) {
    refs.erase(i);
    self->demonitor(addr);
  }
}

// Releases the reference of each sink in `gone` that is no longer a member
// of `entry`, once per sink.
void release_departed(redis_pointer self, const subscription_entry& entry,
                      const std::vector<waiter>& gone) {
  std::vector<caf::actor_addr> released;
  for (const auto& w : gone) {
    auto addr = w.sink.address();
    if (is_member(entry, addr)
        || std::find(released.begin(), released.end(), addr)
             != released.end()) {
      continue;
    }
    released.push_back(addr);
    release_sink_ref(self, addr);
  }
}

void send_command(redis_pointer self, subscription_op op,
                  const std::string& key) {
  auto& st = self->state;
  st.io->post(detail::subscription_command{st.sub_generation, op, key});
}

// Sends SUBSCRIBE or PSUBSCRIBE for `key` in the current session and marks
// the entry as waiting for the confirmation.
void send_subscribe(redis_pointer self, subscription_entry& entry,
                    bool pattern, const std::string& key) {
  entry.subscribed = true;
  ++entry.pending;
  send_command(self,
               pattern ? subscription_op::psubscribe
                       : subscription_op::subscribe,
               key);
}

// -- event delivery -----------------------------------------------------------

void flush(redis_pointer self) {
  auto& st = self->state;
  for (auto& entry : st.batches) {
    if (!entry.second.empty()) {
      self->send(entry.first, bc_events_atom::value, std::move(entry.second));
    }
  }
  st.batches.clear();
  st.batch_index.clear();
}

void enqueue(redis_pointer self, const sink_actor& sink, event ev) {
  auto& st = self->state;
  auto addr = sink.address();
  auto i = st.batch_index.find(addr);
  if (i == st.batch_index.end()) {
    i = st.batch_index.emplace(addr, st.batches.size()).first;
    st.batches.emplace_back(sink, std::vector<event>{});
  }
  auto& batch = st.batches[i->second].second;
  batch.push_back(std::move(ev));
  ++st.forwarded;
  if (batch.size() >= max_batch_size) {
    self->send(sink, bc_events_atom::value, std::move(batch));
    batch.clear();
  }
}

// Sends each event to the active and waiting sinks of its channel, or of
// the pattern that matched it.
void route(redis_pointer self, std::vector<event>& events) {
  auto& st = self->state;
  std::vector<const sink_actor*> targets;
  for (auto& ev : events) {
    bool pattern = !ev.pattern.empty();
    auto& table = table_of(self, pattern);
    auto i = table.find(pattern ? ev.pattern : ev.channel);
    if (i == table.end() || i->second.empty()) {
      // An UNSUBSCRIBE was still on its way.
      ++st.unrouted;
      continue;
    }
    auto& entry = i->second;
    targets.clear();
    for (const auto& sink : entry.active) {
      targets.push_back(&sink);
    }
    for (const auto& w : entry.waiting) {
      auto dup = std::any_of(targets.begin(), targets.end(),
                             [&](const sink_actor* x) { return *x == w.sink; });
      if (!dup) {
        targets.push_back(&w.sink);
      }
    }
    for (size_t k = 0; k + 1 < targets.size(); ++k) {
      enqueue(self, *targets[k], ev);
    }
    enqueue(self, *targets.back(), std::move(ev));
  }
}

void send_status(redis_pointer self, subscription_entry& entry,
                 const std::string& key, status_kind kind,
                 std::string reason) {
  for (const auto& sink : entry.active) {
    self->send(sink, status_event{kind, key, true, reason});
  }
}

// -- subscription bookkeeping -------------------------------------------------

// Sends UNSUBSCRIBE for an entry without sinks, or drops it when Redis has
// nothing for it.
void settle(redis_pointer self, bool pattern, entry_table::iterator i) {
  auto& st = self->state;
  auto& entry = i->second;
  if (!entry.empty()) {
    return;
  }
  if (st.sub_phase == link_phase::ready && entry.subscribed) {
    entry.subscribed = false;
    entry.confirmed = false;
    ++entry.pending;
    send_command(self,
                 pattern ? subscription_op::punsubscribe
                         : subscription_op::unsubscribe,
                 i->first);
    return;
  }
  if (entry.pending == 0 || st.sub_phase != link_phase::ready) {
    table_of(self, pattern).erase(i);
  }
}

void remove_sink(redis_pointer self, bool pattern, const std::string& key,
                 const caf::actor_addr& addr, const char* why) {
  auto& table = table_of(self, pattern);
  auto i = table.find(key);
  if (i == table.end() || !is_member(i->second, addr)) {
    return;
  }
  auto& entry = i->second;
  auto& active = entry.active;
  active.erase(std::remove_if(active.begin(), active.end(),
                              [&](const sink_actor& x) {
                                return x.address() == addr;
                              }),
               active.end());
  auto& waiting = entry.waiting;
  for (auto& w : waiting) {
    if (w.sink.address() == addr) {
      w.promise.deliver(make_error(errc::subscription_not_found, why));
    }
  }
  waiting.erase(std::remove_if(waiting.begin(), waiting.end(),
                               [&](const waiter& x) {
                                 return x.sink.address() == addr;
                               }),
                waiting.end());
  release_sink_ref(self, addr);
  settle(self, pattern, i);
}

void remove_sink_everywhere(redis_pointer self, const caf::actor_addr& addr) {
  for (bool pattern : {false, true}) {
    std::vector<std::string> keys;
    for (auto& entry : table_of(self, pattern)) {
      if (is_member(entry.second, addr)) {
        keys.push_back(entry.first);
      }
    }
    for (const auto& key : keys) {
      remove_sink(self, pattern, key, addr, "the sink exited");
    }
  }
}

// Fails the waiting subscribe requests whose deadline has passed, while the
// subscribe connection is down.
void expire_waiters(redis_pointer self, clock_type::time_point now) {
  auto& st = self->state;
  if (st.sub_phase != link_phase::down) {
    return;
  }
  for (bool pattern : {false, true}) {
    auto& table = table_of(self, pattern);
    for (auto i = table.begin(); i != table.end();) {
      auto& entry = i->second;
      std::vector<waiter> expired;
      auto& waiting = entry.waiting;
      auto split = std::stable_partition(waiting.begin(), waiting.end(),
                                         [&](const waiter& w) {
                                           return w.deadline > now;
                                         });
      std::move(split, waiting.end(), std::back_inserter(expired));
      waiting.erase(split, waiting.end());
      for (auto& w : expired) {
        w.promise.deliver(subscribe_outage(self));
      }
      release_departed(self, entry, expired);
      if (entry.empty()) {
        i = table.erase(i);
      } else {
        ++i;
      }
    }
  }
}

void schedule_expiry(redis_pointer self, clock_type::time_point now) {
  auto& st = self->state;
  if (st.expiry_scheduled || st.sub_phase != link_phase::down) {
    return;
  }
  auto earliest = clock_type::time_point::max();
  for (bool pattern : {false, true}) {
    for (auto& entry : table_of(self, pattern)) {
      for (auto& w : entry.second.waiting) {
        earliest = std::min(earliest, w.deadline);
      }
    }
  }
  if (earliest == clock_type::time_point::max()) {
    return;
  }
  st.expiry_scheduled = true;
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(earliest - now);
  self->delayed_send(self, std::max(delay, std::chrono::milliseconds{0}),
                     expire_atom::value);
}

// -- reports from the I/O thread ----------------------------------------------

void on_link_up(redis_pointer self, const detail::link_up& up) {
  auto& st = self->state;
  st.sub_phase = link_phase::ready;
  st.sub_generation = up.generation;
  std::vector<detail::command> commands;
  for (bool pattern : {false, true}) {
    auto& table = table_of(self, pattern);
    for (auto i = table.begin(); i != table.end();) {
      auto& entry = i->second;
      if (entry.empty()) {
        i = table.erase(i);
        continue;
      }
      entry.subscribed = true;
      entry.confirmed = false;
      entry.pending = 1;
      commands.emplace_back(detail::subscription_command{
        st.sub_generation,
        pattern ? subscription_op::psubscribe : subscription_op::subscribe,
        i->first});
      ++i;
    }
  }
  st.log->info("subscribe connection ready: server = {}, session = {}, "
               "channels = {}, patterns = {}",
               st.cfg.server, up.generation, st.channels.size(),
               st.patterns.size());
  st.io->post(std::move(commands));
}

void on_link_down(redis_pointer self, detail::link_down& down) {
  auto& st = self->state;
  st.sub_failure = std::move(down.reason);
  st.sub_phase = link_phase::down;
  if (down.was_ready) {
    // Events read before the loss go out before the status.
    flush(self);
    for (bool pattern : {false, true}) {
      auto& table = table_of(self, pattern);
      for (auto i = table.begin(); i != table.end();) {
        auto& entry = i->second;
        entry.pending = 0;
        entry.subscribed = false;
        entry.confirmed = false;
        if (entry.empty()) {
          i = table.erase(i);
          continue;
        }
        if (!entry.lost && !entry.active.empty()) {
          entry.lost = true;
          send_status(self, entry, i->first, status_kind::backend_lost,
                      st.sub_failure.text);
        }
        ++i;
      }
    }
  }
  auto now = clock_type::now();
  expire_waiters(self, now);
  schedule_expiry(self, now);
}

// Fails the waiting requests of an entry whose SUBSCRIBE Redis rejected.
// Active sinks, which were subscribed before a reconnect, get backend_lost
// with the reason, and the command is retried with backoff, since the
// cause (an ACL change, for example) may be undone on the server.
void reject_subscription(redis_pointer self, bool pattern,
                         entry_table::iterator i, const failure& reason) {
  auto& st = self->state;
  auto& entry = i->second;
  auto waiting = std::move(entry.waiting);
  entry.waiting.clear();
  entry.subscribed = false;
  for (auto& w : waiting) {
    w.promise.deliver(to_error(reason));
  }
  release_departed(self, entry, waiting);
  if (entry.empty()) {
    table_of(self, pattern).erase(i);
    return;
  }
  if (entry.active.empty()) {
    return;
  }
  auto delay = st.cfg.reconnect_min;
  for (uint32_t k = 0; k < entry.rejections && delay < st.cfg.reconnect_max;
       ++k) {
    delay *= 2;
  }
  delay = std::min(delay, st.cfg.reconnect_max);
  if (entry.rejections++ == 0) {
    entry.lost = true;
    send_status(self, entry, i->first, status_kind::backend_lost,
                "Redis at " + st.cfg.server + " rejected "
                  + (pattern ? "PSUBSCRIBE" : "SUBSCRIBE") + " for "
                  + i->first + " after a reconnect (" + reason.text
                  + "); retrying with backoff up to reconnect_max, and "
                    "events published meanwhile are lost");
  }
  st.log->warn("resubscribe rejected: key = {}, pattern = {}, error = {}, "
               "retry_in = {}ms",
               i->first, pattern, reason.text, delay.count());
  self->delayed_send(self, delay, retry_atom::value, pattern, i->first,
                     st.sub_generation);
}

// Sends the subscription command for `key` again after a rejection, unless
// the key has no sinks left, is subscribed again, or the session changed.
void retry_subscription(redis_pointer self, bool pattern,
                        const std::string& key, uint64_t generation) {
  auto& st = self->state;
  if (generation != st.sub_generation || st.sub_phase != link_phase::ready) {
    // A new session resubscribes every key anyway.
    return;
  }
  auto& table = table_of(self, pattern);
  auto i = table.find(key);
  if (i == table.end() || i->second.subscribed || i->second.active.empty()) {
    return;
  }
  send_subscribe(self, i->second, pattern, key);
}

// Marks an entry as subscribed at Redis: lost sinks get backend_back and
// waiting requests their reply.
void confirm_subscription(redis_pointer self, entry_table::iterator i) {
  auto& st = self->state;
  auto& entry = i->second;
  entry.confirmed = true;
  entry.rejections = 0;
  if (entry.lost) {
    entry.lost = false;
    flush(self);
    send_status(self, entry, i->first, status_kind::backend_back,
                "resubscribed after reconnecting to " + st.cfg.server
                  + "; events published meanwhile are lost");
  }
  auto waiting = std::move(entry.waiting);
  entry.waiting.clear();
  for (auto& w : waiting) {
    if (!is_active(entry, w.sink.address())) {
      entry.active.push_back(w.sink);
    }
    w.promise.deliver(bc_ok_atom::value);
  }
}

void on_confirmation(redis_pointer self, detail::confirmation& c) {
  auto& st = self->state;
  if (c.generation != st.sub_generation
      || st.sub_phase != link_phase::ready) {
    return;
  }
  bool pattern = is_pattern(c.op);
  auto& table = table_of(self, pattern);
  auto i = table.find(c.key);
  if (i == table.end()) {
    return;
  }
  auto& entry = i->second;
  if (entry.pending > 0) {
    --entry.pending;
  }
  if (c.error) {
    st.log->error("subscription command rejected: key = {}, pattern = {}, "
                  "error = {}",
                  c.key, pattern, c.error->text);
  }
  if (entry.pending > 0) {
    // Later commands for the key are still on their way.
    return;
  }
  if (!entry.subscribed) {
    // The last command was an unsubscribe; settle() drops the entry.
    settle(self, pattern, i);
  } else if (c.error) {
    reject_subscription(self, pattern, i, *c.error);
  } else {
    confirm_subscription(self, i);
  }
}

void on_publish_results(redis_pointer self,
                        std::vector<detail::publish_result>& results) {
  auto& st = self->state;
  for (auto& result : results) {
    auto i = st.publishes.find(result.id);
    if (i == st.publishes.end()) {
      continue;
    }
    if (result.error) {
      i->second.deliver(to_error(*result.error));
    } else {
      i->second.deliver(publish_ack{{}, result.receivers});
    }
    st.publishes.erase(i);
  }
}

struct report_handler {
  redis_pointer self;

  void operator()(detail::link_up& x) {
    on_link_up(self, x);
  }

  void operator()(detail::link_down& x) {
    on_link_down(self, x);
  }

  void operator()(detail::confirmation& x) {
    on_confirmation(self, x);
  }

  void operator()(std::vector<detail::publish_result>& x) {
    on_publish_results(self, x);
  }

  void operator()(std::vector<event>& x) {
    route(self, x);
  }
};

// Fails every outstanding request with errc::shutting_down before the actor
// exits.
void fail_outstanding(redis_pointer self) {
  auto& st = self->state;
  auto reason = make_error(errc::shutting_down,
                           "the Redis backend for " + st.cfg.server
                             + " is shutting down");
  for (auto& entry : st.publishes) {
    entry.second.deliver(reason);
  }
  st.publishes.clear();
  for (bool pattern : {false, true}) {
    for (auto& entry : table_of(self, pattern)) {
      for (auto& w : entry.second.waiting) {
        w.promise.deliver(reason);
      }
      entry.second.waiting.clear();
    }
  }
}

caf::result<bc_ok_atom> handle_subscribe(redis_pointer self,
                                         const std::string& key, bool pattern,
                                         const sink_actor& sink) {
  auto& st = self->state;
  if (!sink) {
    return make_error(errc::invalid_option, "sink handle is null");
  }
  auto now = clock_type::now();
  auto& table = table_of(self, pattern);
  auto i = table.find(key);
  if (i == table.end()) {
    if (st.sub_phase == link_phase::down && st.cfg.publish_wait.count() == 0) {
      return subscribe_outage(self);
    }
    i = table.emplace(key, subscription_entry{}).first;
  }
  auto& entry = i->second;
  bool member = is_member(entry, sink.address());
  if (entry.confirmed) {
    if (!is_active(entry, sink.address())) {
      entry.active.push_back(sink);
    }
    if (!member) {
      add_sink_ref(self, sink);
    }
    return bc_ok_atom::value;
  }
  if (st.sub_phase == link_phase::down && st.cfg.publish_wait.count() == 0) {
    return subscribe_outage(self);
  }
  if (!member) {
    add_sink_ref(self, sink);
  }
  auto rp = self->make_response_promise<bc_ok_atom>();
  entry.waiting.push_back(waiter{sink, rp, now + st.cfg.publish_wait});
  if (st.sub_phase == link_phase::ready && !entry.subscribed) {
    send_subscribe(self, entry, pattern, key);
  }
  schedule_expiry(self, now);
  return rp;
}

std::map<std::string, uint64_t> collect_counters(redis_pointer self) {
  auto& st = self->state;
  const auto& c = st.io->counters();
  auto get = [](const std::atomic<uint64_t>& x) {
    return x.load(std::memory_order_relaxed);
  };
  return {
    {"published", get(c.published)},
    {"publish_failed", get(c.publish_failed)},
    {"publish_batches", get(c.publish_batches)},
    {"publishes_in_flight", st.publishes.size()},
    {"rejected", st.rejected},
    {"received", get(c.received)},
    {"forwarded", st.forwarded},
    {"unrouted", st.unrouted},
    {"subscribed_channels", st.channels.size()},
    {"subscribed_patterns", st.patterns.size()},
    {"connection_losses", get(c.connection_losses)},
    {"failed_connects", get(c.failed_connects)},
    {"publish_connected", get(c.publish_connected)},
    {"subscribe_connected", get(c.subscribe_connected)},
    {"publish_retry_ms", get(c.publish_retry_ms)},
    {"subscribe_retry_ms", get(c.subscribe_retry_ms)},
  };
}

redis_actor::behavior_type redis_impl(redis_pointer self, settings cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.io = std::make_unique<io_thread>(st.cfg, self->address());
  st.log->info("backend started: url = {}", st.cfg.description);
  self->set_down_handler([self](caf::down_msg& msg) {
    self->state.log->debug("sink exited: server = {}",
                           self->state.cfg.server);
    remove_sink_everywhere(self, msg.source);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // The supervisor links to this actor. Follow it whatever the reason,
    // because the I/O thread must stop with it.
    self->state.log->info("backend stopping: server = {}, reason = {}",
                          self->state.cfg.server, describe(msg.reason));
    fail_outstanding(self);
    self->quit(msg.reason);
  });
  return {
    [self](bc_publish_atom, std::string& channel,
           std::string& message) -> caf::result<publish_ack> {
      auto& st = self->state;
      if (message.size() > st.cfg.max_message_size) {
        ++st.rejected;
        return make_error(errc::payload_too_large,
                          "message has " + std::to_string(message.size())
                            + " bytes; this redis:// backend accepts at "
                              "most "
                            + std::to_string(st.cfg.max_message_size)
                            + " (URL option max_message_size)");
      }
      auto id = st.next_publish_id++;
      auto rp = self->make_response_promise<publish_ack>();
      st.publishes.emplace(id, rp);
      detail::publish_command cmd{id, std::move(channel), std::move(message),
                                  clock_type::now()};
      if (!st.io->queue_publish(cmd)) {
        st.io->post(std::move(cmd));
      } else if (self->mailbox().empty()) {
        st.io->flush();
      } else if (!st.write_scheduled) {
        // More requests are waiting, so their publishes share one write.
        st.write_scheduled = true;
        self->send(self, write_atom::value);
      }
      return rp;
    },
    [self](bc_subscribe_atom, std::string& key, bool pattern,
           sink_actor& sink, uint64_t history,
           uint64_t) -> caf::result<bc_ok_atom> {
      if (history > 0) {
        return history_unsupported();
      }
      return handle_subscribe(self, key, pattern, sink);
    },
    [self](bc_unsubscribe_atom, std::string& key, bool pattern,
           sink_actor& sink) {
      remove_sink(self, pattern, key, sink.address(),
                  "unsubscribed before Redis confirmed the subscription");
    },
    [](bc_history_atom, std::string&, std::string&,
       uint64_t) -> caf::result<history_page> {
      return history_unsupported();
    },
    [self](bc_stats_atom) { return collect_counters(self); },
    [self](detail::wake_atom) {
      auto reports = self->state.io->take_reports();
      report_handler handler{self};
      for (auto& x : reports) {
        std::visit(handler, x);
      }
      flush(self);
    },
    [self](retry_atom, bool pattern, std::string& key, uint64_t generation) {
      retry_subscription(self, pattern, key, generation);
    },
    [self](write_atom) {
      self->state.write_scheduled = false;
      self->state.io->flush();
    },
    [self](expire_atom) {
      auto now = clock_type::now();
      self->state.expiry_scheduled = false;
      expire_waiters(self, now);
      schedule_expiry(self, now);
    },
  };
}

caf::error tls_unsupported(const url& source) {
  return make_error(errc::unsupported,
                    source.redacted()
                      + ": rediss:// (Redis over TLS) is not supported, "
                        "because Debian's hiredis 0.14, which this backend "
                        "uses, has no TLS. Use redis:// through a TLS "
                        "tunnel such as stunnel, or a server reachable "
                        "without TLS");
}

} // namespace

caf::expected<backend_actor> spawn_backend(caf::actor_system& sys,
                                           const url& source) {
  if (source.scheme == "rediss") {
    return tls_unsupported(source);
  }
  auto cfg = detail::read_settings(source);
  if (!cfg) {
    return cfg.error();
  }
  auto handle = sys.spawn(redis_impl, std::move(*cfg));
  return caf::actor_cast<backend_actor>(handle);
}

void add_to(scheme_table& table) {
  table.add("redis", spawn_backend);
  table.add("redis+unix", spawn_backend);
  table.add("unix", spawn_backend);
  table.add("rediss", spawn_backend);
}

} // namespace broadcaster::redis
