#include "broadcaster/memory_backend.hpp"

#include <algorithm>
#include <charconv>
#include <list>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/glob.hpp"
#include "broadcaster/log.hpp"
#include "channel.hpp"

namespace broadcaster {

namespace {

struct memory_settings {
  uint64_t retention = 1000;
  uint64_t max_message_size = 16 * 1024 * 1024;
  uint64_t max_channels = 100000;
};

struct stored_event {
  uint64_t seq;
  event ev;
};

// The stored events of one channel, oldest first: a ring buffer that,
// once full, overwrites its oldest slot by assignment, so the strings of
// that slot keep their buffers and storing an event needs no allocation.
class event_ring {
public:
  size_t size() const noexcept {
    return count_;
  }

  /// Returns the event at `index`, counted from the oldest.
  const stored_event& operator[](size_t index) const {
    return slots_[(head_ + index) % slots_.size()];
  }

  /// Appends an event, overwriting the oldest when `capacity` are stored.
  void push(uint64_t seq, const event& ev, size_t capacity) {
    if (slots_.size() < capacity) {
      // Not full yet, so head_ is still 0.
      slots_.push_back(stored_event{seq, ev});
      ++count_;
      return;
    }
    auto& oldest = slots_[head_];
    oldest.seq = seq;
    oldest.ev = ev;
    head_ = (head_ + 1) % slots_.size();
  }

private:
  std::vector<stored_event> slots_;
  size_t head_ = 0;
  size_t count_ = 0;
};

struct stored_channel {
  event_ring events;
  std::list<std::string>::iterator lru;
};

struct pattern_sink {
  std::string glob;
  sink_actor sink;
};

struct memory_state {
  memory_settings settings;
  uint64_t seq = 0;
  std::unordered_map<std::string, stored_channel> store;
  // Channel names, least recently published first.
  std::list<std::string> lru;
  // Usually one sink per channel; two while a retiring channel actor and
  // its successor overlap.
  std::unordered_map<std::string, std::vector<sink_actor>> exact;
  std::vector<pattern_sink> patterns;
  // Events batched per sink until the mailbox is empty.
  std::vector<std::pair<sink_actor, std::vector<event>>> pending;
  std::unordered_map<caf::actor_addr, size_t> pending_index;
  bool flush_scheduled = false;
  uint64_t published = 0;
  uint64_t forwarded = 0;
  uint64_t rejected = 0;
  uint64_t evicted_channels = 0;
  std::shared_ptr<spdlog::logger> log = logger("memory");

  static inline const char* name = "broadcaster.memory";
};

using memory_actor = backend_actor::extend<caf::reacts_to<bc_flush_atom>>;
using memory_pointer = memory_actor::stateful_pointer<memory_state>;

void flush(memory_pointer self) {
  auto& st = self->state;
  for (auto& entry : st.pending) {
    if (!entry.second.empty()) {
      self->send(entry.first, bc_events_atom::value, std::move(entry.second));
    }
  }
  st.pending.clear();
  st.pending_index.clear();
}

void enqueue(memory_pointer self, const sink_actor& sink, event ev) {
  auto& st = self->state;
  auto addr = sink.address();
  auto i = st.pending_index.find(addr);
  if (i == st.pending_index.end()) {
    i = st.pending_index.emplace(addr, st.pending.size()).first;
    st.pending.emplace_back(sink, std::vector<event>{});
  }
  auto& batch = st.pending[i->second].second;
  batch.push_back(std::move(ev));
  ++st.forwarded;
  if (batch.size() >= detail::max_batch_size) {
    self->send(sink, bc_events_atom::value, std::move(batch));
    batch.clear();
  }
}

void schedule_flush(memory_pointer self) {
  auto& st = self->state;
  if (st.pending.empty()) {
    return;
  }
  if (self->mailbox().empty()) {
    flush(self);
  } else if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, bc_flush_atom::value);
  }
}

void store_event(memory_pointer self, const std::string& channel,
                 uint64_t seq, const event& ev) {
  auto& st = self->state;
  if (st.settings.retention == 0) {
    return;
  }
  auto i = st.store.find(channel);
  if (i == st.store.end()) {
    if (st.store.size() >= st.settings.max_channels && !st.lru.empty()) {
      st.store.erase(st.lru.front());
      st.lru.pop_front();
      ++st.evicted_channels;
    }
    i = st.store.emplace(channel, stored_channel{}).first;
    i->second.lru = st.lru.insert(st.lru.end(), channel);
  } else {
    st.lru.splice(st.lru.end(), st.lru, i->second.lru);
  }
  i->second.events.push(seq, ev, st.settings.retention);
}

// Returns the last `count` stored events of `key` (or of every channel
// matching the pattern `key`), oldest first.
std::vector<event> last_events(memory_pointer self, const std::string& key,
                               bool pattern, uint64_t count) {
  auto& st = self->state;
  std::vector<event> result;
  if (!pattern) {
    auto i = st.store.find(key);
    if (i == st.store.end()) {
      return result;
    }
    auto& events = i->second.events;
    auto n = std::min<uint64_t>(count, events.size());
    for (auto j = events.size() - n; j < events.size(); ++j) {
      result.push_back(events[j].ev);
    }
    return result;
  }
  std::vector<const stored_event*> matches;
  for (auto& entry : st.store) {
    if (glob_match(key, entry.first)) {
      auto& events = entry.second.events;
      auto n = std::min<uint64_t>(count, events.size());
      for (auto j = events.size() - n; j < events.size(); ++j) {
        matches.push_back(&events[j]);
      }
    }
  }
  std::sort(matches.begin(), matches.end(),
            [](auto* x, auto* y) { return x->seq < y->seq; });
  auto n = std::min<uint64_t>(count, matches.size());
  for (auto j = matches.end() - static_cast<std::ptrdiff_t>(n);
       j != matches.end(); ++j) {
    result.push_back((*j)->ev);
    result.back().pattern = key;
  }
  return result;
}

memory_actor::behavior_type memory_impl(memory_pointer self,
                                        memory_settings settings) {
  self->state.settings = settings;
  return {
    [self](bc_publish_atom, std::string& channel,
           std::string& message) -> caf::result<publish_ack> {
      auto& st = self->state;
      if (message.size() > st.settings.max_message_size) {
        ++st.rejected;
        return make_error(errc::payload_too_large,
                          "message has " + std::to_string(message.size())
                            + " bytes; memory:// accepts at most "
                            + std::to_string(st.settings.max_message_size)
                            + " (URL option max_message_size)");
      }
      auto seq = ++st.seq;
      ++st.published;
      event ev{channel, std::move(message), std::to_string(seq), {}};
      store_event(self, channel, seq, ev);
      int64_t receivers = 0;
      for (auto& pattern : st.patterns) {
        if (glob_match(pattern.glob, channel)) {
          event copy = ev;
          copy.pattern = pattern.glob;
          enqueue(self, pattern.sink, std::move(copy));
          ++receivers;
        }
      }
      publish_ack ack{ev.id, 0};
      if (auto i = st.exact.find(channel); i != st.exact.end()) {
        auto& sinks = i->second;
        for (size_t k = 0; k + 1 < sinks.size(); ++k) {
          enqueue(self, sinks[k], ev);
        }
        if (!sinks.empty()) {
          enqueue(self, sinks.back(), std::move(ev));
        }
        receivers += static_cast<int64_t>(sinks.size());
      }
      ack.receivers = receivers;
      schedule_flush(self);
      return ack;
    },
    [self](bc_subscribe_atom, std::string& key, bool pattern,
           sink_actor& sink, uint64_t history,
           uint64_t token) -> caf::result<bc_ok_atom> {
      auto& st = self->state;
      if (pattern) {
        if (auto err = validate_glob(key)) {
          return err;
        }
        auto found = std::any_of(st.patterns.begin(), st.patterns.end(),
                                 [&](const pattern_sink& x) {
                                   return x.glob == key && x.sink == sink;
                                 });
        if (!found) {
          st.patterns.push_back(pattern_sink{key, sink});
        }
      } else {
        auto& sinks = st.exact[key];
        if (std::find(sinks.begin(), sinks.end(), sink) == sinks.end()) {
          sinks.push_back(sink);
        }
      }
      if (history > 0) {
        // Events batched for this sink precede the snapshot; they must
        // reach it before the replay does.
        flush(self);
        self->send(sink, bc_replay_atom::value, token,
                   last_events(self, key, pattern, history));
      }
      return bc_ok_atom::value;
    },
    [self](bc_unsubscribe_atom, std::string& key, bool pattern,
           sink_actor& sink) {
      auto& st = self->state;
      if (pattern) {
        auto& ps = st.patterns;
        ps.erase(std::remove_if(ps.begin(), ps.end(),
                                [&](const pattern_sink& x) {
                                  return x.glob == key && x.sink == sink;
                                }),
                 ps.end());
        return;
      }
      auto i = st.exact.find(key);
      if (i == st.exact.end()) {
        return;
      }
      auto& sinks = i->second;
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
      if (sinks.empty()) {
        st.exact.erase(i);
      }
    },
    [self](bc_history_atom, std::string& channel, std::string& before,
           uint64_t limit) -> caf::result<history_page> {
      auto& st = self->state;
      uint64_t before_seq = UINT64_MAX;
      if (!before.empty()) {
        auto first = before.data();
        auto last = first + before.size();
        auto [ptr, ec] = std::from_chars(first, last, before_seq);
        if (ec != std::errc{} || ptr != last) {
          return make_error(errc::invalid_id,
                            "\"" + before
                              + "\" is not a memory:// event id; ids are "
                                "decimal sequence numbers");
        }
      }
      history_page page;
      auto i = st.store.find(channel);
      if (i == st.store.end()) {
        return page;
      }
      auto& events = i->second.events;
      // Events are in increasing sequence order: find the first one at or
      // after `before_seq` by bisection, then walk backwards.
      size_t end = 0;
      size_t last = events.size();
      while (end < last) {
        auto middle = end + (last - end) / 2;
        if (events[middle].seq < before_seq) {
          end = middle + 1;
        } else {
          last = middle;
        }
      }
      auto available = static_cast<uint64_t>(end);
      auto n = std::min(limit, available);
      for (uint64_t k = 0; k < n; ++k) {
        page.events.push_back(events[end - 1 - k].ev);
      }
      page.more = available > n;
      return page;
    },
    [self](bc_stats_atom) {
      auto& st = self->state;
      uint64_t retained = 0;
      for (auto& entry : st.store) {
        retained += entry.second.events.size();
      }
      return std::map<std::string, uint64_t>{
        {"published", st.published},
        {"forwarded", st.forwarded},
        {"rejected", st.rejected},
        {"retained_events", retained},
        {"retained_channels", st.store.size()},
        {"evicted_channels", st.evicted_channels},
        {"subscribed_channels", st.exact.size()},
        {"subscribed_patterns", st.patterns.size()},
      };
    },
    [self](bc_flush_atom) {
      self->state.flush_scheduled = false;
      flush(self);
    },
  };
}

} // namespace

caf::expected<backend_actor> spawn_memory_backend(caf::actor_system& sys,
                                                  const url& source) {
  if (!source.host.empty() || source.has_port || !source.user.empty()
      || source.has_password || (!source.path.empty() && source.path != "/")) {
    return make_error(errc::invalid_url,
                      "memory:// takes no host, port, user or path, got "
                        + source.redacted()
                        + "; use memory:// with options such as "
                          "memory://?retention=1000");
  }
  memory_settings settings;
  url_options opts{source, "memory://"};
  if (auto err = opts.get("retention", settings.retention, 0, 10'000'000)) {
    return err;
  }
  if (auto err = opts.get("max_message_size", settings.max_message_size, 1,
                          1ull << 31)) {
    return err;
  }
  if (auto err = opts.get("max_channels", settings.max_channels, 1,
                          100'000'000)) {
    return err;
  }
  if (auto err = opts.finish()) {
    return err;
  }
  auto handle = sys.spawn(memory_impl, settings);
  return caf::actor_cast<backend_actor>(handle);
}

} // namespace broadcaster
