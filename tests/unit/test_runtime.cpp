#define BOOST_TEST_MODULE runtime
#include <boost/test/unit_test.hpp>

#include "helpers.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

namespace {

struct fixture : memory_fixture {
  channel_stats channel(const std::string& name) {
    auto st = stats_blocking(sys, bc, deadline());
    require_ok(st);
    for (auto& ch : st->channels) {
      if (ch.channel == name) {
        return ch;
      }
    }
    BOOST_FAIL("no channel " + name + " in stats");
    return {};
  }

  // Waits for `count` (ok_atom, n) messages from counters and publishers.
  void await_done(int count) {
    for (int i = 0; i < count; ++i) {
      bool ok = false;
      self->receive([&](caf::ok_atom, uint64_t) { ok = true; },
                    [&](failed_atom, const std::string& what) {
                      BOOST_FAIL(what);
                    },
                    caf::after(scaled(120s)) >> [] {});
      BOOST_REQUIRE_MESSAGE(ok, "a counter or publisher did not finish");
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(slow_subscribers, fixture)

BOOST_AUTO_TEST_CASE(stalled_subscriber_is_bounded_and_told_what_it_missed) {
  constexpr uint64_t total = 100000;
  constexpr uint32_t window = 64;
  constexpr uint32_t queue = 256;
  subscribe_options slow;
  slow.max_in_flight = window;
  slow.max_queued = queue;
  // This subscription is never read until the end: it stalls.
  auto stalled = subscribe_blocking(sys, bc, "flood", slow, deadline());
  require_ok(stalled);
  for (int i = 0; i < 3; ++i) {
    auto c = sys.spawn(counter, me(), total);
    BOOST_REQUIRE(subscribe(sys, bc, c, "flood", lossless()));
  }
  sys.spawn(number_publisher, bc, std::string{"flood"}, total, 256, me());
  // The fast subscribers finish although one subscriber takes nothing.
  await_done(4);
  auto st = channel("flood");
  BOOST_TEST(st.subscribers == 4u);
  BOOST_TEST(st.max_queued == queue);
  BOOST_TEST(st.dropped == total - window - queue);
  BOOST_TEST(st.delivered == 3 * total + window + queue - queue);
  // Now the stalled subscriber reads: the window, a skip notice, then the
  // queued tail, in order.
  uint64_t received = 0;
  int64_t last = -1;
  std::vector<uint64_t> notices;
  stalled->on_notice([&](const notice& n) {
    if (auto skip = std::get_if<events_skipped>(&n)) {
      notices.push_back(skip->count);
    }
  });
  while (received < window + queue) {
    auto ev = stalled->next(deadline());
    BOOST_REQUIRE(ev);
    auto value = std::stoll(ev->message);
    BOOST_REQUIRE_GT(value, last);
    last = value;
    ++received;
  }
  BOOST_TEST(last == static_cast<int64_t>(total - 1));
  BOOST_TEST(stalled->skipped() == total - window - queue);
  BOOST_TEST(received + stalled->skipped() == total);
  BOOST_REQUIRE_EQUAL(notices.size(), 1u);
  BOOST_TEST(notices[0] == total - window - queue);
  BOOST_TEST(!stalled->next(50ms));
}

BOOST_AUTO_TEST_CASE(disconnect_policy_closes_a_stalled_subscriber) {
  constexpr uint64_t total = 5000;
  subscribe_options slow;
  slow.max_in_flight = 16;
  slow.max_queued = 32;
  slow.overflow = overflow_policy::disconnect;
  auto stalled = subscribe_blocking(sys, bc, "cut", slow, deadline());
  BOOST_REQUIRE(stalled);
  auto c = sys.spawn(counter, me(), total);
  BOOST_REQUIRE(subscribe(sys, bc, c, "cut", lossless()));
  sys.spawn(number_publisher, bc, std::string{"cut"}, total, 64, me());
  await_done(2);
  BOOST_TEST(channel("cut").subscribers == 1u);
  uint64_t received = 0;
  while (auto ev = stalled->next(deadline())) {
    ++received;
  }
  BOOST_TEST(received <= 16u);
  BOOST_TEST(stalled->closed());
  BOOST_REQUIRE(stalled->last_status());
  BOOST_TEST(stalled->last_status()->kind == status_kind::closed);
  BOOST_TEST(stalled->last_status()->events_may_be_lost);
  BOOST_TEST(stalled->last_status()->reason.find("max_queued")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(subscriber_that_acks_late_still_gets_everything) {
  // A window of one event forces every event through the queue.
  constexpr uint64_t total = 2000;
  subscribe_options narrow;
  narrow.max_in_flight = 1;
  narrow.max_queued = total;
  auto sub = subscribe_blocking(sys, bc, "narrow", narrow, deadline());
  BOOST_REQUIRE(sub);
  sys.spawn(number_publisher, bc, std::string{"narrow"}, total, 64, me());
  for (uint64_t i = 0; i < total; ++i) {
    auto ev = sub->next(deadline());
    BOOST_REQUIRE(ev);
    BOOST_REQUIRE_EQUAL(ev->message, std::to_string(i));
  }
  BOOST_TEST(sub->skipped() == 0u);
  await_done(1);
}

BOOST_AUTO_TEST_CASE(replay_larger_than_window_fills_window_before_dropping) {
  auto big = spawn_broadcast(sys, "memory://?retention=1000");
  require_ok(big);
  for (int i = 0; i < 400; ++i) {
    require_ok(publish_blocking(sys, *big, "replay", std::to_string(i),
                                deadline()));
  }
  // The replay arrives as one batch of 300 events: 64 fit the window and
  // 236 the queue, so nothing is dropped.
  subscribe_options fits;
  fits.history = 300;
  fits.max_in_flight = 64;
  fits.max_queued = 256;
  auto whole = subscribe_blocking(sys, *big, "replay", fits, deadline());
  require_ok(whole);
  for (int i = 100; i < 400; ++i) {
    auto ev = whole->next(deadline());
    BOOST_REQUIRE(ev);
    BOOST_REQUIRE_EQUAL(ev->message, std::to_string(i));
  }
  BOOST_TEST(whole->skipped() == 0u);
  // A replay of 400 exceeds window plus queue by 80: the subscriber gets
  // the oldest 64, one notice, then the newest 256.
  subscribe_options overflows = fits;
  overflows.history = 400;
  auto partial = subscribe_blocking(sys, *big, "replay", overflows,
                                    deadline());
  require_ok(partial);
  std::vector<uint64_t> notices;
  partial->on_notice([&](const notice& n) {
    if (auto skip = std::get_if<events_skipped>(&n)) {
      notices.push_back(skip->count);
    }
  });
  for (int i = 0; i < 64; ++i) {
    auto ev = partial->next(deadline());
    BOOST_REQUIRE(ev);
    BOOST_REQUIRE_EQUAL(ev->message, std::to_string(i));
  }
  for (int i = 144; i < 400; ++i) {
    auto ev = partial->next(deadline());
    BOOST_REQUIRE(ev);
    BOOST_REQUIRE_EQUAL(ev->message, std::to_string(i));
  }
  BOOST_REQUIRE_EQUAL(notices.size(), 1u);
  BOOST_TEST(notices[0] == 80u);
  BOOST_TEST(partial->skipped() == 80u);
  caf::anon_send_exit(*big, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(invalid_window_options_are_rejected) {
  subscribe_options zero;
  zero.max_in_flight = 0;
  auto a = subscribe(sys, bc, me(), "x", zero);
  BOOST_REQUIRE(!a);
  BOOST_TEST(is(a.error(), errc::invalid_option));
  zero = {};
  zero.max_queued = 0;
  auto b = subscribe(sys, bc, me(), "x", zero);
  BOOST_REQUIRE(!b);
  BOOST_TEST(is(b.error(), errc::invalid_option));
  auto st = stats_blocking(sys, bc, deadline());
  BOOST_REQUIRE(st);
  BOOST_TEST(st->subscriptions == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(errors, fixture)

BOOST_AUTO_TEST_CASE(bad_urls_name_the_problem) {
  auto unknown = spawn_broadcast(sys, "nats://127.0.0.1:4222");
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(is(unknown.error(), errc::unknown_scheme));
  BOOST_TEST(describe(unknown.error()).find("nats://") != std::string::npos);
  BOOST_TEST(describe(unknown.error()).find("memory://")
             != std::string::npos);
  auto malformed = spawn_broadcast(sys, "memory:/");
  BOOST_REQUIRE(!malformed);
  BOOST_TEST(is(malformed.error(), errc::invalid_url));
  auto option = spawn_broadcast(sys, "memory://?retension=5");
  BOOST_REQUIRE(!option);
  BOOST_TEST(is(option.error(), errc::unsupported_option));
  BOOST_TEST(describe(option.error()).find("retension") != std::string::npos);
  auto value = spawn_broadcast(sys, "memory://?retention=-1");
  BOOST_REQUIRE(!value);
  BOOST_TEST(is(value.error(), errc::invalid_option));
  auto host = spawn_broadcast(sys, "memory://somewhere:5");
  BOOST_REQUIRE(!host);
  BOOST_TEST(is(host.error(), errc::invalid_url));
}

BOOST_AUTO_TEST_CASE(invalid_channel_names) {
  auto empty = publish_blocking(sys, bc, "", "x", deadline());
  BOOST_REQUIRE(!empty);
  BOOST_TEST(is(empty.error(), errc::invalid_channel));
  auto huge = publish_blocking(sys, bc, std::string(5000, 'c'), "x",
                               deadline());
  BOOST_REQUIRE(!huge);
  BOOST_TEST(is(huge.error(), errc::invalid_channel));
  auto sub = subscribe(sys, bc, me(), "");
  BOOST_REQUIRE(!sub);
  BOOST_TEST(is(sub.error(), errc::invalid_channel));
  // Odd but valid names work.
  std::string odd{"sp ace/\xe2\x9c\x93\0nul", 13};
  auto who = sys.spawn(collector, me());
  BOOST_REQUIRE(subscribe(sys, bc, who, odd));
  BOOST_REQUIRE(publish_blocking(sys, bc, odd, "ok", deadline()));
  BOOST_TEST(expect_message<event>(self).channel == odd);
}

BOOST_AUTO_TEST_CASE(oversized_message_is_rejected) {
  auto small = spawn_broadcast(sys, "memory://?max_message_size=8");
  BOOST_REQUIRE(small);
  BOOST_TEST(static_cast<bool>(
    publish_blocking(sys, *small, "c", "12345678", deadline())));
  auto big = publish_blocking(sys, *small, "c", "123456789", deadline());
  BOOST_REQUIRE(!big);
  BOOST_TEST(is(big.error(), errc::payload_too_large));
  BOOST_TEST(describe(big.error()).find("max_message_size")
             != std::string::npos);
  caf::anon_send_exit(*small, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(unknown_subscription_id) {
  auto err = unsubscribe(sys, bc, 424242);
  BOOST_TEST(is(err, errc::subscription_not_found));
}

BOOST_AUTO_TEST_CASE(null_subscriber) {
  auto sub = subscribe(sys, bc, caf::actor{}, "x");
  BOOST_REQUIRE(!sub);
  BOOST_TEST(is(sub.error(), errc::invalid_option));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(supervision)

BOOST_FIXTURE_TEST_CASE(restarted_backend_resumes_subscriptions,
                        system_fixture) {
  caf::scoped_actor self{sys};
  auto me = caf::actor_cast<caf::actor>(self);
  auto backends = std::make_shared<std::vector<backend_actor>>();
  backend_factory factory = [backends](caf::actor_system& s, const url&)
    -> caf::expected<backend_actor> {
    auto source = parse_url("memory://");
    auto result = spawn_memory_backend(s, *source);
    if (result) {
      backends->push_back(*result);
    }
    return result;
  };
  broadcast_options opts;
  opts.restart_min = scaled(1000ms);
  auto bc = spawn_broadcast(sys, factory, opts);
  BOOST_REQUIRE(bc);
  auto who = sys.spawn(collector, me);
  BOOST_REQUIRE(subscribe(sys, *bc, who, "durable"));
  BOOST_REQUIRE(publish_blocking(sys, *bc, "durable", "before", deadline()));
  BOOST_TEST(expect_message<event>(self).message == "before");
  BOOST_REQUIRE_EQUAL(backends->size(), 1u);
  caf::anon_send_exit(backends->front(), caf::exit_reason::kill);
  auto lost = expect_message<status_event>(self);
  BOOST_TEST(lost.kind == status_kind::backend_lost);
  BOOST_TEST(lost.channel == "durable");
  BOOST_TEST(lost.events_may_be_lost);
  // Publishing while the backend is down fails at once.
  auto during = publish_blocking(sys, *bc, "durable", "lost", deadline());
  BOOST_REQUIRE(!during);
  BOOST_TEST(is(during.error(), errc::backend_unavailable));
  auto back = expect_message<status_event>(self);
  BOOST_TEST(back.kind == status_kind::backend_back);
  BOOST_TEST(back.events_may_be_lost);
  BOOST_TEST(backends->size() == 2u);
  BOOST_REQUIRE(publish_blocking(sys, *bc, "durable", "after", deadline()));
  BOOST_TEST(expect_message<event>(self).message == "after");
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(backend_status_follows_queued_events,
                        system_fixture) {
  // A subscriber with a window of two events has eight more queued when
  // the backend dies. It must receive all ten before backend_lost.
  caf::scoped_actor self{sys};
  auto backends = std::make_shared<std::vector<backend_actor>>();
  backend_factory factory = [backends](caf::actor_system& s, const url&)
    -> caf::expected<backend_actor> {
    auto result = spawn_memory_backend(s, *parse_url("memory://"));
    if (result) {
      backends->push_back(*result);
    }
    return result;
  };
  auto bc = spawn_broadcast(sys, factory);
  BOOST_REQUIRE(bc);
  subscribe_options opts;
  opts.max_in_flight = 2;
  BOOST_REQUIRE(subscribe(sys, *bc, caf::actor_cast<caf::actor>(self),
                          "ordered", opts));
  constexpr int total = 10;
  for (int i = 0; i < total; ++i) {
    BOOST_REQUIRE(publish_blocking(sys, *bc, "ordered", std::to_string(i),
                                   deadline()));
  }
  caf::anon_send_exit(backends->front(), caf::exit_reason::kill);
  std::vector<std::string> order;
  bool lost = false;
  while (!lost) {
    bool received = false;
    self->receive(
      [&](const event_batch& batch) {
        for (const auto& ev : batch.events) {
          order.push_back(ev.message);
        }
        // Acknowledged only now, so the rest stays queued until here.
        acknowledge(self.ptr(), batch.events.size());
        received = true;
      },
      [&](const status_event& status) {
        BOOST_TEST(status.kind == status_kind::backend_lost);
        order.push_back("lost");
        lost = true;
        received = true;
      },
      caf::after(deadline()) >> [] {});
    BOOST_REQUIRE_MESSAGE(received, "no message within the deadline");
  }
  std::vector<std::string> expected;
  for (int i = 0; i < total; ++i) {
    expected.push_back(std::to_string(i));
  }
  expected.push_back("lost");
  BOOST_TEST(order == expected, boost::test_tools::per_element());
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

namespace {

struct flaky_state {
  backend_actor inner;
};

// A backend in front of a memory backend whose first `failures`
// subscribes fail, like a server that is reachable again but not ready.
backend_actor::behavior_type
flaky_backend(backend_actor::stateful_pointer<flaky_state> self,
              backend_actor inner, std::shared_ptr<int> failures) {
  self->state.inner = std::move(inner);
  return {
    [self](bc_publish_atom, std::string& channel, std::string& message) {
      return self->delegate(self->state.inner, bc_publish_atom::value,
                            std::move(channel), std::move(message));
    },
    [self, failures](bc_subscribe_atom, std::string& key, bool pattern,
                     sink_actor& sink, uint64_t history,
                     uint64_t token) -> caf::result<bc_ok_atom> {
      if (*failures > 0) {
        --*failures;
        return make_error(errc::backend_unavailable, "not ready yet");
      }
      return self->delegate(self->state.inner, bc_subscribe_atom::value,
                            std::move(key), pattern, std::move(sink),
                            history, token);
    },
    [self](bc_unsubscribe_atom, std::string& key, bool pattern,
           sink_actor& sink) {
      self->send(self->state.inner, bc_unsubscribe_atom::value,
                 std::move(key), pattern, std::move(sink));
    },
    [self](bc_history_atom, std::string& channel, std::string& before,
           uint64_t limit) {
      return self->delegate(self->state.inner, bc_history_atom::value,
                            std::move(channel), std::move(before), limit);
    },
    [self](bc_stats_atom) {
      return self->delegate(self->state.inner, bc_stats_atom::value);
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_CASE(failed_resubscribe_is_retried, system_fixture) {
  caf::scoped_actor self{sys};
  auto me = caf::actor_cast<caf::actor>(self);
  auto first = std::make_shared<backend_actor>();
  auto failures = std::make_shared<int>(2);
  backend_factory factory = [first, failures](caf::actor_system& s,
                                              const url&)
    -> caf::expected<backend_actor> {
    auto source = parse_url("memory://");
    auto inner = spawn_memory_backend(s, *source);
    if (!inner) {
      return inner.error();
    }
    if (!*first) {
      *first = *inner;
      return *inner;
    }
    return s.spawn(flaky_backend, *inner, failures);
  };
  auto bc = spawn_broadcast(sys, factory);
  require_ok(bc);
  auto who = sys.spawn(collector, me);
  BOOST_REQUIRE(subscribe(sys, *bc, who, "retry"));
  caf::anon_send_exit(*first, caf::exit_reason::kill);
  BOOST_TEST(expect_message<status_event>(self).kind
             == status_kind::backend_lost);
  // Two failed resubscribes later the channel is back.
  auto back = expect_message<status_event>(self);
  BOOST_TEST(back.kind == status_kind::backend_back);
  BOOST_TEST(*failures == 0);
  require_ok(publish_blocking(sys, *bc, "retry", "again", deadline()));
  BOOST_TEST(expect_message<event>(self).message == "again");
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(shutdown_closes_blocking_subscriptions,
                        system_fixture) {
  auto bc = spawn_broadcast(sys, "memory://");
  BOOST_REQUIRE(bc);
  auto sub = subscribe_blocking(sys, *bc, "end", {}, deadline());
  BOOST_REQUIRE(sub);
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(publish_blocking(sys, *bc, "end", std::to_string(i),
                                   deadline()));
  }
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  std::vector<std::string> seen;
  for (const auto& ev : *sub) {
    seen.push_back(ev.message);
  }
  BOOST_TEST(seen.size() == 5u);
  BOOST_TEST(sub->closed());
  BOOST_REQUIRE(sub->last_status());
  BOOST_TEST(sub->last_status()->kind == status_kind::closed);
}

BOOST_FIXTURE_TEST_CASE(blocking_subscription_to_several_channels,
                        system_fixture) {
  auto bc = spawn_broadcast(sys, "memory://");
  BOOST_REQUIRE(bc);
  auto sub = subscribe_blocking(sys, *bc, "one", {}, deadline());
  BOOST_REQUIRE(sub);
  BOOST_TEST(!sub->add("two"));
  BOOST_TEST(sub->subscriptions().size() == 2u);
  BOOST_REQUIRE(publish_blocking(sys, *bc, "one", "1", deadline()));
  BOOST_REQUIRE(publish_blocking(sys, *bc, "two", "2", deadline()));
  auto a = sub->next(deadline());
  auto b = sub->next(deadline());
  BOOST_REQUIRE(a && b);
  BOOST_TEST(a->channel == "one");
  BOOST_TEST(b->channel == "two");
  BOOST_TEST(!sub->unsubscribe());
  BOOST_TEST(sub->closed());
  auto st = stats_blocking(sys, *bc, deadline());
  BOOST_REQUIRE(st);
  BOOST_TEST(st->subscriptions == 0u);
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(typed_subscriber_actor, system_fixture) {
  caf::scoped_actor self{sys};
  auto me = caf::actor_cast<caf::actor>(self);
  auto bc = spawn_broadcast(sys, "memory://");
  BOOST_REQUIRE(bc);
  auto typed = sys.spawn(
    [](subscriber_actor::pointer sub,
       caf::actor me) -> subscriber_actor::behavior_type {
      return {
        [sub, me](const event_batch& batch) {
          for (auto& ev : batch.events) {
            caf::anon_send(me, ev);
          }
          acknowledge(sub, batch.events.size());
        },
        [](const events_skipped&) {},
        [](const status_event&) {},
      };
    },
    me);
  BOOST_REQUIRE(subscribe(sys, *bc, caf::actor_cast<caf::actor>(typed),
                          "typed"));
  BOOST_REQUIRE(publish_blocking(sys, *bc, "typed", "t", deadline()));
  BOOST_TEST(expect_message<event>(self).message == "t");
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(typed, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
