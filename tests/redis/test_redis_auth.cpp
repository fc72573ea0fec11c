#define BOOST_TEST_MODULE redis_auth
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "broadcaster/log.hpp"
#include "redis_support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* admin_password = "adm1n-s3cret";
constexpr const char* acl_password = "wonder-land-42";
constexpr const char* wrong_password = "wr0ng-guess";

struct fixture : redis_fixture {
  fixture()
    : server(redis_server_options{admin_password, "alice", acl_password,
                                  false}) {
    // nop
  }

  void check_round_trip(const broadcast_actor& bc) {
    listener sub{sys};
    require_ok(sub.subscribe(bc, "secured"));
    BOOST_TEST(publish_ok(sys, bc, "secured", "inside").receivers == 1);
    auto ev = sub.next_event();
    BOOST_REQUIRE(ev);
    BOOST_TEST(ev->message == "inside");
  }

  redis_server server;
};

// Copies everything written to standard error while it lives into a file.
class stderr_capture {
public:
  stderr_capture() {
    std::fflush(stderr);
    saved_ = ::dup(2);
    auto fd = ::open((dir_.path() + "/stderr").c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }

  ~stderr_capture() {
    restore();
  }

  // Restores standard error and returns what was written meanwhile.
  std::string finish() {
    restore();
    std::ifstream in{dir_.path() + "/stderr"};
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }

private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
  }

  temp_dir dir_;
  int saved_ = -1;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(authentication, fixture)

BOOST_AUTO_TEST_CASE(password_authenticates) {
  auto bc = connect(server.url("", std::string{":"} + admin_password + "@"));
  check_round_trip(bc);
}

BOOST_AUTO_TEST_CASE(acl_user_authenticates) {
  auto bc = connect(server.url("", std::string{"alice:"} + acl_password
                                     + "@"));
  check_round_trip(bc);
  // The ACL user really is the one connected.
  auto clients = server.cli({"CLIENT", "LIST"});
  BOOST_TEST(clients.find("user=alice") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_password_fails_fast) {
  for (std::string user : {"", "alice", "nobody"}) {
    BOOST_TEST_CONTEXT("user \"" << user << "\"") {
      auto started = std::chrono::steady_clock::now();
      auto bc = connect(server.url("", user + ":" + wrong_password + "@"));
      auto ack = publish_blocking(sys, bc, "secured", "x", deadline());
      auto elapsed = std::chrono::steady_clock::now() - started;
      BOOST_REQUIRE(!ack);
      BOOST_TEST(is(ack.error(), errc::authentication_failed));
      auto text = describe(ack.error());
      BOOST_TEST(text.find("authentication failed") != std::string::npos);
      BOOST_TEST(text.find("WRONGPASS") != std::string::npos);
      BOOST_TEST(text.find(wrong_password) == std::string::npos);
      // A user at the command line gets the error at once, not after a
      // timeout.
      BOOST_TEST(millis(elapsed) < millis(scaled(2s)));
      listener sub{sys};
      auto result = sub.subscribe(bc, "secured");
      BOOST_REQUIRE(!result);
      BOOST_TEST(is(result.error(), errc::authentication_failed));
      BOOST_TEST(describe(result.error()).find(wrong_password)
                 == std::string::npos);
      auto st = stats_blocking(sys, bc, deadline());
      require_ok(st);
      BOOST_TEST(st->backend.find(wrong_password) == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(missing_password_reports_noauth) {
  auto bc = connect(server.url());
  auto ack = publish_blocking(sys, bc, "secured", "x", deadline());
  BOOST_REQUIRE(!ack);
  BOOST_TEST(is(ack.error(), errc::authentication_failed));
  auto text = describe(ack.error());
  BOOST_TEST(text.find("requires a password") != std::string::npos);
  BOOST_TEST(text.find("NOAUTH") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(passwords_never_logged) {
  auto log = broadcaster::logger("redis");
  auto level = log->level();
  log->set_level(spdlog::level::trace);
  stderr_capture capture;
  {
    auto good = connect(server.url("", std::string{"alice:"} + acl_password
                                         + "@"));
    check_round_trip(good);
    auto bad = connect(server.url("", std::string{":"} + wrong_password
                                        + "@"));
    BOOST_TEST(!publish_blocking(sys, bad, "secured", "x", deadline()));
    for (auto& bc : spawned) {
      caf::anon_send_exit(bc, caf::exit_reason::user_shutdown);
    }
    spawned.clear();
  }
  log->flush();
  auto output = capture.finish();
  log->set_level(level);
  BOOST_TEST(output.find("connected: link = subscribe") != std::string::npos);
  BOOST_TEST(output.find(acl_password) == std::string::npos);
  BOOST_TEST(output.find(wrong_password) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(rejected_resubscribe_retried) {
  auto bc = connect(server.url("?reconnect_min=20ms&reconnect_max=200ms",
                               std::string{"alice:"} + acl_password + "@"));
  listener sub{sys};
  require_ok(sub.subscribe(bc, "acl.room"));
  // Taking the channel away makes Redis drop alice's subscribe connection,
  // and the resubscription after the reconnect fails with NOPERM.
  server.cli({"ACL", "SETUSER", "alice", "resetchannels", "&other.*"});
  auto lost = sub.next_status();
  BOOST_REQUIRE(lost);
  BOOST_TEST(lost->kind == status_kind::backend_lost);
  auto rejected = sub.next_status();
  BOOST_REQUIRE(rejected);
  BOOST_TEST(rejected->kind == status_kind::backend_lost);
  BOOST_TEST(rejected->reason.find("rejected SUBSCRIBE") != std::string::npos,
             rejected->reason);
  BOOST_TEST(rejected->reason.find("NOPERM") != std::string::npos,
             rejected->reason);
  // Giving it back lets the retry succeed without a call from user code.
  server.cli({"ACL", "SETUSER", "alice", "&acl.*"});
  auto back = sub.next_status();
  BOOST_REQUIRE(back);
  BOOST_TEST(back->kind == status_kind::backend_back);
  BOOST_TEST(publish_ok(sys, bc, "acl.room", "again").receivers == 1);
  auto ev = sub.next_event();
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->message == "again");
}

BOOST_AUTO_TEST_SUITE_END()
