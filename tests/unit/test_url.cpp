#define BOOST_TEST_MODULE url
#include <boost/test/unit_test.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/glob.hpp"
#include "broadcaster/url.hpp"

using namespace broadcaster;

BOOST_AUTO_TEST_CASE(parses_full_url) {
  auto u = parse_url("redis://alice:s%40cret@127.0.0.1:6380/2?timeout=5s");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "redis");
  BOOST_TEST(u->user == "alice");
  BOOST_TEST(u->password == "s@cret");
  BOOST_TEST(u->host == "127.0.0.1");
  BOOST_TEST(u->port == 6380);
  BOOST_TEST(u->path == "/2");
  BOOST_REQUIRE(u->option("timeout"));
  BOOST_TEST(*u->option("timeout") == "5s");
  BOOST_TEST(u->redacted() == "redis://alice:***@127.0.0.1:6380/2?timeout=5s");
}
