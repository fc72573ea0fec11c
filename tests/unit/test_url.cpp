#define BOOST_TEST_MODULE url
#include <boost/test/unit_test.hpp>

#include <caf/sec.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/glob.hpp"
#include "broadcaster/url.hpp"

using namespace broadcaster;
using namespace std::chrono_literals;

namespace {

// Returns the error message of a failed parse, or "parsed" if it worked.
std::string parse_error(std::string_view text) {
  auto u = parse_url(text);
  return u ? "parsed" : describe(u.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(parsing)

BOOST_AUTO_TEST_CASE(full_url) {
  auto u = parse_url("redis://alice:s%40cret@127.0.0.1:6380/2?timeout=5s");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "redis");
  BOOST_TEST(u->user == "alice");
  BOOST_TEST(u->password == "s@cret");
  BOOST_TEST(u->has_password);
  BOOST_TEST(u->host == "127.0.0.1");
  BOOST_TEST(u->port == 6380);
  BOOST_TEST(u->has_port);
  BOOST_TEST(u->path == "/2");
  BOOST_REQUIRE(u->option("timeout"));
  BOOST_TEST(*u->option("timeout") == "5s");
  BOOST_TEST(u->redacted() == "redis://alice:***@127.0.0.1:6380/2?timeout=5s");
}

BOOST_AUTO_TEST_CASE(password_without_user) {
  auto u = parse_url("redis://:pw@localhost");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->user.empty());
  BOOST_TEST(u->password == "pw");
  BOOST_TEST(!u->has_port);
  BOOST_TEST(u->redacted() == "redis://:***@localhost");
}

BOOST_AUTO_TEST_CASE(memory_url_without_authority) {
  auto u = parse_url("memory://");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "memory");
  BOOST_TEST(u->host.empty());
  BOOST_TEST(u->query.empty());
  auto v = parse_url("MEMORY://?retention=5");
  BOOST_REQUIRE(v);
  BOOST_TEST(v->scheme == "memory");
  BOOST_TEST(*v->option("retention") == "5");
}

BOOST_AUTO_TEST_CASE(ipv6_host) {
  auto u = parse_url("caf://[::1]:4242");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->host == "::1");
  BOOST_TEST(u->port == 4242);
  BOOST_TEST(u->redacted() == "caf://[::1]:4242");
}

BOOST_AUTO_TEST_CASE(unix_socket_path) {
  auto u = parse_url("redis+unix:///tmp/redis%20x.sock?db=3");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "redis+unix");
  BOOST_TEST(u->host.empty());
  BOOST_TEST(u->path == "/tmp/redis x.sock");
}

BOOST_AUTO_TEST_CASE(malformed_urls) {
  BOOST_TEST(parse_error("localhost:6379").find("://") != std::string::npos);
  BOOST_TEST(parse_error("://x").find("invalid scheme") != std::string::npos);
  BOOST_TEST(parse_error("1abc://x").find("invalid scheme")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h:0").find("invalid port")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h:65536").find("invalid port")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h:12ab").find("invalid port")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h:").find("invalid port")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://::1:5").find("brackets")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://[::1").find("unterminated")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h?a=1&a=2").find("twice")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h#frag").find("fragment")
             != std::string::npos);
  BOOST_TEST(parse_error("redis://h o").find("invalid character")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(errors_never_contain_the_password) {
  auto text = parse_error("redis://u:hunter%zz@h");
  BOOST_TEST(text.find("password") != std::string::npos);
  BOOST_TEST(text.find("hunter") == std::string::npos);
  auto u = parse_url("redis://u:hunter2@h:1");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->redacted().find("hunter2") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(unencoded_slash_in_password_is_not_echoed) {
  for (auto text : {"redis://:s3/cr3t@h:1", "redis://:s3?cr3t@h:1",
                    "redis://:s3#cr3t@h:1"}) {
    auto message = parse_error(text);
    BOOST_TEST(message.find("s3") == std::string::npos, message);
    BOOST_TEST(message.find("cr3t") == std::string::npos, message);
  }
}

BOOST_AUTO_TEST_CASE(redact_url_hides_passwords) {
  BOOST_TEST(redact_url("redis://:pw@h:1") == "redis://:***@h:1");
  BOOST_TEST(redact_url("redis://u:pw@h:1?x=1") == "redis://u:***@h:1?x=1");
  BOOST_TEST(redact_url("redis://:p/w@h:1") == "redis://***@h:1");
  BOOST_TEST(redact_url("memory://") == "memory://");
  BOOST_TEST(redact_url("not a url") == "not a url");
}

BOOST_AUTO_TEST_CASE(error_code_is_invalid_url) {
  auto u = parse_url("nonsense");
  BOOST_REQUIRE(!u);
  BOOST_TEST(is(u.error(), errc::invalid_url));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(options)

BOOST_AUTO_TEST_CASE(request_timeout_names_the_fix) {
  auto text = describe(caf::make_error(caf::sec::request_timeout));
  BOOST_TEST(text.find("request_timeout") != std::string::npos, text);
  BOOST_TEST(text.find("longer timeout") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(numbers_in_range) {
  auto u = parse_url("memory://?n=42&big=99");
  BOOST_REQUIRE(u);
  url_options opts{*u, "memory://"};
  uint64_t n = 0;
  BOOST_TEST(!opts.get("n", n, 0, 100));
  BOOST_TEST(n == 42u);
  uint64_t big = 0;
  auto err = opts.get("big", big, 0, 10);
  BOOST_TEST(is(err, errc::invalid_option));
  BOOST_TEST(describe(err).find("big=\"99\"") != std::string::npos);
  BOOST_TEST(describe(err).find("from 0 to 10") != std::string::npos);
  uint64_t absent = 7;
  BOOST_TEST(!opts.get("absent", absent, 0, 10));
  BOOST_TEST(absent == 7u);
}

BOOST_AUTO_TEST_CASE(durations) {
  auto u = parse_url("x://?a=250ms&b=2s&c=15&d=1h&e=ms&f=2min&g=3m");
  BOOST_REQUIRE(u);
  url_options opts{*u, "x://"};
  std::chrono::milliseconds value{0};
  BOOST_TEST(!opts.get("a", value, 0ms, 60s));
  BOOST_TEST(value.count() == 250);
  BOOST_TEST(!opts.get("b", value, 0ms, 60s));
  BOOST_TEST(value.count() == 2000);
  BOOST_TEST(!opts.get("c", value, 0ms, 60s));
  BOOST_TEST(value.count() == 15);
  // 1h is a valid duration but above this option's maximum.
  BOOST_TEST(is(opts.get("d", value, 0ms, 60s), errc::invalid_option));
  BOOST_TEST(!opts.get("d", value, 0ms, 2h));
  BOOST_TEST(value.count() == 3'600'000);
  BOOST_TEST(is(opts.get("e", value, 0ms, 60s), errc::invalid_option));
  BOOST_TEST(!opts.get("f", value, 0ms, 10min));
  BOOST_TEST(value.count() == 120'000);
  // "m" is not a unit, since it could mean minutes or milliseconds.
  BOOST_TEST(is(opts.get("g", value, 0ms, 10min), errc::invalid_option));
  auto v = parse_url("x://?a=61s");
  url_options too_long{*v, "x://"};
  BOOST_TEST(is(too_long.get("a", value, 0ms, 60s), errc::invalid_option));
}

BOOST_AUTO_TEST_CASE(booleans) {
  auto u = parse_url("x://?a=true&b=0&c=maybe");
  BOOST_REQUIRE(u);
  url_options opts{*u, "x://"};
  bool value = false;
  BOOST_TEST(!opts.get("a", value));
  BOOST_TEST(value);
  BOOST_TEST(!opts.get("b", value));
  BOOST_TEST(!value);
  BOOST_TEST(is(opts.get("c", value), errc::invalid_option));
}

BOOST_AUTO_TEST_CASE(unknown_option_lists_supported_ones) {
  auto u = parse_url("memory://?retention=5&colour=blue");
  BOOST_REQUIRE(u);
  url_options opts{*u, "memory://"};
  uint64_t retention = 0;
  BOOST_TEST(!opts.get("retention", retention, 0, 10));
  auto err = opts.finish();
  BOOST_TEST(is(err, errc::unsupported_option));
  BOOST_TEST(describe(err).find("colour") != std::string::npos);
  BOOST_TEST(describe(err).find("supported options: retention")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(globs)

BOOST_AUTO_TEST_CASE(star_and_question_mark) {
  BOOST_TEST(glob_match("chat.*", "chat.room"));
  BOOST_TEST(glob_match("chat.*", "chat."));
  BOOST_TEST(!glob_match("chat.*", "chat"));
  BOOST_TEST(glob_match("*", ""));
  BOOST_TEST(glob_match("user.?", "user.1"));
  BOOST_TEST(!glob_match("user.?", "user.12"));
  BOOST_TEST(glob_match("a*b*c", "axxbyyc"));
  BOOST_TEST(!glob_match("a*b*c", "axxbyy"));
  BOOST_TEST(glob_match("*.log", "x.y.log"));
}

BOOST_AUTO_TEST_CASE(bracket_sets) {
  BOOST_TEST(glob_match("[ab]", "a"));
  BOOST_TEST(glob_match("[ab]", "b"));
  BOOST_TEST(!glob_match("[ab]", "c"));
  BOOST_TEST(glob_match("[^ab]", "c"));
  BOOST_TEST(!glob_match("[^ab]", "a"));
  BOOST_TEST(glob_match("x[a-c]", "xb"));
  BOOST_TEST(!glob_match("x[a-c]", "xd"));
  BOOST_TEST(glob_match("[]]", "]"));
  // Escaped ] and - inside a set, the spelling that Redis reads the same.
  BOOST_TEST(glob_match("[\\]]", "]"));
  BOOST_TEST(!glob_match("[\\]]", "\\"));
  BOOST_TEST(glob_match("[a\\-]", "-"));
  BOOST_TEST(glob_match("[a\\-]", "a"));
  BOOST_TEST(!glob_match("[a\\-]", "b"));
}

BOOST_AUTO_TEST_CASE(escapes) {
  BOOST_TEST(glob_match("a\\*", "a*"));
  BOOST_TEST(!glob_match("a\\*", "ab"));
  BOOST_TEST(glob_match("\\?", "?"));
}

BOOST_AUTO_TEST_CASE(binary_bytes_match_literally) {
  std::string channel{"a\0b", 3};
  BOOST_TEST(glob_match(std::string{"a\0*", 3}, channel));
  BOOST_TEST(glob_match("a?b", channel));
}

BOOST_AUTO_TEST_CASE(malformed_patterns_are_rejected) {
  BOOST_TEST(is(validate_glob(""), errc::invalid_channel));
  BOOST_TEST(is(validate_glob("chat.[ab"), errc::invalid_channel));
  BOOST_TEST(is(validate_glob("chat\\"), errc::invalid_channel));
  BOOST_TEST(!validate_glob("chat.*"));
  BOOST_TEST(!validate_glob("[]]"));
  BOOST_TEST(!validate_glob("\\["));
}

BOOST_AUTO_TEST_CASE(long_inputs_stay_linear) {
  std::string text(20000, 'a');
  std::string pattern = "*a*a*a*a*a*b";
  BOOST_TEST(!glob_match(pattern, text));
}

BOOST_AUTO_TEST_SUITE_END()
