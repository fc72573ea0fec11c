// Tests of the chat server with raw WebSocket and HTTP clients. The server
// runs in the test's actor system, so the supervisor's counters show
// whether closed connections left subscriptions behind.

#define BOOST_TEST_MODULE chat_server
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <caf/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "chat_clients.hpp"
#include "chat_server.hpp"
#include "member_actor.hpp"
#include "support/support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

namespace {

// Returns the value of `result`, or fails the test with its error. (The
// message of BOOST_REQUIRE_MESSAGE is evaluated even when the check
// passes, so it cannot read the error of a successful result.)
template <class T>
T require_value(caf::expected<T> result, const char* what) {
  if (!result) {
    BOOST_FAIL(what << " failed: " << describe(result.error()));
  }
  return std::move(*result);
}

// A browser_link that reports the first frame, which is the ready frame.
class ready_link : public chat::browser_link {
public:
  void send_text(std::string frame) override {
    std::call_once(first_frame_, [&] { ready_.set_value(std::move(frame)); });
  }

  void close(uint16_t, std::string) override {
    // nop
  }

  void publish_done() override {
    // nop
  }

  // Waits up to the test deadline for the ready frame.
  bool await_ready() {
    auto frame = ready_.get_future();
    if (frame.wait_for(test::deadline()) != std::future_status::ready) {
      return false;
    }
    return frame.get().find("\"ready\"") != std::string::npos;
  }

private:
  std::once_flag first_frame_;
  std::promise<std::string> ready_;
};

// Returns the maximum size in bytes to which Linux grows a TCP socket's
// send buffer by itself, which is the third value of net.ipv4.tcp_wmem.
size_t max_tcp_send_buffer() {
  std::ifstream in{"/proc/sys/net/ipv4/tcp_wmem"};
  size_t min = 0;
  size_t initial = 0;
  size_t max = 0;
  in >> min >> initial >> max;
  BOOST_REQUIRE_MESSAGE(in && max > 0,
                        "cannot read /proc/sys/net/ipv4/tcp_wmem");
  return max;
}

struct chat_fixture : test::system_fixture {
  chat_fixture() {
    options.port = 0;
    options.max_message_size = 64;
    options.handshake_timeout = test::scaled(2000ms);
  }

  ~chat_fixture() {
    server.reset();
    if (bc) {
      caf::anon_send_exit(bc, caf::exit_reason::user_shutdown);
    }
  }

  void start(const std::string& url = "memory://?retention=0") {
    bc = require_value(spawn_broadcast(sys, url), "spawn_broadcast");
    server = std::make_unique<chat::chat_server>(sys, bc, options);
    auto err = server->start();
    BOOST_REQUIRE_MESSAGE(err.empty(), err);
    BOOST_REQUIRE_NE(server->port(), 0);
  }

  uint64_t subscriptions() {
    return require_value(stats_blocking(sys, bc), "stats_blocking")
      .subscriptions;
  }

  // Waits until the member actors are gone and the supervisor has
  // dropped their subscriptions.
  void expect_no_members() {
    BOOST_REQUIRE_MESSAGE(server->await_members(0, test::deadline()),
                          "member actors still alive: "
                            << server->members());
    // The supervisor learns about each ended subscription from a message
    // of the channel actor, which has no event that a test can await.
    BOOST_CHECK_MESSAGE(test::eventually([&] { return subscriptions() == 0; },
                                         test::deadline()),
                        "subscriptions left: " << subscriptions());
  }

  chat::server_options options;
  broadcast_actor bc;
  std::unique_ptr<chat::chat_server> server;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(chat_server_tests, chat_fixture)

BOOST_AUTO_TEST_CASE(page_and_errors_over_http) {
  start();
  auto port = server->port();
  auto page = http_request(port, http::verb::get, "/");
  BOOST_CHECK_EQUAL(page.status, 200u);
  BOOST_CHECK_EQUAL(page.content_type, "text/html; charset=utf-8");
  BOOST_CHECK_NE(page.body.find("id=\"messages\""), std::string::npos);
  BOOST_CHECK_NE(page.body.find("/chat.js"), std::string::npos);
  auto script = http_request(port, http::verb::get, "/chat.js?v=1");
  BOOST_CHECK_EQUAL(script.status, 200u);
  BOOST_CHECK_EQUAL(script.content_type, "text/javascript; charset=utf-8");
  BOOST_CHECK_NE(script.body.find("WebSocket"), std::string::npos);
  auto style = http_request(port, http::verb::get, "/chat.css");
  BOOST_CHECK_EQUAL(style.status, 200u);
  auto head = http_request(port, http::verb::head, "/");
  BOOST_CHECK_EQUAL(head.status, 200u);
  BOOST_CHECK(head.body.empty());
  BOOST_CHECK_EQUAL(http_request(port, http::verb::get, "/missing").status,
                    404u);
  BOOST_CHECK_EQUAL(http_request(port, http::verb::get, "/ws").status, 426u);
  BOOST_CHECK_EQUAL(http_request(port, http::verb::post, "/").status, 405u);
}

BOOST_AUTO_TEST_CASE(lines_reach_every_client) {
  start();
  chat_client a{server->port()};
  chat_client b{server->port()};
  a.await_ready();
  b.await_ready();
  BOOST_CHECK_EQUAL(subscriptions(), 2u);
  a.send_text("hello from a");
  a.expect_message("hello from a");
  b.expect_message("hello from a");
  b.send_text("hello from b");
  a.expect_message("hello from b");
  b.expect_message("hello from b");
  a.close();
  b.close();
  expect_no_members();
}

BOOST_AUTO_TEST_CASE(lines_keep_order_under_load) {
  // More lines than the session lets wait for their publish, so reading
  // from the sender pauses and resumes many times.
  options.max_send_queue = 4096;
  start();
  chat_client sender{server->port()};
  chat_client receiver{server->port()};
  sender.await_ready();
  receiver.await_ready();
  constexpr int count = 2000;
  for (int i = 0; i < count; ++i) {
    sender.send_text("line " + std::to_string(i));
  }
  for (int i = 0; i < count; ++i) {
    receiver.expect_message("line " + std::to_string(i));
  }
  for (int i = 0; i < count; ++i) {
    sender.expect_message("line " + std::to_string(i));
  }
}

BOOST_AUTO_TEST_CASE(message_at_limit_is_accepted) {
  start();
  chat_client a{server->port()};
  a.await_ready();
  std::string line(options.max_message_size, 'x');
  a.send_text(line);
  a.expect_message(line);
}

BOOST_AUTO_TEST_CASE(oversized_message_closes_only_sender) {
  start();
  chat_client big{server->port()};
  chat_client other{server->port()};
  big.await_ready();
  other.await_ready();
  big.send_text(std::string(options.max_message_size + 1, 'x'));
  BOOST_CHECK_EQUAL(big.expect_close(), 1009);
  BOOST_REQUIRE(server->await_members(1, test::deadline()));
  other.send_text("still here");
  other.expect_message("still here");
  chat_client late{server->port()};
  late.await_ready();
  late.send_text("new client");
  other.expect_message("new client");
  late.expect_message("new client");
}

BOOST_AUTO_TEST_CASE(binary_message_closes_with_1003) {
  start();
  chat_client a{server->port()};
  chat_client other{server->port()};
  a.await_ready();
  other.await_ready();
  a.send_binary(std::string{"\x00\x01\x02", 3});
  BOOST_CHECK_EQUAL(a.expect_close(), 1003);
  other.send_text("after binary");
  other.expect_message("after binary");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_closes_with_1007) {
  start();
  chat_client a{server->port()};
  chat_client other{server->port()};
  a.await_ready();
  other.await_ready();
  a.send_text("bad \xff\xfe bytes");
  BOOST_CHECK_EQUAL(a.expect_close(), 1007);
  other.send_text("after bad text");
  other.expect_message("after bad text");
}

BOOST_AUTO_TEST_CASE(member_exit_frees_actor_memory) {
  // An actor's memory stays allocated while any weak reference to it
  // remains, such as a monitor that another actor still holds. Once the
  // member has exited, the address kept here must be the only reference.
  start();
  auto counter = std::make_shared<chat::live_counter>();
  for (int i = 0; i < 3; ++i) {
    chat::member_settings settings;
    settings.bc = bc;
    settings.channel = "chatroom";
    settings.connection_id = static_cast<uint64_t>(i + 1);
    auto link = std::make_shared<ready_link>();
    auto member = chat::spawn_member(sys, settings, link, counter);
    BOOST_REQUIRE_MESSAGE(link->await_ready(), "no ready frame");
    caf::actor_addr address = member.address();
    caf::anon_send(member, chat::chat_leave_atom::value);
    member = nullptr;
    BOOST_REQUIRE(counter->await(0, test::deadline()));
    auto block = caf::actor_cast<caf::actor_control_block*>(address);
    // The scheduler and the broadcast actors release their references some
    // time after the exit, with no event that a test can await.
    BOOST_CHECK_MESSAGE(test::eventually([&] { return block->weak_refs == 1; },
                                         test::deadline()),
                        "member " << i << " still has "
                                  << block->weak_refs - 1
                                  << " other weak references and "
                                  << block->strong_refs << " strong ones");
  }
  BOOST_CHECK(test::eventually([&] { return subscriptions() == 0; },
                               test::deadline()));
}

BOOST_AUTO_TEST_CASE(closed_connections_leave_nothing) {
  start();
  for (int i = 0; i < 40; ++i) {
    chat_client client{server->port()};
    client.await_ready();
    if (i % 2 == 0) {
      client.close();
    } else {
      client.drop(true);
    }
  }
  BOOST_CHECK_MESSAGE(server->await_connections(0, test::deadline()),
                      "connections still counted: " << server->connections());
  expect_no_members();
}

BOOST_AUTO_TEST_CASE(connection_limit_rejects_with_503) {
  options.max_connections = 2;
  start();
  chat_client a{server->port()};
  chat_client b{server->port()};
  a.await_ready();
  b.await_ready();
  BOOST_CHECK_EQUAL(server->connections(), 2u);

  auto reply = rejected_upgrade(server->port());
  BOOST_CHECK_EQUAL(reply.status, 503u);
  BOOST_CHECK_EQUAL(reply.content_type, "text/plain; charset=utf-8");
  BOOST_CHECK_MESSAGE(reply.body.find("at most 2 WebSocket connections")
                        != std::string::npos,
                      reply.body);
  BOOST_CHECK_EQUAL(server->rejected_connections(), 1u);
  BOOST_CHECK_EQUAL(server->connections(), 2u);
  BOOST_CHECK_EQUAL(server->members(), 2u);

  // The page is still served while WebSocket connections are at the limit.
  BOOST_CHECK_EQUAL(http_request(server->port(), http::verb::get, "/").status,
                    200u);

  a.close();
  BOOST_REQUIRE(server->await_connections(1, test::deadline()));
  chat_client c{server->port()};
  c.await_ready();
  c.send_text("after the limit");
  b.expect_message("after the limit");
  c.expect_message("after the limit");
  BOOST_CHECK_EQUAL(server->rejected_connections(), 1u);
}

BOOST_AUTO_TEST_CASE(live_counter_limit_and_no_limit) {
  chat::live_counter counter;
  BOOST_CHECK(counter.try_add(2));
  BOOST_CHECK(counter.try_add(2));
  BOOST_CHECK(!counter.try_add(2));
  BOOST_CHECK_EQUAL(counter.count(), 2u);
  counter.remove();
  BOOST_CHECK(counter.try_add(2));
  // A limit of 0 never rejects, whatever the count.
  for (int i = 0; i < 10; ++i) {
    BOOST_CHECK(counter.try_add(0));
  }
  BOOST_CHECK_EQUAL(counter.count(), 12u);
}

BOOST_AUTO_TEST_CASE(clean_close_ends_subscription) {
  start();
  {
    chat_client a{server->port()};
    chat_client b{server->port()};
    a.await_ready();
    b.await_ready();
    BOOST_CHECK_EQUAL(server->members(), 2u);
    BOOST_CHECK_EQUAL(subscriptions(), 2u);
    a.close();
    b.close();
  }
  expect_no_members();
}

BOOST_AUTO_TEST_CASE(reset_connection_ends_subscription) {
  start();
  chat_client a{server->port()};
  chat_client other{server->port()};
  a.await_ready();
  other.await_ready();
  a.drop(true);
  BOOST_REQUIRE(server->await_members(1, test::deadline()));
  BOOST_CHECK(test::eventually([&] { return subscriptions() == 1; },
                               test::deadline()));
  other.send_text("after reset");
  other.expect_message("after reset");
  other.drop(false);
  expect_no_members();
}

BOOST_AUTO_TEST_CASE(slow_client_is_disconnected) {
  options.max_send_queue = 4;
  start();
  // A small receive buffer and no reads: the server's writes stall, its
  // queue fills and it must close the connection instead of growing.
  constexpr int receive_buffer = 4096;
  chat_client slow{server->port(), receive_buffer};
  slow.await_ready();
  std::string big(64 * 1024, 'y');
  // The member actor encodes every event in its mailbox before it handles
  // the close of its connection, so each publish beyond the overflow delays
  // its exit. Writes stall once the server's send buffer and the client's
  // receive buffer are full (Linux doubles the size set with SO_RCVBUF),
  // and then max_send_queue more messages overflow the queue. The loop
  // publishes twice that many, which leaves a margin and a short backlog.
  auto buffered_bytes = max_tcp_send_buffer() + 2 * receive_buffer;
  auto max_publishes = 2 * (buffered_bytes / big.size() + 1)
                       + options.max_send_queue + 2;
  for (size_t i = 0; i < max_publishes && server->members() != 0; ++i) {
    require_value(publish_blocking(sys, bc, "chatroom", big),
                  "publish_blocking");
  }
  expect_no_members();
}

BOOST_AUTO_TEST_CASE(publish_error_reaches_sender) {
  start("memory://?retention=0&max_message_size=8");
  chat_client a{server->port()};
  a.await_ready();
  a.send_text("longer than eight bytes");
  auto frame = a.read();
  BOOST_REQUIRE_MESSAGE(frame, a.error().message());
  BOOST_CHECK_EQUAL((*frame)["type"], "error");
  auto reason = (*frame)["reason"].get<std::string>();
  BOOST_CHECK_MESSAGE(reason.find("message not sent") != std::string::npos,
                      reason);
  a.send_text("short");
  a.expect_message("short");
}

BOOST_AUTO_TEST_CASE(stop_closes_clients_with_1001) {
  start();
  chat_client a{server->port()};
  a.await_ready();
  // stop() waits for the closing handshake, which needs the client to
  // read, so it runs on a thread of its own.
  auto stopped = std::async(std::launch::async, [&] { server->stop(); });
  BOOST_CHECK_EQUAL(a.expect_close(), 1001);
  stopped.get();
  BOOST_CHECK_EQUAL(server->members(), 0u);
  BOOST_CHECK(test::eventually([&] { return subscriptions() == 0; },
                               test::deadline()));
}

BOOST_AUTO_TEST_SUITE_END()
