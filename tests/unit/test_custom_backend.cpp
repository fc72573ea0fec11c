#define BOOST_TEST_MODULE custom_backend
#include <boost/test/unit_test.hpp>

// Only public headers: the backend under test is the one the install
// consumer project builds too.
#include "../install/consumer/loop_backend.hpp"
#include "support/support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;

BOOST_FIXTURE_TEST_SUITE(custom_backend, system_fixture)

BOOST_AUTO_TEST_CASE(registered_scheme_round_trip) {
  auto table = memory_schemes();
  table.add("loop", loop::make_loop_backend);
  auto bc = spawn_broadcast(sys, "loop://", table);
  require_ok(bc);
  auto sub = subscribe_blocking(sys, *bc, "c", {}, deadline());
  require_ok(sub);
  auto ack = publish_blocking(sys, *bc, "c", "m", deadline());
  require_ok(ack);
  BOOST_TEST(ack->receivers == 1);
  auto ev = sub->next(deadline());
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "m");
  BOOST_TEST(ev->id == ack->id);
  auto st = stats_blocking(sys, *bc, deadline());
  require_ok(st);
  BOOST_TEST(st->backend == "loop://");
  BOOST_TEST(st->backend_counters["published"] == 1u);
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(factory_instead_of_url) {
  broadcast_options opts;
  opts.description = "loop";
  auto bc = spawn_broadcast(
    sys,
    [](caf::actor_system& s, const url& u) {
      return loop::make_loop_backend(s, u);
    },
    opts);
  require_ok(bc);
  auto sub = subscribe_blocking(sys, *bc, "c", {}, deadline());
  require_ok(sub);
  require_ok(publish_blocking(sys, *bc, "c", "via factory", deadline()));
  auto ev = sub->next(deadline());
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "via factory");
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(backend_errors_reach_the_caller) {
  auto table = memory_schemes();
  table.add("loop", loop::make_loop_backend);
  auto bc = spawn_broadcast(sys, "loop://", table);
  require_ok(bc);
  subscribe_options glob;
  glob.pattern = true;
  auto pattern = subscribe_blocking(sys, *bc, "c.*", glob, deadline());
  BOOST_REQUIRE(!pattern);
  BOOST_TEST(is(pattern.error(), errc::unsupported));
  BOOST_TEST(describe(pattern.error()).find("loop://") != std::string::npos);
  subscribe_options history;
  history.history = 5;
  auto replay = subscribe_blocking(sys, *bc, "c", history, deadline());
  BOOST_REQUIRE(!replay);
  BOOST_TEST(is(replay.error(), errc::unsupported));
  auto page = history_blocking(sys, *bc, "c", "", 10, deadline());
  BOOST_REQUIRE(!page);
  BOOST_TEST(is(page.error(), errc::unsupported));
  // A failed subscribe leaves nothing behind.
  auto st = stats_blocking(sys, *bc, deadline());
  require_ok(st);
  BOOST_TEST(st->subscriptions == 0u);
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(unknown_scheme_lists_registered_ones) {
  auto table = memory_schemes();
  table.add("loop", loop::make_loop_backend);
  auto bc = spawn_broadcast(sys, "nope://", table);
  BOOST_REQUIRE(!bc);
  auto text = describe(bc.error());
  BOOST_TEST(text.find("loop://") != std::string::npos);
  BOOST_TEST(text.find("memory://") != std::string::npos);
  auto option = spawn_broadcast(sys, "loop://?x=1", table);
  BOOST_REQUIRE(!option);
  BOOST_TEST(is(option.error(), errc::unsupported_option));
}

BOOST_AUTO_TEST_SUITE_END()
