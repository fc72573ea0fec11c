#define BOOST_TEST_MODULE redis_url
#include <boost/test/unit_test.hpp>

#include "redis_support.hpp"
#include "settings.hpp"

using namespace broadcaster;
using namespace broadcaster::test;
using namespace std::chrono_literals;

using redis::detail::read_settings;
using redis::detail::settings;

namespace {

settings read_ok(const std::string& text) {
  auto source = parse_url(text);
  require_ok(source);
  auto result = read_settings(*source);
  require_ok(result);
  return *result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(settings_from_url)

BOOST_AUTO_TEST_CASE(defaults_match_redis) {
  auto s = read_ok("redis://");
  BOOST_TEST(!s.unix_socket);
  BOOST_TEST(s.host == "localhost");
  BOOST_TEST(s.port == 6379);
  BOOST_TEST(s.db == 0u);
  BOOST_TEST(!s.has_password);
  BOOST_TEST(s.server == "localhost:6379");
  BOOST_TEST(millis(s.connect_timeout) == 5000);
  BOOST_TEST(millis(s.command_timeout) == 5000);
  BOOST_TEST(millis(s.health_check_interval) == 5000);
  BOOST_TEST(millis(s.reconnect_min) == 100);
  BOOST_TEST(millis(s.reconnect_max) == 5000);
  BOOST_TEST(millis(s.publish_wait) == 0);
  BOOST_TEST(s.max_message_size == 16u * 1024 * 1024);
}

BOOST_AUTO_TEST_CASE(host_port_db_and_credentials) {
  auto s = read_ok("redis://alice:p%40ss@redis.example:6380/4");
  BOOST_TEST(s.host == "redis.example");
  BOOST_TEST(s.port == 6380);
  BOOST_TEST(s.db == 4u);
  BOOST_TEST(s.user == "alice");
  BOOST_TEST(s.password == "p@ss");
  BOOST_TEST(s.has_password);
  BOOST_TEST(s.server == "redis.example:6380");
  BOOST_TEST(s.description == "redis://alice:***@redis.example:6380/4");
  auto classic = read_ok("redis://:secret@127.0.0.1");
  BOOST_TEST(classic.user.empty());
  BOOST_TEST(classic.password == "secret");
  auto v6 = read_ok("redis://[::1]:7000?db=2");
  BOOST_TEST(v6.host == "::1");
  BOOST_TEST(v6.server == "[::1]:7000");
  BOOST_TEST(v6.db == 2u);
}

BOOST_AUTO_TEST_CASE(every_option_read) {
  auto s = read_ok("redis://h?connect_timeout=2s&command_timeout=250ms"
                   "&health_check_interval=0&reconnect_min=10ms"
                   "&reconnect_max=1s&publish_wait=3s&max_message_size=100");
  BOOST_TEST(millis(s.connect_timeout) == 2000);
  BOOST_TEST(millis(s.command_timeout) == 250);
  BOOST_TEST(millis(s.health_check_interval) == 0);
  BOOST_TEST(millis(s.reconnect_min) == 10);
  BOOST_TEST(millis(s.reconnect_max) == 1000);
  BOOST_TEST(millis(s.publish_wait) == 3000);
  BOOST_TEST(s.max_message_size == 100u);
}

BOOST_AUTO_TEST_CASE(unix_socket_forms) {
  for (const auto& scheme : {"redis+unix", "unix"}) {
    BOOST_TEST_CONTEXT("scheme " << scheme) {
      auto s = read_ok(std::string{scheme}
                       + "://:pw@/var/run/redis/redis.sock?db=3");
      BOOST_TEST(s.unix_socket);
      BOOST_TEST(s.socket_path == "/var/run/redis/redis.sock");
      BOOST_TEST(s.server == "unix:/var/run/redis/redis.sock");
      BOOST_TEST(s.db == 3u);
      BOOST_TEST(s.password == "pw");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// -- rejected URLs ------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(rejected_urls, redis_fixture)

BOOST_AUTO_TEST_CASE(rediss_rejected_without_tls) {
  auto bc = try_connect("rediss://:hunter2@127.0.0.1:6380/0");
  BOOST_REQUIRE(!bc);
  BOOST_TEST(is(bc.error(), errc::unsupported));
  auto text = describe(bc.error());
  BOOST_TEST(text.find("hiredis 0.14") != std::string::npos);
  BOOST_TEST(text.find("TLS") != std::string::npos);
  BOOST_TEST(text.find("hunter2") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_urls_named) {
  struct bad_url {
    std::string url;
    errc code;
    std::string fragment;
  };
  // Every URL carries the password "hunter2", which no error may repeat.
  std::vector<bad_url> cases{
    {"redis://:hunter2@h:0", errc::invalid_url, "invalid port"},
    {"redis://:hunter2@h:99999", errc::invalid_url, "invalid port"},
    {"redis://:hunter2@h/abc", errc::invalid_url, "invalid database \"abc\""},
    {"redis://:hunter2@h/1/2", errc::invalid_url, "invalid database"},
    {"redis://:hunter2@h/-1", errc::invalid_url, "invalid database"},
    {"redis://:hunter2@h/3?db=4", errc::invalid_url, "given twice"},
    {"redis://:hunter2@h?db=x", errc::invalid_option, "db=\"x\""},
    {"redis://:hunter2@h?connect_timeout=fast", errc::invalid_option,
     "connect_timeout"},
    {"redis://:hunter2@h?command_timeout=0", errc::invalid_option,
     "command_timeout"},
    {"redis://:hunter2@h?publish_wait=2h", errc::invalid_option,
     "publish_wait"},
    {"redis://:hunter2@h?max_message_size=0", errc::invalid_option,
     "max_message_size"},
    {"redis://:hunter2@h?reconnect_min=2s&reconnect_max=1s",
     errc::invalid_option, "must not exceed reconnect_max"},
    {"redis://:hunter2@h?bogus=1", errc::unsupported_option,
     "does not support option \"bogus\""},
    {"redis://alice@h", errc::invalid_url, "has no password"},
    {"redis://:@h", errc::invalid_url, "empty password"},
    {"redis+unix://:hunter2@host/tmp/redis.sock", errc::invalid_url,
     "three slashes"},
    {"redis+unix://:hunter2@", errc::invalid_url, "missing socket path"},
    {"unix://:hunter2@:6379/tmp/redis.sock", errc::invalid_url,
     "not a host or port"},
    {"redis//:hunter2@h", errc::invalid_url, "://"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("url " << c.url) {
      auto bc = try_connect(c.url);
      BOOST_REQUIRE(!bc);
      BOOST_TEST(is(bc.error(), c.code), "got " << describe(bc.error()));
      auto text = describe(bc.error());
      BOOST_TEST(text.find(c.fragment) != std::string::npos,
                 "\"" << c.fragment << "\" not in: " << text);
      BOOST_TEST(text.find("hunter2") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_option_lists_supported) {
  auto bc = try_connect("redis://h?timeout=1s");
  BOOST_REQUIRE(!bc);
  auto text = describe(bc.error());
  for (const auto& name :
       {"connect_timeout", "command_timeout", "health_check_interval",
        "reconnect_min", "reconnect_max", "publish_wait",
        "max_message_size", "db"}) {
    BOOST_TEST(text.find(name) != std::string::npos, name << " not listed");
  }
}

BOOST_AUTO_TEST_CASE(all_schemes_registered) {
  auto names = schemes.schemes();
  for (const auto& scheme : {"redis", "redis+unix", "unix", "rediss"}) {
    BOOST_TEST(std::count(names.begin(), names.end(), scheme) == 1,
               scheme << " missing");
  }
}

BOOST_AUTO_TEST_SUITE_END()
