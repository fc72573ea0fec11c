#define BOOST_TEST_MODULE memory_backend
#include <boost/test/unit_test.hpp>

#include <set>
#include <thread>

#include "helpers.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

namespace {

struct fixture : memory_fixture {
  caf::actor spawn_collector() {
    return sys.spawn(collector, me());
  }

  publish_ack publish(const std::string& channel, const std::string& msg) {
    auto ack = publish_blocking(sys, bc, channel, msg, deadline());
    require_ok(ack);
    return *ack;
  }

  broadcast_stats stats() {
    auto result = stats_blocking(sys, bc, deadline());
    require_ok(result);
    return *result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(delivery, fixture)

BOOST_AUTO_TEST_CASE(round_trip) {
  auto sub = subscribe(sys, bc, spawn_collector(), "news");
  BOOST_REQUIRE(sub);
  BOOST_TEST(sub->channel == "news");
  BOOST_TEST(!sub->pattern);
  auto ack = publish("news", "hello");
  BOOST_TEST(ack.receivers == 1);
  auto ev = expect_message<event>(self);
  BOOST_TEST(ev.channel == "news");
  BOOST_TEST(ev.message == "hello");
  BOOST_TEST(ev.id == ack.id);
  BOOST_TEST(ev.pattern.empty());
}

BOOST_AUTO_TEST_CASE(binary_and_empty_payloads) {
  BOOST_REQUIRE(subscribe(sys, bc, spawn_collector(), "bin"));
  std::string nul{"a\0b\0", 4};
  std::string high{"\xff\xfe\x80\xc3\x28", 5};
  publish("bin", nul);
  publish("bin", high);
  publish("bin", "");
  BOOST_TEST(expect_message<event>(self).message == nul);
  BOOST_TEST(expect_message<event>(self).message == high);
  BOOST_TEST(expect_message<event>(self).message.empty());
}

BOOST_AUTO_TEST_CASE(publish_right_after_subscribe_arrives) {
  for (int i = 0; i < 200; ++i) {
    auto channel = "fresh." + std::to_string(i);
    BOOST_REQUIRE(subscribe(sys, bc, spawn_collector(), channel));
    publish(channel, std::to_string(i));
    auto ev = expect_message<event>(self);
    BOOST_TEST(ev.channel == channel);
    BOOST_TEST(ev.message == std::to_string(i));
  }
}

BOOST_AUTO_TEST_CASE(many_subscribers_and_channels) {
  constexpr int channels = 10;
  constexpr int per_channel = 20;
  for (int c = 0; c < channels; ++c) {
    for (int s = 0; s < per_channel; ++s) {
      BOOST_REQUIRE(subscribe(sys, bc, spawn_collector(),
                              "room." + std::to_string(c)));
    }
  }
  for (int c = 0; c < channels; ++c) {
    auto ack = publish("room." + std::to_string(c), std::to_string(c));
    BOOST_TEST(ack.receivers == 1); // one channel actor per channel
  }
  std::map<std::string, int> seen;
  for (int i = 0; i < channels * per_channel; ++i) {
    auto ev = expect_message<event>(self);
    BOOST_TEST(ev.channel == "room." + ev.message);
    ++seen[ev.channel];
  }
  BOOST_TEST(seen.size() == static_cast<size_t>(channels));
  for (auto& entry : seen) {
    BOOST_TEST(entry.second == per_channel);
  }
  BOOST_TEST(no_event_within(self, 50ms));
}

BOOST_AUTO_TEST_CASE(one_actor_several_channels_and_patterns) {
  auto who = spawn_collector();
  auto a = subscribe(sys, bc, who, "alpha");
  auto b = subscribe(sys, bc, who, "beta");
  subscribe_options glob;
  glob.pattern = true;
  auto p = subscribe(sys, bc, who, "gamma.*", glob);
  BOOST_REQUIRE(a && b && p);
  BOOST_TEST(p->pattern);
  publish("alpha", "1");
  BOOST_TEST(expect_message<event>(self).channel == "alpha");
  publish("beta", "2");
  BOOST_TEST(expect_message<event>(self).channel == "beta");
  publish("gamma.x", "3");
  auto ev = expect_message<event>(self);
  BOOST_TEST(ev.channel == "gamma.x");
  BOOST_TEST(ev.pattern == "gamma.*");
  // Unsubscribing one channel keeps the others.
  BOOST_TEST(!unsubscribe(sys, bc, a->id));
  publish("alpha", "4");
  publish("beta", "5");
  ev = expect_message<event>(self);
  BOOST_TEST(ev.channel == "beta");
  BOOST_TEST(ev.message == "5");
  publish("gamma.y", "6");
  BOOST_TEST(expect_message<event>(self).message == "6");
  BOOST_TEST(no_event_within(self, 50ms));
}

BOOST_AUTO_TEST_CASE(same_actor_twice_on_one_channel_gets_one_copy) {
  auto who = spawn_collector();
  auto first = subscribe(sys, bc, who, "dup");
  auto second = subscribe(sys, bc, who, "dup");
  BOOST_REQUIRE(first && second);
  BOOST_TEST(first->id != second->id);
  publish("dup", "x");
  BOOST_TEST(expect_message<event>(self).message == "x");
  BOOST_TEST(no_event_within(self, 50ms));
  BOOST_TEST(!unsubscribe(sys, bc, first->id));
  publish("dup", "y");
  BOOST_TEST(expect_message<event>(self).message == "y");
  BOOST_TEST(!unsubscribe(sys, bc, second->id));
  publish("dup", "z");
  BOOST_TEST(no_event_within(self, 50ms));
}

BOOST_AUTO_TEST_CASE(concurrent_first_subscribes_both_receive) {
  for (int round = 0; round < 50; ++round) {
    auto channel = "race." + std::to_string(round);
    auto one = spawn_collector();
    auto two = spawn_collector();
    // Both requests are in flight before either reply arrives.
    auto h1 = self->request(bc, deadline(), bc_subscribe_atom::value, channel,
                            one, subscribe_options{});
    auto h2 = self->request(bc, deadline(), bc_subscribe_atom::value, channel,
                            two, subscribe_options{});
    int replies = 0;
    for (auto* handle : {&h1, &h2}) {
      handle->receive([&](const subscription&) { ++replies; },
                      [&](caf::error& err) {
                        BOOST_FAIL(describe(err));
                      });
    }
    BOOST_REQUIRE_EQUAL(replies, 2);
    publish(channel, "both");
    BOOST_TEST(expect_message<event>(self).message == "both");
    BOOST_TEST(expect_message<event>(self).message == "both");
  }
}

BOOST_AUTO_TEST_CASE(exited_subscriber_is_dropped) {
  auto who = spawn_collector();
  BOOST_REQUIRE(subscribe(sys, bc, who, "leaving"));
  BOOST_TEST(stats().subscriptions == 1u);
  self->send_exit(who, caf::exit_reason::user_shutdown);
  // Removal runs through the channel's monitor; nothing can be awaited,
  // so poll the counters.
  BOOST_TEST(eventually(
    [&] {
      auto s = stats();
      return s.subscriptions == 0 && s.channels.empty();
    },
    deadline()));
  // The retired channel actor's unsubscribe reaches the backend later, and
  // until then the backend still counts that actor as a receiver.
  BOOST_TEST(eventually(
    [&] { return stats().backend_counters["subscribed_channels"] == 0; },
    deadline()));
  auto ack = publish("leaving", "nobody");
  BOOST_TEST(ack.receivers == 0);
}

BOOST_AUTO_TEST_CASE(crashed_subscriber_is_dropped) {
  auto crashing = sys.spawn(
    [](caf::event_based_actor* self, caf::exit_reason reason) {
      return caf::behavior{
        [self, reason](const event_batch&) { self->quit(reason); },
      };
    },
    caf::exit_reason::unhandled_exception);
  BOOST_REQUIRE(subscribe(sys, bc, crashing, "crash"));
  publish("crash", "boom");
  BOOST_TEST(eventually([&] { return stats().subscriptions == 0; },
                        deadline()));
}

BOOST_AUTO_TEST_CASE(last_subscriber_leaving_retires_the_channel) {
  auto who = spawn_collector();
  auto sub = subscribe(sys, bc, who, "short");
  BOOST_REQUIRE(sub);
  BOOST_TEST(stats().channels.size() == 1u);
  BOOST_TEST(!unsubscribe(sys, bc, sub->id));
  // The supervisor retires the channel when the subscription ends, before
  // it handles the next request.
  auto s = stats();
  BOOST_TEST(s.channels.empty());
  BOOST_TEST(s.backend_counters["subscribed_channels"] <= 1u);
  BOOST_TEST(eventually(
    [&] { return stats().backend_counters["subscribed_channels"] == 0; },
    deadline()));
  // A new subscription on the same name works again.
  BOOST_REQUIRE(subscribe(sys, bc, who, "short"));
  publish("short", "again");
  BOOST_TEST(expect_message<event>(self).message == "again");
}

BOOST_AUTO_TEST_CASE(resubscribe_right_after_retire) {
  // Each round retires the channel actor and creates a new one at once, so
  // the old actor's unsubscribe and the new one's subscribe overlap at the
  // backend.
  auto who = spawn_collector();
  for (int round = 0; round < 100; ++round) {
    auto sub = subscribe(sys, bc, who, "churn");
    BOOST_REQUIRE(sub);
    publish("churn", std::to_string(round));
    BOOST_REQUIRE_EQUAL(expect_message<event>(self).message,
                        std::to_string(round));
    BOOST_REQUIRE(!unsubscribe(sys, bc, sub->id));
  }
  BOOST_TEST(no_event_within(self, 50ms));
}

BOOST_AUTO_TEST_CASE(events_keep_publish_order) {
  constexpr uint64_t total = 20000;
  auto count = sys.spawn(counter, caf::actor_cast<caf::actor>(self), total);
  BOOST_REQUIRE(subscribe(sys, bc, count, "ordered", lossless()));
  sys.spawn(number_publisher, bc, std::string{"ordered"}, total, 128,
            caf::actor_cast<caf::actor>(self));
  int done = 0;
  for (int i = 0; i < 2; ++i) {
    self->receive([&](caf::ok_atom, uint64_t n) {
      BOOST_TEST(n == total);
      ++done;
    },
                  [&](failed_atom, const std::string& what) {
                    BOOST_FAIL(what);
                  },
                  caf::after(scaled(60s)) >> [] {});
  }
  BOOST_TEST(done == 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(patterns, fixture)

BOOST_AUTO_TEST_CASE(glob_syntax) {
  subscribe_options glob;
  glob.pattern = true;
  auto who = spawn_collector();
  BOOST_REQUIRE(subscribe(sys, bc, who, "chat.*", glob));
  BOOST_REQUIRE(subscribe(sys, bc, who, "user.?", glob));
  BOOST_REQUIRE(subscribe(sys, bc, who, "[ab]", glob));
  for (auto channel : {"chat.room", "user.7", "a", "b", "c", "user.77",
                       "chat", "chatroom"}) {
    publish(channel, channel);
  }
  std::set<std::string> matched;
  for (int i = 0; i < 4; ++i) {
    auto ev = expect_message<event>(self);
    BOOST_TEST(ev.message == ev.channel);
    matched.insert(ev.channel + " " + ev.pattern);
  }
  BOOST_TEST(matched.count("chat.room chat.*") == 1u);
  BOOST_TEST(matched.count("user.7 user.?") == 1u);
  BOOST_TEST(matched.count("a [ab]") == 1u);
  BOOST_TEST(matched.count("b [ab]") == 1u);
  BOOST_TEST(no_event_within(self, 50ms));
}

BOOST_AUTO_TEST_CASE(pattern_and_plain_subscription_both_deliver) {
  subscribe_options glob;
  glob.pattern = true;
  auto who = spawn_collector();
  BOOST_REQUIRE(subscribe(sys, bc, who, "news.*", glob));
  BOOST_REQUIRE(subscribe(sys, bc, who, "news.tech"));
  auto ack = publish("news.tech", "x");
  BOOST_TEST(ack.receivers == 2);
  auto first = expect_message<event>(self);
  auto second = expect_message<event>(self);
  BOOST_TEST(first.pattern.empty() != second.pattern.empty());
}

BOOST_AUTO_TEST_CASE(malformed_pattern_is_rejected) {
  subscribe_options glob;
  glob.pattern = true;
  auto sub = subscribe(sys, bc, spawn_collector(), "chat.[ab", glob);
  BOOST_REQUIRE(!sub);
  BOOST_TEST(is(sub.error(), errc::invalid_channel));
  BOOST_TEST(describe(sub.error()).find("unterminated") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(history, fixture)

BOOST_AUTO_TEST_CASE(history_then_live) {
  for (int i = 0; i < 10; ++i) {
    publish("log", std::to_string(i));
  }
  subscribe_options opts;
  opts.history = 4;
  BOOST_REQUIRE(subscribe(sys, bc, spawn_collector(), "log", opts));
  publish("log", "10");
  for (int i = 6; i <= 10; ++i) {
    BOOST_TEST(expect_message<event>(self).message == std::to_string(i));
  }
}

BOOST_AUTO_TEST_CASE(history_larger_than_stored) {
  publish("few", "0");
  publish("few", "1");
  subscribe_options opts;
  opts.history = 100;
  BOOST_REQUIRE(subscribe(sys, bc, spawn_collector(), "few", opts));
  BOOST_TEST(expect_message<event>(self).message == "0");
  BOOST_TEST(expect_message<event>(self).message == "1");
  BOOST_TEST(no_event_within(self, 50ms));
}

BOOST_AUTO_TEST_CASE(history_seam_has_no_gap_or_duplicate) {
  // A publisher runs during every subscribe. Each history subscriber must
  // see consecutive numbers from its first event on.
  constexpr uint64_t total = 30000;
  sys.spawn(number_publisher, bc, std::string{"seam"}, total, 64,
            caf::actor_cast<caf::actor>(self));
  // Wait until publishing is under way.
  caf::scoped_actor probe{sys};
  auto probe_sub = subscribe(sys, bc, caf::actor_cast<caf::actor>(probe),
                             "seam");
  BOOST_REQUIRE(probe_sub);
  probe->receive([](const event_batch&) {}, caf::after(deadline()) >> [] {
    BOOST_FAIL("publisher did not start");
  });
  BOOST_TEST(!unsubscribe(sys, bc, probe_sub->id));
  std::vector<std::unique_ptr<blocking_subscription>> subs;
  for (int i = 0; i < 5; ++i) {
    auto opts = lossless();
    opts.history = 50;
    auto sub = subscribe_blocking(sys, bc, "seam", opts, deadline());
    require_ok(sub);
    subs.push_back(std::make_unique<blocking_subscription>(std::move(*sub)));
  }
  for (auto& sub : subs) {
    auto first = sub->next(deadline());
    BOOST_REQUIRE(first);
    auto expected = std::stoull(first->message) + 1;
    for (int k = 0; k < 500 && expected < total; ++k) {
      auto ev = sub->next(deadline());
      BOOST_REQUIRE(ev);
      BOOST_REQUIRE_EQUAL(std::stoull(ev->message), expected);
      ++expected;
    }
  }
  self->receive([](caf::ok_atom, uint64_t) {},
                [](failed_atom, const std::string& what) {
                  BOOST_FAIL(what);
                },
                caf::after(scaled(60s)) >> [] { BOOST_FAIL("no finish"); });
}

BOOST_AUTO_TEST_CASE(pattern_history_merges_channels_in_order) {
  publish("p.a", "0");
  publish("p.b", "1");
  publish("q", "x");
  publish("p.a", "2");
  subscribe_options opts;
  opts.pattern = true;
  opts.history = 2;
  BOOST_REQUIRE(subscribe(sys, bc, spawn_collector(), "p.*", opts));
  auto first = expect_message<event>(self);
  auto second = expect_message<event>(self);
  BOOST_TEST(first.message == "1");
  BOOST_TEST(first.pattern == "p.*");
  BOOST_TEST(second.message == "2");
}

BOOST_AUTO_TEST_CASE(history_for_a_second_subscription_is_rejected) {
  auto who = spawn_collector();
  BOOST_REQUIRE(subscribe(sys, bc, who, "twice"));
  subscribe_options opts;
  opts.history = 3;
  auto again = subscribe(sys, bc, who, "twice", opts);
  BOOST_REQUIRE(!again);
  BOOST_TEST(is(again.error(), errc::invalid_option));
}

BOOST_AUTO_TEST_CASE(paging_back) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    ids.push_back(publish("pages", std::to_string(i)).id);
  }
  auto page = history_blocking(sys, bc, "pages", "", 10, deadline());
  BOOST_REQUIRE(page);
  BOOST_REQUIRE_EQUAL(page->events.size(), 10u);
  BOOST_TEST(page->events.front().message == "24");
  BOOST_TEST(page->events.back().message == "15");
  BOOST_TEST(page->more);
  std::vector<std::string> all;
  std::string before;
  for (;;) {
    auto next = history_blocking(sys, bc, "pages", before, 10, deadline());
    BOOST_REQUIRE(next);
    for (auto& ev : next->events) {
      all.push_back(ev.message);
    }
    if (!next->more) {
      break;
    }
    before = next->events.back().id;
  }
  BOOST_REQUIRE_EQUAL(all.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    BOOST_TEST(all[static_cast<size_t>(i)] == std::to_string(24 - i));
  }
  auto bad = history_blocking(sys, bc, "pages", "not-a-number", 5,
                              deadline());
  BOOST_REQUIRE(!bad);
  BOOST_TEST(is(bad.error(), errc::invalid_id));
  auto none = history_blocking(sys, bc, "never-used", "", 5, deadline());
  BOOST_REQUIRE(none);
  BOOST_TEST(none->events.empty());
  BOOST_TEST(!none->more);
}

BOOST_AUTO_TEST_CASE(retention_limit_per_channel) {
  auto small = spawn_broadcast(sys, "memory://?retention=5");
  BOOST_REQUIRE(small);
  for (int i = 0; i < 12; ++i) {
    BOOST_REQUIRE(publish_blocking(sys, *small, "r", std::to_string(i)));
    BOOST_REQUIRE(publish_blocking(sys, *small, "s", std::to_string(i)));
  }
  auto page = history_blocking(sys, *small, "r", "", 100, deadline());
  BOOST_REQUIRE(page);
  BOOST_REQUIRE_EQUAL(page->events.size(), 5u);
  BOOST_TEST(page->events.front().message == "11");
  BOOST_TEST(page->events.back().message == "7");
  BOOST_TEST(!page->more);
  auto st = stats_blocking(sys, *small, deadline());
  BOOST_REQUIRE(st);
  BOOST_TEST(st->backend_counters["retained_events"] == 10u);
  caf::anon_send_exit(*small, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(retention_zero_keeps_nothing) {
  auto none = spawn_broadcast(sys, "memory://?retention=0");
  BOOST_REQUIRE(none);
  BOOST_REQUIRE(publish_blocking(sys, *none, "r", "x"));
  auto page = history_blocking(sys, *none, "r", "", 10, deadline());
  BOOST_REQUIRE(page);
  BOOST_TEST(page->events.empty());
  caf::anon_send_exit(*none, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(max_channels_evicts_least_recent) {
  auto few = spawn_broadcast(sys, "memory://?max_channels=2");
  BOOST_REQUIRE(few);
  BOOST_REQUIRE(publish_blocking(sys, *few, "a", "1"));
  BOOST_REQUIRE(publish_blocking(sys, *few, "b", "2"));
  BOOST_REQUIRE(publish_blocking(sys, *few, "a", "3"));
  BOOST_REQUIRE(publish_blocking(sys, *few, "c", "4"));
  auto a = history_blocking(sys, *few, "a", "", 10, deadline());
  auto b = history_blocking(sys, *few, "b", "", 10, deadline());
  BOOST_REQUIRE(a && b);
  BOOST_TEST(a->events.size() == 2u);
  BOOST_TEST(b->events.empty());
  caf::anon_send_exit(*few, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
