#include "actors.hpp"

#include <cstdio>

#include <caf/all.hpp>

namespace bench {

namespace {

struct subscriber_state {
  uint64_t unreported = 0;
  uint64_t batches = 0;
  uint64_t bytes = 0;

  static inline const char* name = "bench.subscriber";
};

using subscriber_pointer = caf::stateful_actor<subscriber_state>*;

caf::message_handler subscribe_handler(subscriber_pointer self,
                                       broadcaster::broadcast_actor bc,
                                       std::string channel,
                                       std::shared_ptr<counters> c) {
  return {
    [self, bc, channel, c](go_atom) {
      self
        ->request(bc, caf::infinite, broadcaster::bc_subscribe_atom::value,
                  channel, caf::actor_cast<caf::actor>(self),
                  broadcaster::subscribe_options{})
        .then(
          [c](const broadcaster::subscription&) {
            c->subscribed.fetch_add(1, std::memory_order_relaxed);
          },
          [c, channel](caf::error& err) {
            if (c->failed.fetch_add(1) == 0) {
              std::fprintf(stderr, "subscribe to %s failed: %s\n",
                           channel.c_str(),
                           broadcaster::describe(err).c_str());
            }
          });
    },
  };
}

// Does what broadcaster::event_handler() does (visit each event, then
// acknowledge the batch) and also counts batches, so that the harness can
// report how many events one message carried.
caf::behavior counting_subscriber(subscriber_pointer self,
                                  broadcaster::broadcast_actor bc,
                                  std::string channel,
                                  std::shared_ptr<counters> c) {
  caf::message_handler events{
    [self, c](const broadcaster::event_batch& batch) {
      auto& st = self->state;
      for (const auto& ev : batch.events) {
        // Reading the payload size keeps the loop from being optimized
        // away without adding work beyond what a real handler does.
        st.bytes += ev.message.size();
      }
      st.unreported += batch.events.size();
      ++st.batches;
      if (st.unreported >= report_every) {
        c->delivered.fetch_add(st.unreported, std::memory_order_relaxed);
        c->batches.fetch_add(st.batches, std::memory_order_relaxed);
        st.unreported = 0;
        st.batches = 0;
      }
      broadcaster::acknowledge(self, batch.events.size());
    },
    [c](const broadcaster::events_skipped& x) {
      c->skipped.fetch_add(x.count, std::memory_order_relaxed);
    },
    [](const broadcaster::status_event&) {},
  };
  return events.or_else(
    subscribe_handler(self, std::move(bc), std::move(channel), c));
}

caf::behavior stalled_subscriber(subscriber_pointer self,
                                 broadcaster::broadcast_actor bc,
                                 std::string channel,
                                 std::shared_ptr<counters> c) {
  caf::message_handler ignore{
    [](const broadcaster::event_batch&) {},
    [](const broadcaster::events_skipped&) {},
    [](const broadcaster::status_event&) {},
  };
  return ignore.or_else(
    subscribe_handler(self, std::move(bc), std::move(channel), c));
}

caf::behavior timing_subscriber(subscriber_pointer self,
                                broadcaster::broadcast_actor bc,
                                std::string channel,
                                std::shared_ptr<counters> c,
                                std::shared_ptr<latency_log> log) {
  auto on_event = [log, c](const broadcaster::event& ev) {
    auto sent = read_stamp(ev.message);
    log->samples.emplace_back(sent, now_ns() - sent);
    c->delivered.fetch_add(1, std::memory_order_relaxed);
  };
  return broadcaster::event_handler(self, on_event)
    .or_else(subscribe_handler(self, std::move(bc), std::move(channel), c));
}

caf::behavior subscriber_impl(subscriber_pointer self,
                              broadcaster::broadcast_actor bc,
                              std::string channel, subscriber_kind kind,
                              std::shared_ptr<counters> c,
                              std::shared_ptr<latency_log> log) {
  switch (kind) {
    case subscriber_kind::stalled:
      return stalled_subscriber(self, std::move(bc), std::move(channel), c);
    case subscriber_kind::timing:
      return timing_subscriber(self, std::move(bc), std::move(channel), c,
                               std::move(log));
    case subscriber_kind::counting:
      break;
  }
  return counting_subscriber(self, std::move(bc), std::move(channel), c);
}

// -- publisher ----------------------------------------------------------------

struct publisher_state {
  publisher_settings settings;
  uint64_t sent = 0;
  size_t outstanding = 0;
  size_t next_channel = 0;
  bool tick_pending = false;

  static inline const char* name = "bench.publisher";
};

using publisher_pointer = caf::stateful_actor<publisher_state>*;

// Sends publishes until `window` are unacknowledged or the subscribers are
// `max_lag` deliveries behind. In the latter case it polls again 50 us
// later.
// Publishes go out with send(), not request(), and the acknowledgements
// arrive as ordinary messages. CAF 0.17 keeps the handlers of pending
// requests in detail::unordered_flat_map, a vector searched linearly, so a
// window of requests would cost the publisher time linear in the window
// per reply.
void pump(publisher_pointer self) {
  auto& st = self->state;
  auto& s = st.settings;
  while (st.outstanding < s.window) {
    auto delivered = s.c->delivered.load(std::memory_order_relaxed);
    if (st.sent * s.deliveries_per_publish > delivered + s.max_lag) {
      if (!st.tick_pending) {
        st.tick_pending = true;
        self->delayed_send(self, std::chrono::microseconds{50},
                           tick_atom::value);
      }
      return;
    }
    const auto& channel = s.channels[st.next_channel];
    st.next_channel = (st.next_channel + 1) % s.channels.size();
    ++st.sent;
    ++st.outstanding;
    self->send(s.bc, broadcaster::bc_publish_atom::value, channel, s.payload);
  }
}

caf::behavior publisher_impl(publisher_pointer self,
                             publisher_settings settings) {
  self->state.settings = std::move(settings);
  return {
    [self](go_atom) { pump(self); },
    [self](tick_atom) {
      self->state.tick_pending = false;
      pump(self);
    },
    [self](const broadcaster::publish_ack&) {
      --self->state.outstanding;
      self->state.settings.c->published.fetch_add(1,
                                                  std::memory_order_relaxed);
      pump(self);
    },
    [self](caf::error& err) {
      --self->state.outstanding;
      if (self->state.settings.c->failed.fetch_add(1) == 0) {
        std::fprintf(stderr, "publish failed: %s\n",
                     broadcaster::describe(err).c_str());
      }
      pump(self);
    },
  };
}

} // namespace

caf::actor spawn_subscriber(caf::actor_system& sys,
                            broadcaster::broadcast_actor bc,
                            std::string channel, subscriber_kind kind,
                            std::shared_ptr<counters> c,
                            std::shared_ptr<latency_log> log) {
  return sys.spawn(subscriber_impl, std::move(bc), std::move(channel), kind,
                   std::move(c), std::move(log));
}

caf::actor spawn_publisher(caf::actor_system& sys, publisher_settings s) {
  return sys.spawn(publisher_impl, std::move(s));
}

} // namespace bench
