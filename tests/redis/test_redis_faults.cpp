#define BOOST_TEST_MODULE redis_faults
#include <boost/test/unit_test.hpp>

#include "redis_support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

namespace {

// Short backoff bounds keep the reconnect after a restart quick.
constexpr const char* fast_reconnect
  = "?reconnect_min=20ms&reconnect_max=200ms";

struct fixture : redis_fixture {
  uint64_t counter(const broadcast_actor& bc, const std::string& name) {
    auto st = stats_blocking(sys, bc, deadline());
    require_ok(st);
    return st->backend_counters[name];
  }

  // Waits until the backend noticed that its publish connection is gone.
  // The backend reports no event for that, so the test polls its counters.
  bool publish_link_down(const broadcast_actor& bc) {
    return eventually([&] { return counter(bc, "publish_connected") == 0; },
                      deadline());
  }

  void expect_status(listener& sub, status_kind kind) {
    auto status = sub.next_status();
    BOOST_REQUIRE_MESSAGE(status, "no " << to_string(kind) << " status");
    BOOST_TEST(status->kind == kind);
    BOOST_TEST(status->events_may_be_lost);
    BOOST_TEST(!status->reason.empty());
  }

  redis_server server;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(faults, fixture)

BOOST_AUTO_TEST_CASE(server_restart_resubscribes) {
  auto bc = connect(server.url(fast_reconnect));
  constexpr int extra_channels = 50;
  listener exact{sys};
  listener glob{sys};
  listener many{sys};
  require_ok(exact.subscribe(bc, "restart.a"));
  subscribe_options opts;
  opts.pattern = true;
  require_ok(glob.subscribe(bc, "restart.*", opts));
  for (int i = 0; i < extra_channels; ++i) {
    require_ok(many.subscribe(bc, "extra." + std::to_string(i)));
  }
  auto dropped = subscribe_blocking(sys, bc, "dropped", {}, deadline());
  require_ok(dropped);
  BOOST_TEST(server.numsub("restart.a") == 1);
  BOOST_TEST(server.numpat() == 1);

  server.kill();
  expect_status(exact, status_kind::backend_lost);
  expect_status(glob, status_kind::backend_lost);
  for (int i = 0; i < extra_channels; ++i) {
    expect_status(many, status_kind::backend_lost);
  }
  BOOST_REQUIRE(publish_link_down(bc));
  // During the outage publish and subscribe fail at once.
  auto started = std::chrono::steady_clock::now();
  auto ack = publish_blocking(sys, bc, "restart.a", "lost", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::backend_unavailable));
  BOOST_TEST(describe(ack.error()).find("not connected")
             != std::string::npos);
  BOOST_TEST(millis(std::chrono::steady_clock::now() - started)
             < millis(scaled(1s)));
  listener late{sys};
  auto result = late.subscribe(bc, "restart.late");
  BOOST_REQUIRE(!result);
  BOOST_TEST(is(result.error(), errc::backend_unavailable));
  // A subscription that ends during the outage is not restored.
  BOOST_REQUIRE(!dropped->unsubscribe(deadline()));

  server.start();
  expect_status(exact, status_kind::backend_back);
  expect_status(glob, status_kind::backend_back);
  for (int i = 0; i < extra_channels; ++i) {
    expect_status(many, status_kind::backend_back);
  }
  BOOST_TEST(server.numsub("restart.a") == 1);
  BOOST_TEST(server.numsub("extra.49") == 1);
  BOOST_TEST(server.numsub("dropped") == 0);
  BOOST_TEST(server.numpat() == 1);
  // The publish connection may come back a moment after the subscribe
  // connection; nothing reports that, so the test retries a fail-fast
  // publish.
  BOOST_TEST(eventually(
    [&] {
      auto x = publish_blocking(sys, bc, "restart.a", "back", deadline());
      return x && x->receivers == 2;
    },
    deadline()));
  auto a = exact.next_event();
  auto b = glob.next_event();
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(a->message == "back");
  BOOST_TEST(b->message == "back");
  BOOST_TEST(b->pattern == "restart.*");
  BOOST_TEST(publish_ok(sys, bc, "extra.7", "seven").receivers == 1);
  auto seven = many.next_event();
  BOOST_REQUIRE(seven);
  BOOST_TEST(seven->channel == "extra.7");
  BOOST_TEST(counter(bc, "connection_losses") >= 2u);
}

BOOST_AUTO_TEST_CASE(publish_wait_survives_restart) {
  auto bc = connect(server.url(std::string{fast_reconnect}
                               + "&publish_wait=30s"));
  listener sub{sys};
  require_ok(sub.subscribe(bc, "patient"));
  server.kill();
  expect_status(sub, status_kind::backend_lost);
  BOOST_REQUIRE(publish_link_down(bc));
  caf::scoped_actor self{sys};
  auto pending = self->request(bc, deadline(), bc_publish_atom::value,
                               std::string{"patient"},
                               std::string{"waited"});
  listener late{sys};
  caf::scoped_actor late_self{sys};
  auto late_sub = late_self->request(bc, deadline(),
                                     bc_subscribe_atom::value,
                                     std::string{"patient.late"},
                                     late.handle(), subscribe_options{});
  // Both requests are waiting inside the backend before the server starts.
  BOOST_REQUIRE(eventually(
    [&] { return counter(bc, "publishes_in_flight") == 1; }, deadline()));
  server.start();
  bool published = false;
  pending.receive([&](const publish_ack&) { published = true; },
                  [&](caf::error& err) { BOOST_TEST_MESSAGE(describe(err)); });
  BOOST_TEST(published);
  bool subscribed = false;
  late_sub.receive([&](const subscription&) { subscribed = true; },
                   [&](caf::error& err) {
                     BOOST_TEST_MESSAGE(describe(err));
                   });
  BOOST_TEST(subscribed);
  expect_status(sub, status_kind::backend_back);
  BOOST_TEST(publish_ok(sys, bc, "patient.late", "hi").receivers == 1);
  auto ev = late.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "hi");
}

BOOST_AUTO_TEST_CASE(paused_server_detected) {
  // SIGSTOP leaves the sockets open but the server replies to nothing, so
  // only the PING health check can detect it.
  auto bc = connect(server.url(std::string{fast_reconnect}
                               + "&health_check_interval=100ms"
                                 "&command_timeout=300ms"
                                 "&connect_timeout=300ms"));
  listener sub{sys};
  require_ok(sub.subscribe(bc, "frozen"));
  BOOST_TEST(publish_ok(sys, bc, "frozen", "before").receivers == 1);
  BOOST_REQUIRE(sub.next_event());
  auto paused_at = std::chrono::steady_clock::now();
  server.pause();
  auto lost = sub.next_status();
  BOOST_REQUIRE(lost);
  BOOST_TEST(lost->kind == status_kind::backend_lost);
  BOOST_TEST(lost->reason.find("command_timeout") != std::string::npos);
  // Health check interval plus command timeout, with room for scheduling.
  BOOST_TEST(millis(std::chrono::steady_clock::now() - paused_at)
             < millis(scaled(3s)));
  BOOST_REQUIRE(publish_link_down(bc));
  auto ack = publish_blocking(sys, bc, "frozen", "during", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::backend_unavailable));
  server.resume();
  auto back = sub.next_status();
  BOOST_REQUIRE(back);
  BOOST_TEST(back->kind == status_kind::backend_back);
  BOOST_TEST(eventually(
    [&] {
      auto x = publish_blocking(sys, bc, "frozen", "after", deadline());
      return x && x->receivers == 1;
    },
    deadline()));
  auto ev = sub.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "after");
}

BOOST_AUTO_TEST_CASE(paused_server_connect_times_out) {
  server.pause();
  auto started = std::chrono::steady_clock::now();
  auto bc = connect(server.url("?connect_timeout=300ms"));
  auto ack = publish_blocking(sys, bc, "ch", "x", deadline());
  auto elapsed = std::chrono::steady_clock::now() - started;
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::backend_unavailable));
  auto text = describe(ack.error());
  BOOST_TEST(text.find("timed out after 300ms") != std::string::npos);
  BOOST_TEST(millis(elapsed) >= 300);
  BOOST_TEST(millis(elapsed) < millis(scaled(3s)));
  server.resume();
}

BOOST_AUTO_TEST_CASE(unreachable_server_fails_fast) {
  auto port = free_port();
  auto bc = connect("redis://127.0.0.1:" + std::to_string(port));
  auto started = std::chrono::steady_clock::now();
  auto ack = publish_blocking(sys, bc, "ch", "x", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::backend_unavailable));
  BOOST_TEST(describe(ack.error()).find("Connection refused")
             != std::string::npos);
  listener sub{sys};
  auto result = sub.subscribe(bc, "ch");
  BOOST_REQUIRE(!result);
  BOOST_TEST(is(result.error(), errc::backend_unavailable));
  BOOST_TEST(millis(std::chrono::steady_clock::now() - started)
             < millis(scaled(2s)));
  // The fixture then stops the supervisor while the backend keeps
  // retrying; the actor system must still shut down.
}

BOOST_AUTO_TEST_CASE(dropped_sessions_grow_backoff) {
  // Redis drops the subscribe connection each time it is back, as a server
  // would that breaks every session right after SUBSCRIBE. Such short
  // sessions must count toward the backoff.
  auto bc = connect(server.url("?reconnect_min=20ms&reconnect_max=10s"));
  listener sub{sys};
  require_ok(sub.subscribe(bc, "flaky"));
  for (int round = 0; round < 4; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_REQUIRE(eventually([&] { return server.numsub("flaky") == 1; },
                               deadline()));
      auto losses = counter(bc, "connection_losses");
      server.cli({"CLIENT", "KILL", "TYPE", "pubsub"});
      // The reconnect may follow within milliseconds, so the test waits for
      // the loss counter rather than for a disconnected state.
      BOOST_REQUIRE(eventually(
        [&] { return counter(bc, "connection_losses") > losses; },
        deadline()));
    }
  }
  // After four short sessions the wait is at least half of
  // reconnect_min * 2^4. Without the rule it would stay at reconnect_min.
  BOOST_TEST(counter(bc, "subscribe_retry_ms") >= 160);
  BOOST_TEST(eventually([&] { return server.numsub("flaky") == 1; },
                        deadline()));
  // Each round sent backend_lost, then backend_back.
  std::optional<status_event> last;
  for (int i = 0; i < 8; ++i) {
    auto status = sub.next_status();
    BOOST_REQUIRE(status);
    BOOST_TEST(status->kind
               == (i % 2 == 0 ? status_kind::backend_lost
                              : status_kind::backend_back));
    last = status;
  }
  BOOST_TEST(publish_ok(sys, bc, "flaky", "steady").receivers == 1);
  auto ev = sub.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "steady");
}

BOOST_AUTO_TEST_SUITE_END()
