// Tests of the caf:// backend in this process against `broadcaster serve`
// nodes started as child processes on loopback.

#define BOOST_TEST_MODULE caf_node
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/caf_node.hpp"
#include "cli_process.hpp"
#include "support/support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using stream = piped_process;

namespace {

struct node_config : caf::actor_system_config {
  node_config() {
    register_types(*this);
    load<caf::io::middleman>();
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

scheme_table schemes() {
  auto table = memory_schemes();
  register_caf_node_backend(table);
  return table;
}

std::unique_ptr<piped_process> start_serve(uint16_t port = 0) {
  return std::make_unique<piped_process>(std::vector<std::string>{
    cli_path(), "serve", "--port", std::to_string(port)});
}

// A subscriber on the test thread that keeps events and status messages
// apart and waits for either with a deadline.
class receiver {
public:
  explicit receiver(caf::actor_system& sys) : self_(sys) {
    // nop
  }

  caf::expected<subscription> subscribe(const broadcast_actor& bc,
                                        const std::string& channel,
                                        subscribe_options opts = {}) {
    caf::expected<subscription> result{make_error(errc::timeout)};
    self_
      ->request(bc, deadline(), bc_subscribe_atom::value, channel,
                caf::actor_cast<caf::actor>(self_.ptr()), opts)
      .receive([&](subscription& sub) { result = std::move(sub); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::optional<event> next_event(std::chrono::milliseconds timeout) {
    while (events_.empty() && receive_one(timeout)) {
    }
    if (events_.empty()) {
      return std::nullopt;
    }
    auto ev = std::move(events_.front());
    events_.pop_front();
    return ev;
  }

  std::optional<status_event> next_status(std::chrono::milliseconds timeout) {
    while (statuses_.empty() && receive_one(timeout)) {
    }
    if (statuses_.empty()) {
      return std::nullopt;
    }
    auto st = std::move(statuses_.front());
    statuses_.pop_front();
    return st;
  }

  size_t batches() const noexcept {
    return batches_;
  }

  size_t empty_batches() const noexcept {
    return empty_batches_;
  }

private:
  bool receive_one(std::chrono::milliseconds timeout) {
    bool received = true;
    self_->receive(
      [&](event_batch& batch) {
        ++batches_;
        if (batch.events.empty()) {
          ++empty_batches_;
        }
        for (auto& ev : batch.events) {
          events_.push_back(std::move(ev));
        }
        acknowledge(self_.ptr(), batch.events.size());
      },
      [&](status_event& st) { statuses_.push_back(std::move(st)); },
      [&](events_skipped&) {},
      caf::after(timeout) >> [&] { received = false; });
    return received;
  }

  caf::scoped_actor self_;
  std::deque<event> events_;
  std::deque<status_event> statuses_;
  size_t batches_ = 0;
  size_t empty_batches_ = 0;
};

struct fixture {
  fixture() : node(start_serve()), sys(cfg) {
    port = listening_port(*node, deadline());
    BOOST_REQUIRE_MESSAGE(port != 0, "serve printed no port");
    url = "caf://127.0.0.1:" + std::to_string(port);
    auto bc = spawn_broadcast(sys, url + "?reconnect_min=50ms"
                                         "&reconnect_max=200ms",
                              schemes());
    require_ok(bc);
    local = *bc;
    auto node_handle = connect_node(sys, "127.0.0.1", port, deadline());
    require_ok(node_handle);
    remote = *node_handle;
  }

  ~fixture() {
    caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  }

  // Counters of the channel `name` at the node, if it has subscribers.
  std::optional<channel_stats> remote_channel(const std::string& name) {
    auto stats = stats_blocking(sys, remote, deadline());
    require_ok(stats);
    for (auto& ch : stats->channels) {
      if (ch.channel == name) {
        return ch;
      }
    }
    return std::nullopt;
  }

  void publish_remote(const std::string& channel, const std::string& text) {
    require_ok(publish_blocking(sys, remote, channel, text, deadline()));
  }

  std::unique_ptr<piped_process> node;
  uint16_t port = 0;
  std::string url;
  node_config cfg;
  caf::actor_system sys;
  broadcast_actor local;
  broadcast_actor remote;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(caf_backend, fixture)

BOOST_AUTO_TEST_CASE(publish_reaches_local_subscriber) {
  receiver sub{sys};
  require_ok(sub.subscribe(local, "news"));
  auto ack = publish_blocking(sys, local, "news", "hello", deadline());
  require_ok(ack);
  BOOST_CHECK_EQUAL(ack->id, "1");
  auto ev = sub.next_event(deadline());
  BOOST_REQUIRE(ev);
  BOOST_CHECK_EQUAL(ev->channel, "news");
  BOOST_CHECK_EQUAL(ev->message, "hello");
  BOOST_CHECK_EQUAL(ev->id, "1");
}

BOOST_AUTO_TEST_CASE(each_event_crosses_network_once_per_node) {
  constexpr size_t subscribers = 5;
  constexpr size_t events = 20;
  std::vector<std::unique_ptr<receiver>> subs;
  for (size_t i = 0; i < subscribers; ++i) {
    subs.push_back(std::make_unique<receiver>(sys));
    require_ok(subs.back()->subscribe(local, "fan"));
  }
  auto before = remote_channel("fan");
  BOOST_REQUIRE(before);
  BOOST_CHECK_EQUAL(before->subscribers, 1u);
  for (size_t i = 0; i < events; ++i) {
    publish_remote("fan", std::to_string(i));
  }
  for (auto& sub : subs) {
    for (size_t i = 0; i < events; ++i) {
      auto ev = sub->next_event(deadline());
      BOOST_REQUIRE(ev);
      BOOST_CHECK_EQUAL(ev->message, std::to_string(i));
    }
  }
  auto after = remote_channel("fan");
  BOOST_REQUIRE(after);
  BOOST_CHECK_EQUAL(after->subscribers, 1u);
  BOOST_CHECK_EQUAL(after->delivered, events);
  auto stats = stats_blocking(sys, remote, deadline());
  require_ok(stats);
  BOOST_CHECK_EQUAL(stats->subscriptions, 1u);
  auto local_stats = stats_blocking(sys, local, deadline());
  require_ok(local_stats);
  BOOST_REQUIRE_EQUAL(local_stats->channels.size(), 1u);
  BOOST_CHECK_EQUAL(local_stats->channels[0].subscribers, subscribers);
  BOOST_CHECK_EQUAL(local_stats->backend_counters["remote_subscriptions"],
                    1u);
}

BOOST_AUTO_TEST_CASE(history_then_live) {
  for (auto text : {"a", "b", "c"}) {
    publish_remote("h", text);
  }
  receiver sub{sys};
  subscribe_options opts;
  opts.history = 2;
  require_ok(sub.subscribe(local, "h", opts));
  publish_remote("h", "d");
  for (auto expected : {"b", "c", "d"}) {
    auto ev = sub.next_event(deadline());
    BOOST_REQUIRE(ev);
    BOOST_CHECK_EQUAL(ev->message, expected);
  }
}

BOOST_AUTO_TEST_CASE(history_seam_on_subscribed_key_has_no_gap) {
  // A publisher runs at the node while further subscribers ask for history
  // on a key that this node has already subscribed there. Each must see
  // consecutive numbers: no gap and no duplicate between the stored and
  // the live events.
  receiver first{sys};
  require_ok(first.subscribe(local, "seam"));
  std::atomic<bool> stop{false};
  std::atomic<int> published{0};
  std::thread publisher{[&] {
    for (int i = 0; !stop && i < 100000; ++i) {
      if (!publish_blocking(sys, remote, "seam", std::to_string(i),
                            deadline())) {
        break;
      }
      published = i + 1;
    }
  }};
  std::vector<std::unique_ptr<receiver>> late;
  for (int k = 0; k < 5; ++k) {
    while (published < (k + 1) * 20) {
      std::this_thread::yield();
    }
    late.push_back(std::make_unique<receiver>(sys));
    subscribe_options opts;
    opts.history = 1000;
    require_ok(late.back()->subscribe(local, "seam", opts));
  }
  auto target = published + 50;
  while (published < target) {
    std::this_thread::yield();
  }
  stop = true;
  publisher.join();
  int last = published - 1;
  for (auto& sub : late) {
    auto ev = sub->next_event(deadline());
    BOOST_REQUIRE(ev);
    int expected = std::stoi(ev->message);
    BOOST_CHECK_EQUAL(expected, 0);
    while (expected < last) {
      auto next = sub->next_event(deadline());
      BOOST_REQUIRE_MESSAGE(next, "missing event after " << expected);
      BOOST_REQUIRE_EQUAL(std::stoi(next->message), expected + 1);
      expected = std::stoi(next->message);
    }
  }
}

BOOST_AUTO_TEST_CASE(empty_history_on_subscribed_key) {
  receiver first{sys};
  require_ok(first.subscribe(local, "e"));
  receiver second{sys};
  subscribe_options opts;
  opts.history = 5;
  require_ok(second.subscribe(local, "e", opts));
  publish_remote("e", "x");
  auto a = first.next_event(deadline());
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->message, "x");
  auto b = second.next_event(deadline());
  BOOST_REQUIRE(b);
  BOOST_CHECK_EQUAL(b->message, "x");
  publish_remote("e", "y");
  auto c = second.next_event(deadline());
  BOOST_REQUIRE(c);
  BOOST_CHECK_EQUAL(c->message, "y");
}

BOOST_AUTO_TEST_CASE(pattern_with_history) {
  publish_remote("a.1", "one");
  publish_remote("b.1", "other");
  publish_remote("a.2", "two");
  receiver sub{sys};
  subscribe_options opts;
  opts.pattern = true;
  opts.history = 10;
  require_ok(sub.subscribe(local, "a.*", opts));
  publish_remote("a.3", "three");
  publish_remote("b.2", "ignored");
  for (auto expected : {"one", "two", "three"}) {
    auto ev = sub.next_event(deadline());
    BOOST_REQUIRE(ev);
    BOOST_CHECK_EQUAL(ev->message, expected);
    BOOST_CHECK_EQUAL(ev->pattern, "a.*");
  }
}

BOOST_AUTO_TEST_CASE(history_request_is_forwarded) {
  for (auto text : {"1", "2", "3"}) {
    publish_remote("page", text);
  }
  auto page = history_blocking(sys, local, "page", "", 2, deadline());
  require_ok(page);
  BOOST_REQUIRE_EQUAL(page->events.size(), 2u);
  BOOST_CHECK_EQUAL(page->events[0].message, "3");
  BOOST_CHECK_EQUAL(page->events[1].message, "2");
  BOOST_CHECK(page->more);
  auto bad = history_blocking(sys, local, "page", "x", 2, deadline());
  BOOST_REQUIRE(!bad);
  BOOST_CHECK(is(bad.error(), errc::invalid_id));
}

BOOST_AUTO_TEST_CASE(remote_errors_pass_through) {
  receiver sub{sys};
  subscribe_options opts;
  opts.pattern = true;
  auto bad = sub.subscribe(local, "[unclosed", opts);
  BOOST_REQUIRE(!bad);
  BOOST_CHECK(is(bad.error(), errc::invalid_channel));
}

BOOST_AUTO_TEST_CASE(unsubscribe_ends_remote_subscription) {
  {
    receiver sub{sys};
    require_ok(sub.subscribe(local, "gone"));
    BOOST_REQUIRE(remote_channel("gone"));
  }
  // The node's state changes only after messages between three actors, so
  // there is nothing to wait on from here but its counters.
  BOOST_CHECK(eventually([&] { return !remote_channel("gone"); },
                         deadline()));
}

BOOST_AUTO_TEST_CASE(node_loss_and_restart) {
  receiver sub{sys};
  require_ok(sub.subscribe(local, "live"));
  publish_remote("live", "before");
  BOOST_REQUIRE(sub.next_event(deadline()));
  node->send_signal(SIGKILL);
  BOOST_REQUIRE(node->wait_exit(deadline()));
  auto lost = sub.next_status(deadline());
  BOOST_REQUIRE(lost);
  BOOST_CHECK(lost->kind == status_kind::backend_lost);
  BOOST_CHECK(lost->events_may_be_lost);
  BOOST_CHECK_EQUAL(lost->channel, "live");
  auto started = std::chrono::steady_clock::now();
  auto refused = publish_blocking(sys, local, "live", "during", deadline());
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(is(refused.error(), errc::backend_unavailable));
  BOOST_CHECK_NE(describe(refused.error()).find(url), std::string::npos);
  BOOST_CHECK(std::chrono::steady_clock::now() - started
              < scaled(std::chrono::milliseconds{1000}));
  node = start_serve(port);
  BOOST_REQUIRE_EQUAL(listening_port(*node, deadline()), port);
  auto back = sub.next_status(deadline());
  BOOST_REQUIRE(back);
  BOOST_CHECK(back->kind == status_kind::backend_back);
  auto fresh = connect_node(sys, "127.0.0.1", port, deadline());
  require_ok(fresh);
  remote = *fresh;
  publish_remote("live", "after");
  auto ev = sub.next_event(deadline());
  BOOST_REQUIRE(ev);
  BOOST_CHECK_EQUAL(ev->message, "after");
  auto ch = remote_channel("live");
  BOOST_REQUIRE(ch);
  BOOST_CHECK_EQUAL(ch->subscribers, 1u);
}

BOOST_AUTO_TEST_CASE(plain_remote_actor_subscribes) {
  piped_process helper{{NODE_HELPER_PATH, "subscribe", "127.0.0.1",
                        std::to_string(port), "plain", "2"}};
  BOOST_REQUIRE_MESSAGE(helper.wait_for(stream::out, "subscribed",
                                        deadline()),
                        helper.seen(stream::out));
  auto r = run_program({cli_path(), "publish", url, "plain", "one"},
                       deadline());
  BOOST_REQUIRE_EQUAL(r.code, 0);
  publish_remote("plain", "two");
  auto first = helper.read_line(stream::out, deadline());
  BOOST_REQUIRE(first);
  BOOST_CHECK_EQUAL(*first, "event: plain one");
  auto second = helper.read_line(stream::out, deadline());
  BOOST_REQUIRE(second);
  BOOST_CHECK_EQUAL(*second, "event: plain two");
  BOOST_CHECK_EQUAL(helper.wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(connecting)

BOOST_AUTO_TEST_CASE(malformed_urls) {
  node_config cfg;
  caf::actor_system sys{cfg};
  struct bad_url {
    const char* text;
    errc code;
  };
  for (auto [text, code] :
       {bad_url{"caf://127.0.0.1", errc::invalid_url},
        bad_url{"caf://127.0.0.1:0", errc::invalid_url},
        bad_url{"caf://:4242", errc::invalid_url},
        bad_url{"caf://127.0.0.1:4242/x", errc::invalid_url},
        bad_url{"caf://u:p@127.0.0.1:4242", errc::invalid_url},
        bad_url{"caf://127.0.0.1:4242?x=1", errc::unsupported_option},
        bad_url{"caf://127.0.0.1:4242?connect_timeout=0ms",
                errc::invalid_option},
        bad_url{"caf://127.0.0.1:4242?reconnect_min=2s&reconnect_max=1s",
                errc::invalid_option}}) {
    auto bc = spawn_broadcast(sys, text, schemes());
    BOOST_REQUIRE_MESSAGE(!bc, text);
    BOOST_CHECK_MESSAGE(is(bc.error(), code),
                        text << ": " << describe(bc.error()));
    BOOST_CHECK_EQUAL(describe(bc.error()).find(":p@"), std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(refused_port_fails_fast) {
  node_config cfg;
  caf::actor_system sys{cfg};
  auto port = free_port();
  auto bc = spawn_broadcast(sys, "caf://127.0.0.1:" + std::to_string(port),
                            schemes());
  require_ok(bc);
  auto ack = publish_blocking(sys, *bc, "c", "m", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_CHECK(is(ack.error(), errc::backend_unavailable));
  auto again = publish_blocking(sys, *bc, "c", "m", deadline());
  BOOST_REQUIRE(!again);
  BOOST_CHECK(is(again.error(), errc::backend_unavailable));
  auto node = connect_node(sys, "127.0.0.1", port, deadline());
  BOOST_REQUIRE(!node);
  BOOST_CHECK(is(node.error(), errc::backend_unavailable));
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(type_mismatch_is_reported) {
  piped_process helper{{NODE_HELPER_PATH, "mismatch"}};
  auto port = listening_port(helper, deadline());
  BOOST_REQUIRE(port != 0);
  node_config cfg;
  caf::actor_system sys{cfg};
  auto node = connect_node(sys, "127.0.0.1", port, deadline());
  BOOST_REQUIRE(!node);
  BOOST_CHECK(is(node.error(), errc::backend_error));
  BOOST_CHECK_NE(describe(node.error()).find("incompatible broadcaster"),
                 std::string::npos);
  auto bc = spawn_broadcast(sys, "caf://127.0.0.1:" + std::to_string(port),
                            schemes());
  require_ok(bc);
  auto ack = publish_blocking(sys, *bc, "c", "m", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_CHECK_NE(describe(ack.error()).find("incompatible broadcaster"),
                 std::string::npos);
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  piped_process client{{NODE_HELPER_PATH, "subscribe", "127.0.0.1",
                        std::to_string(port), "c", "1"}};
  auto line = client.wait_for(stream::out, "error: ", deadline());
  BOOST_REQUIRE(line);
  BOOST_CHECK_NE(line->find("incompatible broadcaster"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Sends an exit message to a supervisor when the scope ends.
class exit_on_scope_end {
public:
  explicit exit_on_scope_end(broadcast_actor handle)
    : handle_(std::move(handle)) {
    // nop
  }

  ~exit_on_scope_end() {
    caf::anon_send_exit(handle_, caf::exit_reason::user_shutdown);
  }

  exit_on_scope_end(const exit_on_scope_end&) = delete;
  exit_on_scope_end& operator=(const exit_on_scope_end&) = delete;

private:
  broadcast_actor handle_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(node_backend)

BOOST_AUTO_TEST_CASE(backend_status_reaches_subscribers) {
  // The node's own backend dies and is restarted by the node's supervisor.
  // A subscriber on another node must receive backend_lost and backend_back,
  // as a subscriber at the node does, since events may be missing.
  node_config node_cfg;
  caf::actor_system node_sys{node_cfg};
  auto backends = std::make_shared<std::vector<backend_actor>>();
  auto guard = std::make_shared<std::mutex>();
  backend_factory factory = [backends, guard](caf::actor_system& s,
                                              const url&)
    -> caf::expected<backend_actor> {
    auto result = spawn_memory_backend(s, *parse_url("memory://"));
    if (result) {
      std::lock_guard<std::mutex> lock{*guard};
      backends->push_back(*result);
    }
    return result;
  };
  auto served = spawn_broadcast(node_sys, factory);
  require_ok(served);
  // Stops the supervisors also when a check fails, so that the actor
  // systems can shut down.
  exit_on_scope_end stop_served{*served};
  auto port = node_sys.middleman().publish(*served, 0, "127.0.0.1");
  require_ok(port);
  node_config cfg;
  caf::actor_system sys{cfg};
  auto bc = spawn_broadcast(sys, "caf://127.0.0.1:" + std::to_string(*port),
                            schemes());
  require_ok(bc);
  exit_on_scope_end stop_local{*bc};
  receiver sub{sys};
  require_ok(sub.subscribe(*bc, "watched"));
  require_ok(publish_blocking(sys, *bc, "watched", "before", deadline()));
  auto before = sub.next_event(deadline());
  BOOST_REQUIRE(before);
  BOOST_CHECK_EQUAL(before->message, "before");
  backend_actor first;
  {
    std::lock_guard<std::mutex> lock{*guard};
    BOOST_REQUIRE_EQUAL(backends->size(), 1u);
    first = backends->front();
  }
  caf::anon_send_exit(first, caf::exit_reason::kill);
  auto lost = sub.next_status(deadline());
  BOOST_REQUIRE(lost);
  BOOST_CHECK(lost->kind == status_kind::backend_lost);
  BOOST_CHECK(lost->events_may_be_lost);
  BOOST_CHECK_EQUAL(lost->channel, "watched");
  BOOST_CHECK_NE(lost->reason.find("127.0.0.1:" + std::to_string(*port)),
                 std::string::npos);
  auto back = sub.next_status(deadline());
  BOOST_REQUIRE(back);
  BOOST_CHECK(back->kind == status_kind::backend_back);
  require_ok(publish_blocking(sys, *bc, "watched", "after", deadline()));
  auto after = sub.next_event(deadline());
  BOOST_REQUIRE(after);
  BOOST_CHECK_EQUAL(after->message, "after");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(core)

BOOST_AUTO_TEST_CASE(empty_replay_is_delivered) {
  // Regression: channel actors sent nothing for a history request that
  // found no stored events, so a caf:// forwarder could not tell the
  // replay from the first live batch.
  node_config cfg;
  caf::actor_system sys{cfg};
  auto bc = spawn_broadcast(sys, "memory://");
  require_ok(bc);
  receiver sub{sys};
  subscribe_options opts;
  opts.history = 3;
  require_ok(sub.subscribe(*bc, "unused", opts));
  require_ok(publish_blocking(sys, *bc, "unused", "live", deadline()));
  auto ev = sub.next_event(deadline());
  BOOST_REQUIRE(ev);
  BOOST_CHECK_EQUAL(ev->message, "live");
  BOOST_CHECK_EQUAL(sub.empty_batches(), 1u);
  BOOST_CHECK_EQUAL(sub.batches(), 2u);
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
