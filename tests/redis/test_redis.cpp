#define BOOST_TEST_MODULE redis
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "redis_support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

namespace {

using failed_atom = caf::atom_constant<caf::atom("tfailed")>;

struct fixture : redis_fixture {
  fixture() {
    bc = connect(server.url());
  }

  redis_server server;
  broadcast_actor bc;
};

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Subscribes when it receives subscribe_atom, reports (ok_atom) or
// (failed_atom, text) to `sink`, and throws on the message "crash", so
// that it exits abnormally.
caf::behavior fragile_subscriber(caf::event_based_actor* self,
                                 broadcast_actor bc, std::string channel,
                                 caf::actor sink) {
  return event_handler(self, [](const event& ev) {
           if (ev.message == "crash") {
             throw std::runtime_error("fragile_subscriber crashes on purpose");
           }
         })
    .or_else([self, bc, channel, sink](caf::subscribe_atom) {
      self
        ->request(bc, caf::infinite, bc_subscribe_atom::value, channel,
                  caf::actor{self}, subscribe_options{})
        .then([self, sink](const subscription&) {
                self->send(sink, caf::ok_atom::value);
              },
              [self, sink](caf::error& err) {
                self->send(sink, failed_atom::value, describe(err));
              });
    });
}

// Subscribes once and reports (ok_atom) or (failed_atom, text) to `sink`,
// then forwards each event to it.
caf::behavior racing_subscriber(caf::event_based_actor* self,
                                broadcast_actor bc, std::string channel,
                                caf::actor sink) {
  self
    ->request(bc, caf::infinite, bc_subscribe_atom::value, channel,
              caf::actor{self}, subscribe_options{})
    .then([self, sink](const subscription&) {
            self->send(sink, caf::ok_atom::value);
          },
          [self, sink](caf::error& err) {
            self->send(sink, failed_atom::value, describe(err));
          });
  return event_handler(self,
                       [self, sink](const event& ev) { self->send(sink, ev); });
}

// Sends `count` publishes on `channel` at once, without waiting for a
// reply in between, then reports (ok_atom, failures) to `sink`.
caf::behavior bulk_publisher(caf::event_based_actor* self, broadcast_actor bc,
                             std::string channel, int count,
                             caf::actor sink) {
  struct progress {
    int replies = 0;
    int failures = 0;
  };
  auto p = std::make_shared<progress>();
  auto done = [self, p, count, sink] {
    if (++p->replies == count) {
      self->send(sink, caf::ok_atom::value, p->failures);
      self->quit();
    }
  };
  for (int i = 0; i < count; ++i) {
    self
      ->request(bc, caf::infinite, bc_publish_atom::value, channel,
                std::to_string(i))
      .then(
        [p, done](const publish_ack& ack) {
          if (ack.receivers != 1) {
            ++p->failures;
          }
          done();
        },
        [p, done](caf::error&) {
          ++p->failures;
          done();
        });
  }
  return {[] {}};
}

// Waits for `count` (ok_atom) replies on `self`.
void await_ok(caf::scoped_actor& self, int count) {
  for (int i = 0; i < count; ++i) {
    bool ok = false;
    std::string failure = "no reply within the deadline";
    self->receive([&](caf::ok_atom) { ok = true; },
                  [&](failed_atom, const std::string& text) {
                    failure = text;
                  },
                  caf::after(deadline()) >> [] {});
    BOOST_REQUIRE_MESSAGE(ok, failure);
  }
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pubsub, fixture)

BOOST_AUTO_TEST_CASE(round_trip_delivers_event) {
  listener sub{sys};
  require_ok(sub.subscribe(bc, "chatroom"));
  auto ack = publish_ok(sys, bc, "chatroom", "hello");
  BOOST_TEST(ack.receivers == 1);
  BOOST_TEST(ack.id.empty());
  auto ev = sub.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->channel == "chatroom");
  BOOST_TEST(ev->message == "hello");
  BOOST_TEST(ev->id.empty());
  BOOST_TEST(ev->pattern.empty());
}

BOOST_AUTO_TEST_CASE(receivers_counts_subscriptions) {
  BOOST_TEST(publish_ok(sys, bc, "lonely", "nobody").receivers == 0);
  // A second supervisor has its own subscribe connection, so Redis counts
  // two receivers, as for two processes.
  auto other = connect(server.url());
  listener first{sys};
  listener second{sys};
  require_ok(first.subscribe(bc, "shared"));
  require_ok(second.subscribe(other, "shared"));
  BOOST_TEST(publish_ok(sys, bc, "shared", "both").receivers == 2);
  auto a = first.next_event();
  auto b = second.next_event();
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(a->message == "both");
  BOOST_TEST(b->message == "both");
}

BOOST_AUTO_TEST_CASE(many_subscribers_and_channels) {
  constexpr int channels = 12;
  constexpr int per_channel = 4;
  constexpr int messages = 50;
  std::vector<std::unique_ptr<listener>> subs;
  for (int c = 0; c < channels; ++c) {
    for (int s = 0; s < per_channel; ++s) {
      subs.push_back(std::make_unique<listener>(sys));
      require_ok(subs.back()->subscribe(bc, "room." + std::to_string(c)));
    }
  }
  BOOST_TEST(server.numsub("room.0") == 1);
  for (int m = 0; m < messages; ++m) {
    for (int c = 0; c < channels; ++c) {
      auto channel = "room." + std::to_string(c);
      auto ack
        = publish_ok(sys, bc, channel, channel + "#" + std::to_string(m));
      // One subscribe connection per supervisor: Redis counts one
      // receiver, and the channel actor fans out to the four local
      // subscribers.
      BOOST_TEST(ack.receivers == 1);
    }
  }
  for (size_t i = 0; i < subs.size(); ++i) {
    auto channel = "room." + std::to_string(i / per_channel);
    for (int m = 0; m < messages; ++m) {
      auto ev = subs[i]->next_event();
      BOOST_REQUIRE_MESSAGE(ev, "subscriber " << i << " missed message " << m);
      BOOST_TEST(ev->channel == channel);
      BOOST_TEST(ev->message == channel + "#" + std::to_string(m));
    }
  }
  auto st = stats_blocking(sys, bc, deadline());
  require_ok(st);
  BOOST_TEST(st->backend_counters["subscribed_channels"] == uint64_t{channels});
}

BOOST_AUTO_TEST_CASE(pattern_subscriptions_match_globs) {
  struct glob_case {
    std::string pattern;
    std::vector<std::string> matching;
    std::vector<std::string> other;
  };
  std::vector<glob_case> cases{
    {"news.*", {"news.sport", "news."}, {"new.sport", "sport.news"}},
    {"h?llo", {"hello", "hallo"}, {"hllo", "heello"}},
    {"h[ae]llo", {"hello", "hallo"}, {"hillo"}},
    {"h[^e]llo", {"hallo"}, {"hello"}},
    {"id[0-9]", {"id7"}, {"idx"}},
    {"lit\\*", {"lit*"}, {"litx"}},
    // Escaped ] and - in a set mean the same in Redis and memory://.
    {"e[\\]]", {"e]"}, {"ex"}},
    {"f[a\\-]", {"f-", "fa"}, {"fb"}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("pattern " << c.pattern) {
      listener sub{sys};
      subscribe_options opts;
      opts.pattern = true;
      require_ok(sub.subscribe(bc, c.pattern, opts));
      for (const auto& channel : c.other) {
        BOOST_TEST(publish_ok(sys, bc, channel, "no").receivers == 0);
      }
      for (const auto& channel : c.matching) {
        BOOST_TEST(publish_ok(sys, bc, channel, "yes:" + channel).receivers
                   == 1);
        auto ev = sub.next_event();
        BOOST_REQUIRE(ev);
        BOOST_TEST(ev->channel == channel);
        BOOST_TEST(ev->pattern == c.pattern);
        BOOST_TEST(ev->message == "yes:" + channel);
      }
    }
    // The listener is gone; wait until Redis dropped its pattern, since an
    // earlier pattern may match a later case's other channels.
    BOOST_TEST(eventually([&] { return server.numpat() == 0; }, deadline()));
  }
}

BOOST_AUTO_TEST_CASE(channel_and_pattern_both_receive) {
  listener exact{sys};
  listener glob{sys};
  require_ok(exact.subscribe(bc, "news.tech"));
  subscribe_options opts;
  opts.pattern = true;
  require_ok(glob.subscribe(bc, "news.*", opts));
  BOOST_TEST(server.numpat() == 1);
  // Redis counts the channel subscription and the pattern match.
  BOOST_TEST(publish_ok(sys, bc, "news.tech", "gadget").receivers == 2);
  auto a = exact.next_event();
  auto b = glob.next_event();
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(a->pattern.empty());
  BOOST_TEST(b->pattern == "news.*");
  BOOST_TEST(a->message == "gadget");
  BOOST_TEST(b->message == "gadget");
}

BOOST_AUTO_TEST_CASE(unsubscribe_keeps_other_channels) {
  auto sub = subscribe_blocking(sys, bc, "alpha", {}, deadline());
  require_ok(sub);
  BOOST_REQUIRE(!sub->add("beta", {}, deadline()));
  subscribe_options opts;
  opts.pattern = true;
  BOOST_REQUIRE(!sub->add("gamma.*", opts, deadline()));
  BOOST_TEST(server.numsub("alpha") == 1);
  auto alpha_id = sub->subscriptions().front().id;
  auto unsubscribed = [&] {
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(bc, deadline(), bc_unsubscribe_atom::value, alpha_id)
      .receive([&](bc_ok_atom) { ok = true; }, [](caf::error&) {});
    return ok;
  }();
  BOOST_REQUIRE(unsubscribed);
  // The UNSUBSCRIBE reaches Redis after the reply; nothing can be awaited.
  BOOST_TEST(eventually([&] { return server.numsub("alpha") == 0; },
                        deadline()));
  BOOST_TEST(server.numsub("beta") == 1);
  BOOST_TEST(server.numpat() == 1);
  BOOST_TEST(publish_ok(sys, bc, "alpha", "gone").receivers == 0);
  BOOST_TEST(publish_ok(sys, bc, "beta", "still here").receivers == 1);
  BOOST_TEST(publish_ok(sys, bc, "gamma.x", "pattern too").receivers == 1);
  std::set<std::string> got;
  for (int i = 0; i < 2; ++i) {
    auto ev = sub->next(deadline());
    BOOST_REQUIRE(ev);
    got.insert(ev->message);
  }
  BOOST_TEST(got.count("still here") == 1u);
  BOOST_TEST(got.count("pattern too") == 1u);
}

BOOST_AUTO_TEST_CASE(publish_right_after_subscribe) {
  // A subscribe reply means Redis confirmed SUBSCRIBE, so a publish sent
  // after it on the other connection always reaches the subscriber.
  for (int i = 0; i < 100; ++i) {
    auto channel = "fresh." + std::to_string(i);
    listener sub{sys};
    require_ok(sub.subscribe(bc, channel));
    BOOST_TEST(publish_ok(sys, bc, channel, "first").receivers == 1);
    auto ev = sub.next_event();
    BOOST_REQUIRE_MESSAGE(ev, "no event on " << channel);
    BOOST_TEST(ev->message == "first");
  }
}

BOOST_AUTO_TEST_CASE(concurrent_first_subscribes) {
  caf::scoped_actor self{sys};
  auto other = connect(server.url());
  // Two actors race for the first subscription of a channel on the same
  // supervisor, and two more on a second supervisor.
  std::vector<caf::actor> actors;
  for (auto& target : {bc, bc, other, other}) {
    actors.push_back(sys.spawn(racing_subscriber, target,
                               std::string{"race"}, caf::actor{self}));
  }
  await_ok(self, 4);
  BOOST_TEST(publish_ok(sys, bc, "race", "go").receivers == 2);
  for (int i = 0; i < 4; ++i) {
    bool got = false;
    self->receive([&](const event& ev) { got = ev.message == "go"; },
                  caf::after(deadline()) >> [] {});
    BOOST_TEST(got);
  }
  for (auto& a : actors) {
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
}

BOOST_AUTO_TEST_CASE(binary_payloads_round_trip) {
  std::string large(1 << 20, '\0');
  std::mt19937 rng{42};
  for (auto& c : large) {
    c = static_cast<char>(rng() & 0xff);
  }
  std::vector<std::string> payloads{
    "",
    std::string{"\0", 1},
    std::string{"a\0b\0", 4},
    "\xff\xfe\x80\xc3\x28",
    "line\r\nbreak\r\n",
    "$5\r\nfake\r\n*1\r\n",
    large,
  };
  // Channel names are bytes as well.
  std::string channel{"bin\0\xff chan", 10};
  listener sub{sys};
  require_ok(sub.subscribe(bc, channel));
  for (const auto& payload : payloads) {
    BOOST_TEST(publish_ok(sys, bc, channel, payload).receivers == 1);
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    auto ev = sub.next_event();
    BOOST_REQUIRE(ev);
    BOOST_TEST(ev->channel == channel);
    BOOST_TEST(ev->message.size() == payloads[i].size());
    BOOST_TEST((ev->message == payloads[i]), "payload " << i << " differs");
  }
}

BOOST_AUTO_TEST_CASE(history_is_unsupported) {
  listener sub{sys};
  subscribe_options opts;
  opts.history = 5;
  auto result = sub.subscribe(bc, "archive", opts);
  BOOST_REQUIRE(!result);
  BOOST_TEST(is(result.error(), errc::unsupported));
  auto text = describe(result.error());
  BOOST_TEST(text.find("redis://") != std::string::npos);
  BOOST_TEST(text.find("redis-stream://") != std::string::npos);
  auto page = history_blocking(sys, bc, "archive", "", 10, deadline());
  BOOST_REQUIRE(!page);
  BOOST_TEST(is(page.error(), errc::unsupported));
  BOOST_TEST(describe(page.error()).find("redis-stream://")
             != std::string::npos);
  // The failed subscribe left nothing behind at Redis.
  BOOST_TEST(server.numsub("archive") == 0);
}

BOOST_AUTO_TEST_CASE(oversized_message_rejected) {
  auto small = connect(server.url("?max_message_size=10"));
  auto ack = publish_blocking(sys, small, "ch", std::string(11, 'x'),
                              deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::payload_too_large));
  BOOST_TEST(describe(ack.error()).find("max_message_size")
             != std::string::npos);
  BOOST_TEST(publish_ok(sys, small, "ch", std::string(10, 'x')).receivers
             == 0);
}

BOOST_AUTO_TEST_CASE(subscriber_exit_clears_numsub) {
  {
    listener sub{sys};
    require_ok(sub.subscribe(bc, "leaving"));
    BOOST_TEST(server.numsub("leaving") == 1);
  }
  // The listener's actors are gone; the channel actor unsubscribes.
  BOOST_TEST(eventually([&] { return server.numsub("leaving") == 0; },
                        deadline()));
  {
    auto sub = subscribe_blocking(sys, bc, "leaving.blocking", {},
                                  deadline());
    require_ok(sub);
    BOOST_TEST(server.numsub("leaving.blocking") == 1);
  }
  BOOST_TEST(eventually([&] { return server.numsub("leaving.blocking") == 0; },
                        deadline()));
}

BOOST_AUTO_TEST_CASE(subscriber_crash_clears_numsub) {
  caf::scoped_actor self{sys};
  auto fragile = sys.spawn(fragile_subscriber, bc, std::string{"doomed"},
                           caf::actor{self});
  self->monitor(fragile);
  self->send(fragile, caf::subscribe_atom::value);
  await_ok(self, 1);
  BOOST_TEST(server.numsub("doomed") == 1);
  publish_ok(sys, bc, "doomed", "crash");
  bool abnormal = false;
  self->receive([&](const caf::down_msg& msg) { abnormal = bool{msg.reason}; },
                caf::after(deadline()) >> [] {});
  BOOST_TEST(abnormal);
  BOOST_TEST(eventually([&] { return server.numsub("doomed") == 0; },
                        deadline()));
}

BOOST_AUTO_TEST_CASE(redis_cli_publish_reaches_subscriber) {
  listener sub{sys};
  require_ok(sub.subscribe(bc, "from-cli"));
  std::string payload{"cli\0\xff\x01 bytes", 12};
  // -x makes redis-cli read the last argument from standard input, raw.
  auto out = server.cli({"-x", "PUBLISH", "from-cli"}, payload);
  BOOST_TEST(out == "1\n");
  auto ev = sub.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->channel == "from-cli");
  BOOST_TEST((ev->message == payload));
}

BOOST_AUTO_TEST_CASE(redis_cli_subscribe_sees_message) {
  temp_dir dir;
  auto output = dir.path() + "/cli.out";
  auto argv = server.cli_prefix();
  argv.insert(argv.end(), {"SUBSCRIBE", "to-cli"});
  child_process cli{argv, output};
  // redis-cli runs in another process; its subscription is visible only
  // through the server.
  BOOST_REQUIRE(eventually([&] { return server.numsub("to-cli") == 1; },
                           deadline()));
  std::string payload{"to\0cli\xfe\r\n end", 14};
  BOOST_TEST(publish_ok(sys, bc, "to-cli", payload).receivers == 1);
  // With its output not a terminal, redis-cli prints each reply element
  // raw, followed by a newline.
  auto expected = std::string{"subscribe\nto-cli\n1\n"} + "message\nto-cli\n"
                  + payload + "\n";
  BOOST_TEST(eventually([&] { return read_file(output).size()
                                     >= expected.size(); },
                        deadline()));
  BOOST_TEST((read_file(output) == expected), "raw redis-cli output differs");
}

BOOST_AUTO_TEST_CASE(pipelined_publishes_share_writes) {
  constexpr int total = 20000;
  listener sub{sys};
  // The listener reads only after every publish is acknowledged, so its
  // queue must fit all events. With the default bound, a busy machine drops
  // the oldest ones, which is what the drop_oldest policy does.
  subscribe_options opts;
  opts.max_queued = 2 * total;
  require_ok(sub.subscribe(bc, "bulk", opts));
  caf::scoped_actor self{sys};
  auto start = std::chrono::steady_clock::now();
  // All requests go out before the first reply is read, so the backend has
  // many publishes pending at once.
  sys.spawn(bulk_publisher, bc, std::string{"bulk"}, total, caf::actor{self});
  int failed = -1;
  self->receive([&](caf::ok_atom, int failures) { failed = failures; },
                caf::after(scaled(120s)) >> [] {});
  auto published = std::chrono::steady_clock::now();
  BOOST_TEST(failed == 0);
  for (int i = 0; i < total; ++i) {
    auto ev = sub.next_event();
    BOOST_REQUIRE_MESSAGE(ev, "missing event " << i);
    BOOST_TEST_REQUIRE(ev->message == std::to_string(i),
                       "event " << i << " is " << ev->message << ", "
                                << sub.skipped() << " events skipped");
  }
  auto received = std::chrono::steady_clock::now();
  auto st = stats_blocking(sys, bc, deadline());
  require_ok(st);
  auto& counters = st->backend_counters;
  BOOST_TEST(counters["published"] >= uint64_t{total});
  BOOST_TEST(counters["publish_batches"] < counters["published"] / 4);
  auto secs = [](auto d) {
    return std::chrono::duration<double>(d).count();
  };
  BOOST_TEST_MESSAGE("published " << total << " in "
                     << secs(published - start) << " s ("
                     << total / secs(published - start)
                     << " msg/s acked), all received after "
                     << secs(received - start) << " s, publish_batches = "
                     << counters["publish_batches"]);
}

BOOST_AUTO_TEST_CASE(stats_report_counters) {
  listener sub{sys};
  require_ok(sub.subscribe(bc, "counted"));
  subscribe_options opts;
  opts.pattern = true;
  listener glob{sys};
  require_ok(glob.subscribe(bc, "count*", opts));
  publish_ok(sys, bc, "counted", "one");
  BOOST_REQUIRE(sub.next_event());
  BOOST_REQUIRE(glob.next_event());
  auto st = stats_blocking(sys, bc, deadline());
  require_ok(st);
  BOOST_TEST(st->backend == server.url());
  auto& c = st->backend_counters;
  BOOST_TEST(c["published"] == 1u);
  BOOST_TEST(c["received"] == 2u);
  BOOST_TEST(c["forwarded"] == 2u);
  BOOST_TEST(c["subscribed_channels"] == 1u);
  BOOST_TEST(c["subscribed_patterns"] == 1u);
  BOOST_TEST(c["publish_connected"] == 1u);
  BOOST_TEST(c["subscribe_connected"] == 1u);
  BOOST_TEST(c["connection_losses"] == 0u);
}

BOOST_AUTO_TEST_CASE(database_in_path_selected) {
  auto db3 = connect(server.url("/3"));
  listener sub{sys};
  require_ok(sub.subscribe(db3, "db.channel"));
  // PUB/SUB ignores databases: a publisher on db 0 reaches it.
  BOOST_TEST(publish_ok(sys, bc, "db.channel", "across").receivers == 1);
  auto ev = sub.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "across");
}

BOOST_AUTO_TEST_CASE(missing_database_reported) {
  auto missing = connect(server.url("/99"));
  auto ack = publish_blocking(sys, missing, "ch", "x", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::backend_error));
  auto text = describe(ack.error());
  BOOST_TEST(text.find("SELECT") != std::string::npos);
  BOOST_TEST(text.find("out of range") != std::string::npos);
  // A retry does not help, so the text must not suggest one.
  BOOST_TEST(text.find("Retry later") == std::string::npos, text);
  listener sub{sys};
  auto result = sub.subscribe(missing, "ch");
  BOOST_REQUIRE(!result);
  BOOST_TEST(is(result.error(), errc::backend_error));
  BOOST_TEST(describe(result.error()).find("Retry later") == std::string::npos,
             describe(result.error()));
}

BOOST_AUTO_TEST_SUITE_END()

// -- Unix sockets -------------------------------------------------------------

namespace {

struct unix_fixture : redis_fixture {
  unix_fixture() : server(redis_server_options{"", "", "", true}) {
    // nop
  }

  redis_server server;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(unix_socket, unix_fixture)

BOOST_AUTO_TEST_CASE(both_unix_schemes_round_trip) {
  for (const auto& scheme : {"redis+unix://", "unix://"}) {
    BOOST_TEST_CONTEXT("scheme " << scheme) {
      auto bc = connect(scheme + server.socket_path() + "?db=1");
      listener sub{sys};
      // Each scheme uses its own channel: the previous listener's
      // unsubscribe may still be on its way to Redis.
      std::string channel = std::string{"local."} + scheme;
      require_ok(sub.subscribe(bc, channel));
      BOOST_TEST(publish_ok(sys, bc, channel, scheme).receivers == 1);
      auto ev = sub.next_event();
      BOOST_REQUIRE(ev);
      BOOST_TEST(ev->message == scheme);
    }
  }
}

BOOST_AUTO_TEST_CASE(missing_socket_reported) {
  auto bc = connect("redis+unix://" + server.socket_path() + ".missing");
  auto ack = publish_blocking(sys, bc, "ch", "x", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::backend_unavailable));
  BOOST_TEST(describe(ack.error()).find(".missing") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// -- the backend interface, without supervisor and channel actors -------------

namespace {

// A stand-in for a channel actor: forwards each event and status it
// receives to `test`, tagged with `name`.
caf::behavior sink_probe(caf::event_based_actor* self, std::string name,
                         caf::actor test) {
  return {
    [=](bc_events_atom, std::vector<event>& events) {
      for (auto& ev : events) {
        self->send(test, name, std::move(ev));
      }
    },
    [=](bc_replay_atom, uint64_t, std::vector<event>&) {
      self->send(test, failed_atom::value, name + " got a replay");
    },
    [=](status_event& x) { self->send(test, name, std::move(x)); },
  };
}

struct backend_fixture : redis_fixture {
  backend_fixture() : self(sys) {
    auto source = parse_url(server.url());
    require_ok(source);
    auto handle = redis::spawn_backend(sys, *source);
    require_ok(handle);
    backend = *handle;
  }

  ~backend_fixture() {
    caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  }

  sink_actor spawn_sink(const std::string& name) {
    auto handle = sys.spawn(sink_probe, name, caf::actor{self});
    probes.push_back(handle);
    return caf::actor_cast<sink_actor>(handle);
  }

  caf::error subscribe(const sink_actor& sink, const std::string& key,
                       bool pattern = false) {
    caf::error result = make_error(errc::timeout);
    self
      ->request(backend, deadline(), bc_subscribe_atom::value, key, pattern,
                sink, uint64_t{0}, uint64_t{0})
      .receive([&](bc_ok_atom) { result = caf::none; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  int64_t publish(const std::string& channel, const std::string& message) {
    int64_t receivers = -1;
    self
      ->request(backend, deadline(), bc_publish_atom::value, channel,
                message)
      .receive([&](const publish_ack& ack) { receivers = ack.receivers; },
               [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    return receivers;
  }

  // Receives the next event and returns the name of the sink it reached.
  std::string next_event_sink(const std::string& message) {
    std::string result;
    self->receive(
      [&](const std::string& name, const event& ev) {
        BOOST_TEST(ev.message == message);
        result = name;
      },
      [&](failed_atom, const std::string& text) { BOOST_FAIL(text); },
      caf::after(deadline()) >> [] {});
    return result;
  }

  uint64_t forwarded() {
    uint64_t result = 0;
    self->request(backend, deadline(), bc_stats_atom::value)
      .receive(
        [&](std::map<std::string, uint64_t>& counters) {
          result = counters["forwarded"];
        },
        [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    return result;
  }

  redis_server server;
  backend_actor backend;
  caf::scoped_actor self;
  std::vector<caf::actor> probes;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(backend_interface, backend_fixture)

BOOST_AUTO_TEST_CASE(overlapping_sinks_share_subscription) {
  auto retiring = spawn_sink("retiring");
  auto successor = spawn_sink("successor");
  BOOST_REQUIRE(!subscribe(retiring, "handover"));
  BOOST_REQUIRE(!subscribe(successor, "handover"));
  // One Redis subscription serves both sinks.
  BOOST_TEST(server.numsub("handover") == 1);
  BOOST_TEST(publish("handover", "both") == 1);
  std::set<std::string> reached{next_event_sink("both"),
                                next_event_sink("both")};
  BOOST_TEST(reached.count("retiring") == 1u);
  BOOST_TEST(reached.count("successor") == 1u);
  // The first sink leaves: Redis keeps the subscription for the second.
  self->send(backend, bc_unsubscribe_atom::value, std::string{"handover"},
             false, retiring);
  BOOST_TEST(publish("handover", "one") == 1);
  BOOST_TEST(next_event_sink("one") == "successor");
  BOOST_TEST(forwarded() == 3u);
  BOOST_TEST(server.numsub("handover") == 1);
  // The last sink leaves: now the backend sends UNSUBSCRIBE.
  self->send(backend, bc_unsubscribe_atom::value, std::string{"handover"},
             false, successor);
  BOOST_TEST(eventually([&] { return server.numsub("handover") == 0; },
                        deadline()));
}

BOOST_AUTO_TEST_CASE(duplicate_subscribe_is_no_error) {
  auto sink = spawn_sink("twice");
  BOOST_REQUIRE(!subscribe(sink, "again"));
  BOOST_REQUIRE(!subscribe(sink, "again"));
  BOOST_REQUIRE(!subscribe(sink, "again.*", true));
  BOOST_REQUIRE(!subscribe(sink, "again.*", true));
  BOOST_TEST(publish("again", "once") == 1);
  BOOST_TEST(next_event_sink("once") == "twice");
  BOOST_TEST(forwarded() == 1u);
  // One unsubscribe ends the subscription, however often it was made.
  self->send(backend, bc_unsubscribe_atom::value, std::string{"again"},
             false, sink);
  BOOST_TEST(eventually([&] { return server.numsub("again") == 0; },
                        deadline()));
  BOOST_TEST(server.numpat() == 1);
}

BOOST_AUTO_TEST_CASE(unknown_unsubscribe_ignored) {
  auto member = spawn_sink("member");
  auto stranger = spawn_sink("stranger");
  BOOST_REQUIRE(!subscribe(member, "club"));
  self->send(backend, bc_unsubscribe_atom::value, std::string{"club"}, false,
             stranger);
  self->send(backend, bc_unsubscribe_atom::value, std::string{"nowhere"},
             true, stranger);
  BOOST_TEST(publish("club", "still") == 1);
  BOOST_TEST(next_event_sink("still") == "member");
  BOOST_TEST(server.numsub("club") == 1);
}

BOOST_AUTO_TEST_CASE(exited_sink_unsubscribed) {
  auto sink = spawn_sink("mortal");
  BOOST_REQUIRE(!subscribe(sink, "ephemeral"));
  BOOST_REQUIRE(!subscribe(sink, "ephemeral.*", true));
  BOOST_TEST(server.numsub("ephemeral") == 1);
  // The sink dies without unsubscribing; the backend monitors it.
  caf::anon_send_exit(sink, caf::exit_reason::kill);
  BOOST_TEST(eventually([&] { return server.numsub("ephemeral") == 0; },
                        deadline()));
  BOOST_TEST(eventually([&] { return server.numpat() == 0; }, deadline()));
}

BOOST_AUTO_TEST_CASE(history_request_unsupported) {
  auto sink = spawn_sink("archivist");
  caf::error result;
  self
    ->request(backend, deadline(), bc_subscribe_atom::value,
              std::string{"old"}, false, sink, uint64_t{10}, uint64_t{1})
    .receive([](bc_ok_atom) {}, [&](caf::error& err) { result = err; });
  BOOST_TEST(is(result, errc::unsupported));
  BOOST_TEST(describe(result).find("redis-stream://") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
