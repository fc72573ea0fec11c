#include "channel.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/log.hpp"

namespace broadcaster::detail {

namespace {

// A batch waiting for one subscriber; `offset` events of it are already
// sent or dropped. An entry with `size` 0 is a status_event that must reach
// the subscriber after the events queued before it.
struct queued_batch {
  caf::message content; // contains one event_batch
  size_t offset = 0;
  size_t size = 0;
};

// FIFO of batches held back for one subscriber: a ring buffer that
// allocates nothing until the first push. std::deque allocates about
// 600 bytes on construction in libstdc++, which every idle subscription
// would pay.
class batch_queue {
public:
  bool empty() const noexcept {
    return size_ == 0;
  }

  queued_batch& front() {
    return slots_[head_];
  }

  void push_back(queued_batch x) {
    if (size_ == slots_.size()) {
      grow();
    }
    slots_[(head_ + size_) % slots_.size()] = std::move(x);
    ++size_;
  }

  void pop_front() {
    slots_[head_] = queued_batch{};
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }

private:
  void grow() {
    std::vector<queued_batch> bigger(std::max<size_t>(4, slots_.size() * 2));
    for (size_t i = 0; i < size_; ++i) {
      bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
    }
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<queued_batch> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
};

// One subscriber actor of the channel. An actor that subscribed several
// times to the same channel is one member with several ids, and receives
// each event once.
struct member {
  caf::strong_actor_ptr handle;
  std::vector<uint64_t> ids;
  subscribe_options options;
  uint64_t in_flight = 0;
  batch_queue queue;
  uint64_t queued = 0;
  uint64_t skipped_pending = 0;
  bool awaiting_replay = false;
};

struct channel_state {
  std::string key;
  bool pattern = false;
  backend_actor backend;
  supervisor_actor supervisor;
  bool subscribed = false;
  // Counts backends handed over by the supervisor, so that a retry meant
  // for an older backend is ignored.
  uint64_t backend_generation = 0;
  std::chrono::milliseconds resubscribe_delay{0};
  bool lost = false;
  std::unordered_map<caf::actor_addr, member> members;
  std::unordered_map<uint64_t, caf::actor_addr> replay_tokens;
  uint64_t next_token = 1;
  std::vector<event> pending;
  bool flush_scheduled = false;
  uint64_t received = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  std::shared_ptr<spdlog::logger> log = logger("channel");

  static inline const char* name = "broadcaster.channel";
};

using channel_pointer = channel_actor::stateful_pointer<channel_state>;

void send_raw(channel_pointer self, member& m, caf::message content) {
  m.handle->enqueue(self->ctrl(), caf::make_message_id(), std::move(content),
                    self->context());
}

// Sends the member the count of events dropped since its last batch, if
// any.
void send_skipped(channel_pointer self, member& m) {
  if (m.skipped_pending > 0) {
    send_raw(self, m,
             caf::make_message(
               events_skipped{self->state.key, m.skipped_pending}));
    m.skipped_pending = 0;
  }
}

// Sends up to the subscriber's window from its queue.
void drain(channel_pointer self, member& m) {
  auto& st = self->state;
  while (!m.queue.empty() && m.in_flight < m.options.max_in_flight) {
    auto& front = m.queue.front();
    auto window = static_cast<size_t>(m.options.max_in_flight - m.in_flight);
    auto remaining = front.size - front.offset;
    // Sending part of a batch copies its events, so a batch that does not
    // fit waits for the acknowledgements still due. It is split only when
    // nothing is in flight or the queue is over its limit, so the window
    // still fills before any event is dropped.
    if (remaining > window && m.in_flight > 0
        && m.queued <= m.options.max_queued) {
      break;
    }
    send_skipped(self, m);
    auto count = std::min(remaining, window);
    if (front.offset == 0 && count == front.size) {
      send_raw(self, m, front.content);
    } else {
      const auto& all = front.content.get_as<event_batch>(0).events;
      event_batch part;
      part.events.assign(all.begin() + front.offset,
                         all.begin() + front.offset + count);
      send_raw(self, m, caf::make_message(std::move(part)));
    }
    front.offset += count;
    m.in_flight += count;
    m.queued -= count;
    st.delivered += count;
    if (front.offset == front.size) {
      m.queue.pop_front();
    }
  }
}

void send_status(channel_pointer self, member& m, status_kind kind,
                 bool may_be_lost, const std::string& reason) {
  send_raw(self, m,
           caf::make_message(
             status_event{kind, self->state.key, may_be_lost, reason}));
}

// Sends a backend status after the events already queued for the member,
// so that a subscriber receives backend_lost only after the events published
// before the loss.
void send_status_in_order(channel_pointer self, member& m,
                          caf::message status) {
  if (m.queue.empty() && m.skipped_pending == 0) {
    send_raw(self, m, std::move(status));
    return;
  }
  m.queue.push_back(queued_batch{std::move(status), 0, 0});
  drain(self, m);
}

// Ends a member's subscriptions and reports each id to the supervisor.
void remove_member(channel_pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto i = st.members.find(addr);
  if (i == st.members.end()) {
    return;
  }
  for (auto id : i->second.ids) {
    self->send(st.supervisor, bc_ended_atom::value, id);
  }
  self->demonitor(addr);
  st.members.erase(i);
}

// Queues or sends one batch to one member, applying its overflow policy.
// Returns false if the member was disconnected.
bool deliver(channel_pointer self, const caf::actor_addr& addr, member& m,
             const caf::message& content, size_t size) {
  auto& st = self->state;
  m.queue.push_back(queued_batch{content, 0, size});
  m.queued += size;
  // Fill the window first, so that only events beyond both limits are
  // dropped, however large the batch.
  drain(self, m);
  while (m.queued > m.options.max_queued) {
    if (m.options.overflow == overflow_policy::disconnect) {
      st.log->warn("subscriber disconnected: channel = {}, queued = {}, "
                   "max_queued = {}",
                   st.key, m.queued, m.options.max_queued);
      st.dropped += m.queued;
      send_status(self, m, status_kind::closed, true,
                  "subscriber fell behind by more than max_queued = "
                    + std::to_string(m.options.max_queued) + " events");
      remove_member(self, addr);
      return false;
    }
    auto& front = m.queue.front();
    if (front.size == 0) {
      // A status is never dropped. The events before it are gone, so it
      // goes out now, after the notice that counts them.
      send_skipped(self, m);
      send_raw(self, m, front.content);
      m.queue.pop_front();
      continue;
    }
    auto excess = static_cast<size_t>(m.queued - m.options.max_queued);
    auto take = std::min(excess, front.size - front.offset);
    front.offset += take;
    m.queued -= take;
    m.skipped_pending += take;
    st.dropped += take;
    if (front.offset == front.size) {
      m.queue.pop_front();
    }
  }
  return true;
}

void flush(channel_pointer self) {
  auto& st = self->state;
  if (st.pending.empty()) {
    return;
  }
  auto size = st.pending.size();
  auto content = caf::make_message(event_batch{std::move(st.pending)});
  st.pending.clear();
  // deliver() may erase a member, so members off the fast path are
  // handled after the loop.
  std::vector<caf::actor_addr> slow;
  for (auto& entry : st.members) {
    auto& m = entry.second;
    if (m.awaiting_replay) {
      // These events are part of the replay that is still on its way.
      continue;
    }
    if (m.queue.empty() && m.skipped_pending == 0
        && m.in_flight + size <= m.options.max_in_flight) {
      // Fast path: the subscriber keeps up, so it shares the message.
      send_raw(self, m, content);
      m.in_flight += size;
      st.delivered += size;
      continue;
    }
    slow.push_back(entry.first);
  }
  for (const auto& addr : slow) {
    auto i = st.members.find(addr);
    if (i != st.members.end()) {
      deliver(self, addr, i->second, content, size);
    }
  }
}

// Subscribes at a restarted backend. On failure it tries again with
// exponential backoff, from 100 ms up to 10 s, until it succeeds or the
// supervisor hands over a newer backend.
void resubscribe(channel_pointer self) {
  auto& st = self->state;
  auto generation = st.backend_generation;
  self
    ->request(st.backend, caf::infinite, bc_subscribe_atom::value, st.key,
              st.pattern, caf::actor_cast<sink_actor>(self), uint64_t{0},
              uint64_t{0})
    .then(
      [self, generation](bc_ok_atom) {
        auto& st = self->state;
        if (generation != st.backend_generation) {
          return;
        }
        st.subscribed = true;
        st.lost = false;
        st.resubscribe_delay = std::chrono::milliseconds{0};
        st.log->info("resubscribed after backend restart: channel = {}",
                     st.key);
        auto status = caf::make_message(status_event{
          status_kind::backend_back, st.key, true,
          "backend restarted; events published while it was down are lost"});
        for (auto& entry : st.members) {
          send_status_in_order(self, entry.second, status);
        }
      },
      [self, generation](caf::error& err) {
        auto& st = self->state;
        if (generation != st.backend_generation) {
          return;
        }
        auto next = st.resubscribe_delay * 2;
        st.resubscribe_delay = std::clamp(next, std::chrono::milliseconds{100},
                                          std::chrono::milliseconds{10000});
        st.log->warn("resubscribe failed: channel = {}, error = {}, "
                     "retry in = {}ms",
                     st.key, describe(err), st.resubscribe_delay.count());
        self->delayed_send(self, st.resubscribe_delay, bc_backend_atom::value,
                           generation);
      });
}

void fail_attach(channel_pointer self, const caf::actor_addr& addr,
                 uint64_t id) {
  auto& st = self->state;
  auto i = st.members.find(addr);
  if (i == st.members.end()) {
    self->send(st.supervisor, bc_ended_atom::value, id);
    return;
  }
  auto& ids = i->second.ids;
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  self->send(st.supervisor, bc_ended_atom::value, id);
  if (ids.empty()) {
    self->demonitor(addr);
    st.members.erase(i);
  }
}

caf::error check_options(const subscribe_options& opts) {
  if (opts.max_in_flight == 0) {
    return make_error(errc::invalid_option,
                      "max_in_flight must be at least 1");
  }
  if (opts.max_queued == 0) {
    return make_error(errc::invalid_option, "max_queued must be at least 1");
  }
  return caf::none;
}

channel_actor::behavior_type channel_impl(channel_pointer self,
                                          supervisor_actor supervisor,
                                          std::string key, bool pattern,
                                          backend_actor backend) {
  auto& st = self->state;
  st.key = std::move(key);
  st.pattern = pattern;
  st.backend = std::move(backend);
  st.supervisor = std::move(supervisor);
  self->set_down_handler([self](caf::down_msg& msg) {
    self->state.log->debug("subscriber exited: channel = {}",
                           self->state.key);
    remove_member(self, msg.source);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    flush(self);
    for (auto& entry : st.members) {
      send_status(self, entry.second, status_kind::closed, false,
                  "broadcast supervisor exited");
    }
    st.members.clear();
    if (st.backend) {
      self->send(st.backend, bc_unsubscribe_atom::value, st.key, st.pattern,
                 caf::actor_cast<sink_actor>(self));
    }
    self->quit(msg.reason);
  });
  return {
    // -- from the supervisor --------------------------------------------------
    [self](bc_attach_atom, uint64_t id, caf::actor subscriber,
           subscribe_options opts) -> caf::result<subscription> {
      auto& st = self->state;
      subscription reply{id, st.key, st.pattern};
      if (auto err = check_options(opts)) {
        self->send(st.supervisor, bc_ended_atom::value, id);
        return err;
      }
      if (!subscriber) {
        self->send(st.supervisor, bc_ended_atom::value, id);
        return make_error(errc::invalid_option, "subscriber handle is null");
      }
      auto addr = subscriber.address();
      auto i = st.members.find(addr);
      if (i != st.members.end()) {
        if (opts.history > 0) {
          self->send(st.supervisor, bc_ended_atom::value, id);
          return make_error(errc::invalid_option,
                            "the actor is already subscribed to \"" + st.key
                              + "\"; history applies to its first "
                                "subscription only");
        }
        i->second.ids.push_back(id);
        return reply;
      }
      if (!st.backend) {
        self->send(st.supervisor, bc_ended_atom::value, id);
        return make_error(errc::backend_unavailable,
                          "the backend is restarting; subscribe again later");
      }
      auto& m = st.members[addr];
      m.handle = caf::actor_cast<caf::strong_actor_ptr>(subscriber);
      m.ids.push_back(id);
      m.options = opts;
      self->monitor(subscriber);
      if (st.subscribed && opts.history == 0) {
        return reply;
      }
      uint64_t token = 0;
      if (opts.history > 0) {
        token = st.next_token++;
        st.replay_tokens.emplace(token, addr);
        m.awaiting_replay = true;
      }
      auto rp = self->make_response_promise<subscription>();
      self
        ->request(st.backend, caf::infinite, bc_subscribe_atom::value,
                  st.key, st.pattern, caf::actor_cast<sink_actor>(self),
                  opts.history, token)
        .then(
          [self, rp, reply](bc_ok_atom) mutable {
            auto& st = self->state;
            if (!st.subscribed) {
              st.subscribed = true;
              st.log->info("subscribed: channel = {}, pattern = {}", st.key,
                           st.pattern);
            }
            rp.deliver(reply);
          },
          [self, rp, addr, id, token](caf::error& err) mutable {
            auto& st = self->state;
            st.log->warn("subscribe failed: channel = {}, error = {}",
                         st.key, describe(err));
            st.replay_tokens.erase(token);
            fail_attach(self, addr, id);
            rp.deliver(std::move(err));
          });
      return rp;
    },
    [self](bc_detach_atom, uint64_t id) -> caf::result<bc_ok_atom> {
      auto& st = self->state;
      for (auto i = st.members.begin(); i != st.members.end(); ++i) {
        auto& ids = i->second.ids;
        auto j = std::find(ids.begin(), ids.end(), id);
        if (j == ids.end()) {
          continue;
        }
        ids.erase(j);
        self->send(st.supervisor, bc_ended_atom::value, id);
        if (ids.empty()) {
          self->demonitor(i->first);
          st.members.erase(i);
        }
        return bc_ok_atom::value;
      }
      return make_error(errc::subscription_not_found,
                        "no subscription " + std::to_string(id)
                          + " on channel \"" + st.key + "\"");
    },
    [self](bc_retire_atom) {
      auto& st = self->state;
      flush(self);
      st.log->info("unsubscribed: channel = {}, pattern = {}", st.key,
                   st.pattern);
      if (st.backend) {
        self->send(st.backend, bc_unsubscribe_atom::value, st.key, st.pattern,
                   caf::actor_cast<sink_actor>(self));
      }
      for (auto& entry : st.members) {
        send_status(self, entry.second, status_kind::closed, false,
                    "channel closed");
      }
      st.members.clear();
      self->quit();
    },
    [self](bc_backend_atom, backend_actor backend) {
      auto& st = self->state;
      st.backend = std::move(backend);
      ++st.backend_generation;
      st.resubscribe_delay = std::chrono::milliseconds{0};
      resubscribe(self);
    },
    [self](bc_backend_atom, uint64_t generation) {
      auto& st = self->state;
      if (generation == st.backend_generation && st.backend) {
        resubscribe(self);
      }
    },
    [self](bc_backend_atom, std::string& reason) {
      auto& st = self->state;
      flush(self);
      st.backend = nullptr;
      st.subscribed = false;
      st.lost = true;
      auto status = caf::make_message(
        status_event{status_kind::backend_lost, st.key, true, reason});
      for (auto& entry : st.members) {
        send_status_in_order(self, entry.second, status);
      }
    },
    [self](bc_stats_atom) {
      auto& st = self->state;
      channel_stats result;
      result.channel = st.key;
      result.pattern = st.pattern;
      result.subscribers = st.members.size();
      result.received = st.received;
      result.delivered = st.delivered;
      result.dropped = st.dropped;
      for (auto& entry : st.members) {
        result.max_queued = std::max(result.max_queued, entry.second.queued);
      }
      return result;
    },
    // -- from subscribers -----------------------------------------------------
    [self](bc_ack_atom, uint64_t count) {
      auto& st = self->state;
      auto addr = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto i = st.members.find(addr);
      if (i == st.members.end()) {
        return;
      }
      auto& m = i->second;
      m.in_flight -= std::min(count, m.in_flight);
      drain(self, m);
    },
    // -- from the backend -----------------------------------------------------
    [self](bc_events_atom, std::vector<event>& events) {
      auto& st = self->state;
      st.received += events.size();
      if (st.pending.empty()) {
        st.pending = std::move(events);
      } else {
        st.pending.insert(st.pending.end(),
                          std::make_move_iterator(events.begin()),
                          std::make_move_iterator(events.end()));
      }
      if (st.pending.size() >= max_batch_size || self->mailbox().empty()) {
        flush(self);
      } else if (!st.flush_scheduled) {
        // More messages are waiting; batch the events they may carry.
        st.flush_scheduled = true;
        self->send(self, bc_flush_atom::value);
      }
    },
    [self](bc_flush_atom) {
      self->state.flush_scheduled = false;
      flush(self);
    },
    [self](bc_replay_atom, uint64_t token, std::vector<event>& events) {
      auto& st = self->state;
      // Live events batched so far precede the replay in the backend's
      // order, so they go out first, while the member still skips them.
      flush(self);
      auto t = st.replay_tokens.find(token);
      if (t == st.replay_tokens.end()) {
        return;
      }
      auto addr = t->second;
      st.replay_tokens.erase(t);
      auto i = st.members.find(addr);
      if (i == st.members.end()) {
        return;
      }
      auto& m = i->second;
      m.awaiting_replay = false;
      // The replay goes out even when it is empty: a caf:// forwarder on
      // another node tells the stored events from the live ones only by
      // this first batch.
      auto size = events.size();
      deliver(self, addr, m,
              caf::make_message(event_batch{std::move(events)}), size);
    },
    [self](status_event& status) {
      auto& st = self->state;
      flush(self);
      status.channel = st.key;
      st.lost = status.kind == status_kind::backend_lost;
      auto content = caf::make_message(std::move(status));
      for (auto& entry : st.members) {
        send_status_in_order(self, entry.second, content);
      }
    },
  };
}

} // namespace

channel_actor spawn_channel(caf::actor_system& sys,
                            const supervisor_actor& supervisor,
                            std::string key, bool pattern,
                            backend_actor backend) {
  return sys.spawn(channel_impl, supervisor, std::move(key), pattern,
                   std::move(backend));
}

} // namespace broadcaster::detail
