// Tests of the broadcaster tool, each with several processes on loopback: a
// `broadcaster serve` node, subscribers and publishers reaching it as
// caf://127.0.0.1:PORT.

#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_process.hpp"
#include "support/support.hpp"

using namespace broadcaster::test;
using json = nlohmann::json;
using stream = piped_process;

namespace {

std::string node_url(uint16_t port) {
  return "caf://127.0.0.1:" + std::to_string(port);
}

// Runs the tool with `args` and a deadline, so that a hang fails the test.
run_result cli(std::vector<std::string> args, const std::string& input = {}) {
  args.insert(args.begin(), cli_path());
  return run_program(std::move(args), deadline(), input);
}

struct node_fixture {
  node_fixture() : node({cli_path(), "serve", "--port", "0"}) {
    port = listening_port(node, deadline());
    BOOST_REQUIRE_MESSAGE(port != 0, "serve printed no port: "
                                       << node.seen(stream::err));
    url = node_url(port);
  }

  // Starts a subscriber and waits until every channel is subscribed.
  std::unique_ptr<piped_process>
  subscriber(const std::vector<std::string>& channels,
             const std::vector<std::string>& options = {}) {
    std::vector<std::string> args{cli_path(), "subscribe", url};
    args.insert(args.end(), channels.begin(), channels.end());
    args.insert(args.end(), options.begin(), options.end());
    auto proc = std::make_unique<piped_process>(args);
    for (size_t i = 0; i < channels.size(); ++i) {
      auto line = proc->wait_for(stream::err, "subscribed: ", deadline());
      BOOST_REQUIRE_MESSAGE(line, "subscriber did not subscribe: "
                                    << proc->seen(stream::err));
    }
    return proc;
  }

  void publish(const std::string& channel, const std::string& message) {
    auto r = cli({"publish", url, channel, message});
    BOOST_REQUIRE_MESSAGE(r.code == 0, "publish failed: " << r.err);
  }

  piped_process node;
  uint16_t port = 0;
  std::string url;
};

json next_json(piped_process& proc) {
  auto line = proc.read_line(stream::out, deadline());
  BOOST_REQUIRE_MESSAGE(line, "no output line; stderr: "
                                << proc.seen(stream::err));
  return json::parse(*line);
}

std::string http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return {};
  }
  auto request = "GET " + path + " HTTP/1.0\r\n\r\n";
  auto sent = ::send(fd, request.data(), request.size(), 0);
  (void) sent;
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

// Decodes standard base64, for checking the *_base64 fields.
std::string from_base64(const std::string& text) {
  static const std::string alphabet
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    auto pos = alphabet.find(c);
    if (pos == std::string::npos) {
      break;
    }
    bits = (bits << 6) | static_cast<uint32_t>(pos);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

// A TCP listener on 127.0.0.1 that this test controls. In `silent` mode it
// accepts connections and never writes. In `closing` mode it closes each
// connection right after accepting it, like a node that dies during the
// handshake. In `full` mode it never accepts,
// and its accept queue is filled by its own connections, so the kernel
// drops further SYNs and a client's connect() stays pending until the
// client gives up.
class test_listener {
public:
  enum mode { silent, closing, full };

  explicit test_listener(mode m) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                         sizeof(addr))
                  == 0);
    BOOST_REQUIRE(::listen(fd_, m == full ? 0 : 16) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (m == full) {
      // With a backlog of 0, Linux queues one connection and drops the
      // SYNs of the next ones. The extra connections keep the queue full.
      for (int i = 0; i < 4; ++i) {
        int client = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        auto rc = ::connect(client, reinterpret_cast<sockaddr*>(&addr),
                            sizeof(addr));
        (void) rc;
        clients_.push_back(client);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
    } else {
      thread_ = std::thread{[this, m] { accept_loop(m == closing); }};
    }
  }

  ~test_listener() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) {
      thread_.join();
    }
    ::close(fd_);
    for (int fd : clients_) {
      ::close(fd);
    }
    for (int fd : accepted_) {
      ::close(fd);
    }
  }

  test_listener(const test_listener&) = delete;
  test_listener& operator=(const test_listener&) = delete;

  std::string url() const { return node_url(port_); }

private:
  void accept_loop(bool close_at_once) {
    for (;;) {
      int fd = ::accept(fd_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      if (close_at_once) {
        ::close(fd);
      } else {
        // Kept open and unread until the listener ends.
        accepted_.push_back(fd);
      }
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> clients_;
  std::vector<int> accepted_;
  std::thread thread_;
};

// Checks that each command fails with exit code 1 and an error message,
// within 5 s (scaled) although its listener never replies.
void check_fails_in_time(const std::vector<std::vector<std::string>>& runs) {
  for (const auto& args : runs) {
    auto start = std::chrono::steady_clock::now();
    auto result = cli(args);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
    BOOST_CHECK_MESSAGE(result.code == 1, args[0] << " exited with "
                                                  << result.code << ": "
                                                  << result.err);
    BOOST_CHECK_MESSAGE(result.err.find("failed") != std::string::npos,
                        args[0] << ": " << result.err);
    BOOST_CHECK_MESSAGE(elapsed < scaled(std::chrono::seconds{5}),
                        args[0] << " took " << elapsed.count() << "ms");
  }
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(across_processes, node_fixture)

BOOST_AUTO_TEST_CASE(events_flow_from_publisher_to_subscriber) {
  auto sub = subscriber({"news"});
  publish("news", "hello");
  publish("news", "world");
  auto first = sub->read_line(stream::out, deadline());
  BOOST_REQUIRE(first);
  BOOST_CHECK_EQUAL(*first, "news: hello");
  auto second = sub->read_line(stream::out, deadline());
  BOOST_REQUIRE(second);
  BOOST_CHECK_EQUAL(*second, "news: world");
}

BOOST_AUTO_TEST_CASE(publish_reads_lines_from_stdin) {
  auto sub = subscriber({"lines"}, {"--format", "json", "--count", "3"});
  auto r = cli({"publish", url, "lines"}, "one\ntwo\nthree\n");
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.err);
  for (auto expected : {"one", "two", "three"}) {
    BOOST_CHECK_EQUAL(next_json(*sub)["message"], expected);
  }
  BOOST_CHECK_EQUAL(sub->wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_CASE(json_output_escapes_message_bytes) {
  auto sub = subscriber({"bytes"}, {"--format", "json"});
  std::string text = "quote \" backslash \\ tab \t newline \n bell \x07 é";
  publish("bytes", text);
  auto obj = next_json(*sub);
  BOOST_CHECK_EQUAL(obj["type"], "event");
  BOOST_CHECK_EQUAL(obj["channel"], "bytes");
  BOOST_CHECK_EQUAL(obj["message"], text);
  BOOST_CHECK_EQUAL(obj["id"], "1");
  BOOST_CHECK_EQUAL(obj["pattern"], "");
  BOOST_CHECK(!obj.contains("message_base64"));
  // A command-line argument cannot hold a NUL byte, standard input can.
  auto r = cli({"publish", url, "bytes"}, std::string{"\xff\x00z\n", 4});
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.err);
  auto binary = next_json(*sub);
  BOOST_CHECK_EQUAL(binary["message_base64"], "/wB6");
}

BOOST_AUTO_TEST_CASE(json_output_keeps_channel_bytes) {
  // Channel names may hold any bytes but NUL, so JSON needs the same
  // base64 field for them as for messages.
  std::string channel = "raw\xff\xfe";
  auto any = subscriber({"raw*"}, {"--pattern", "--format", "json"});
  auto exact = subscriber({channel}, {"--format", "json"});
  publish(channel, "ok");
  for (auto* sub : {any.get(), exact.get()}) {
    auto line = sub->read_line(stream::out, deadline());
    BOOST_REQUIRE(line);
    BOOST_REQUIRE_MESSAGE(json::accept(*line), "invalid JSON: " << *line);
    auto obj = json::parse(*line);
    BOOST_CHECK_EQUAL(obj["message"], "ok");
    BOOST_CHECK(!obj.contains("message_base64"));
    BOOST_REQUIRE(obj.contains("channel_base64"));
    BOOST_CHECK(from_base64(obj["channel_base64"]) == channel);
    BOOST_CHECK(!obj.contains("pattern_base64"));
  }
  auto page = cli({"history", url, channel, "--format", "json"});
  BOOST_REQUIRE_MESSAGE(page.code == 0, page.err);
  BOOST_REQUIRE_MESSAGE(json::accept(page.out), "invalid JSON: " << page.out);
  BOOST_CHECK(from_base64(json::parse(page.out)["channel_base64"])
              == channel);
  auto stats = cli({"stats", url, "--format", "json"});
  BOOST_REQUIRE_MESSAGE(stats.code == 0, stats.err);
  BOOST_REQUIRE_MESSAGE(json::accept(stats.out),
                        "invalid JSON: " << stats.out);
  auto counters = json::parse(stats.out);
  int raw_channels = 0;
  for (const auto& entry : counters["per_channel"]) {
    if (entry.contains("channel_base64")) {
      BOOST_CHECK(from_base64(entry["channel_base64"]) == channel);
      ++raw_channels;
    }
  }
  BOOST_CHECK_MESSAGE(raw_channels == 1, "stats: " << stats.out);
}

BOOST_AUTO_TEST_CASE(history_across_nodes) {
  for (auto text : {"a", "b", "c", "d", "e"}) {
    publish("log", text);
  }
  auto page = cli({"history", url, "log", "--limit", "3"});
  BOOST_REQUIRE_MESSAGE(page.code == 0, page.err);
  BOOST_CHECK_EQUAL(page.out, "[5] log: e\n[4] log: d\n[3] log: c\n");
  BOOST_CHECK_NE(page.err.find("--before 3"), std::string::npos);
  auto older = cli({"history", url, "log", "--before", "3", "--format",
                    "json"});
  BOOST_REQUIRE_MESSAGE(older.code == 0, older.err);
  BOOST_CHECK_NE(older.out.find("\"message\":\"b\""), std::string::npos);
  BOOST_CHECK_NE(older.out.find("\"message\":\"a\""), std::string::npos);
  auto sub = subscriber({"log"}, {"--history", "2", "--count", "3"});
  publish("log", "live");
  for (auto expected : {"log: d", "log: e", "log: live"}) {
    auto line = sub->read_line(stream::out, deadline());
    BOOST_REQUIRE(line);
    BOOST_CHECK_EQUAL(*line, expected);
  }
  BOOST_CHECK_EQUAL(sub->wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_CASE(second_history_subscriber_on_a_subscribed_node) {
  // The first subscriber keeps the channel subscribed at the node, so the
  // second one's history takes the path through a second forwarder.
  auto first = subscriber({"h"}, {"--format", "json"});
  auto shared = subscriber({"h"}, {"--history", "10", "--format", "json"});
  publish("h", "1");
  BOOST_CHECK_EQUAL(next_json(*shared)["message"], "1");
  BOOST_CHECK_EQUAL(next_json(*first)["message"], "1");
}

BOOST_AUTO_TEST_CASE(pattern_across_nodes) {
  auto sub = subscriber({"news.*"}, {"--pattern", "--format", "json"});
  publish("news.sports", "goal");
  publish("weather", "rain");
  publish("news.tech", "chip");
  auto a = next_json(*sub);
  BOOST_CHECK_EQUAL(a["channel"], "news.sports");
  BOOST_CHECK_EQUAL(a["pattern"], "news.*");
  auto b = next_json(*sub);
  BOOST_CHECK_EQUAL(b["channel"], "news.tech");
  BOOST_CHECK_EQUAL(b["message"], "chip");
}

BOOST_AUTO_TEST_CASE(stats_of_the_node) {
  auto one = subscriber({"s"});
  auto two = subscriber({"s"});
  publish("s", "x");
  BOOST_REQUIRE(one->read_line(stream::out, deadline()));
  BOOST_REQUIRE(two->read_line(stream::out, deadline()));
  auto r = cli({"stats", url, "--format", "json"});
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.err);
  auto stats = json::parse(r.out);
  // Each subscriber process is one subscribing node.
  BOOST_CHECK_EQUAL(stats["subscribers"], 2);
  BOOST_CHECK_EQUAL(stats["published"], 1);
  BOOST_CHECK_EQUAL(stats["delivered"], 2);
  auto text = cli({"stats", url});
  BOOST_REQUIRE_MESSAGE(text.code == 0, text.err);
  BOOST_CHECK_NE(text.out.find("channels: 1\n"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(subscriber_exits_on_sigint) {
  auto sub = subscriber({"quiet"});
  sub->send_signal(SIGINT);
  BOOST_CHECK_EQUAL(sub->wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_CASE(subscriber_exits_when_stdout_closes) {
  auto sub = subscriber({"pipe"});
  sub->close_output();
  // With no event to write, the subscriber notices the closed pipe by
  // itself.
  BOOST_CHECK_EQUAL(sub->wait_exit(deadline()).value_or(-1), 0);
  auto later = subscriber({"pipe2"});
  later->close_output();
  publish("pipe2", "nobody reads this");
  BOOST_CHECK_EQUAL(later->wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_CASE(serve_stops_on_sigterm) {
  node.send_signal(SIGTERM);
  BOOST_CHECK_EQUAL(node.wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_CASE(config_file_sets_options) {
  temp_dir dir;
  auto path = dir.path() + "/caf-application.ini";
  std::ofstream{path} << "[subscribe]\nformat=\"json\"\ncount=1\n";
  auto sub = subscriber({"cfg"}, {"--config-file=" + path});
  publish("cfg", "from config");
  BOOST_CHECK_EQUAL(next_json(*sub)["message"], "from config");
  BOOST_CHECK_EQUAL(sub->wait_exit(deadline()).value_or(-1), 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(node_loss)

BOOST_AUTO_TEST_CASE(subscriber_sees_lost_and_back_after_restart) {
  auto node = std::make_unique<piped_process>(
    std::vector<std::string>{cli_path(), "serve", "--port", "0"});
  auto port = listening_port(*node, deadline());
  BOOST_REQUIRE(port != 0);
  auto url = node_url(port) + "?reconnect_min=50ms&reconnect_max=200ms";
  piped_process sub{
    {cli_path(), "subscribe", url, "news", "--format", "json"}};
  BOOST_REQUIRE(sub.wait_for(stream::err, "subscribed: news", deadline()));
  auto r = cli({"publish", node_url(port), "news", "before"});
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.err);
  BOOST_CHECK_EQUAL(next_json(sub)["message"], "before");
  node->send_signal(SIGKILL);
  BOOST_REQUIRE(node->wait_exit(deadline()));
  auto lost = next_json(sub);
  BOOST_CHECK_EQUAL(lost["type"], "status");
  BOOST_CHECK_EQUAL(lost["status"], "backend_lost");
  BOOST_CHECK_EQUAL(lost["events_may_be_lost"], true);
  auto refused = cli({"publish", node_url(port), "news", "during"});
  BOOST_CHECK_EQUAL(refused.code, 1);
  BOOST_CHECK_NE(refused.err.find("backend_unavailable"), std::string::npos);
  node = std::make_unique<piped_process>(std::vector<std::string>{
    cli_path(), "serve", "--port", std::to_string(port)});
  BOOST_REQUIRE_EQUAL(listening_port(*node, deadline()), port);
  auto back = next_json(sub);
  BOOST_CHECK_EQUAL(back["type"], "status");
  BOOST_CHECK_EQUAL(back["status"], "backend_back");
  auto after = cli({"publish", node_url(port), "news", "after"});
  BOOST_REQUIRE_MESSAGE(after.code == 0, after.err);
  auto event = next_json(sub);
  BOOST_CHECK_EQUAL(event["message"], "after");
}

BOOST_AUTO_TEST_CASE(silent_node_is_lost_and_back) {
  // SIGSTOP keeps the node's sockets open but stops its heartbeats, like a
  // partition that drops packets without closing connections.
  piped_process node{{cli_path(), "serve", "--port", "0",
                      "--middleman.heartbeat-interval=100ms"}};
  auto port = listening_port(node, deadline());
  BOOST_REQUIRE(port != 0);
  auto url = node_url(port) + "?reconnect_min=50ms&reconnect_max=200ms";
  piped_process sub{{cli_path(), "subscribe", url, "quiet", "--format",
                     "json", "--middleman.connection-timeout=1s"}};
  BOOST_REQUIRE(sub.wait_for(stream::err, "subscribed: quiet", deadline()));
  node.send_signal(SIGSTOP);
  auto lost = next_json(sub);
  node.send_signal(SIGCONT);
  BOOST_CHECK_EQUAL(lost["status"], "backend_lost");
  auto back = next_json(sub);
  BOOST_CHECK_EQUAL(back["status"], "backend_back");
  auto r = cli({"publish", node_url(port), "quiet", "again"});
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.err);
  BOOST_CHECK_EQUAL(next_json(sub)["message"], "again");
}

BOOST_AUTO_TEST_CASE(text_subscriber_prints_statuses_to_stderr) {
  auto node = std::make_unique<piped_process>(
    std::vector<std::string>{cli_path(), "serve", "--port", "0"});
  auto port = listening_port(*node, deadline());
  BOOST_REQUIRE(port != 0);
  piped_process sub{{cli_path(), "subscribe", node_url(port), "t"}};
  BOOST_REQUIRE(sub.wait_for(stream::err, "subscribed: t", deadline()));
  node->send_signal(SIGKILL);
  BOOST_REQUIRE(node->wait_exit(deadline()));
  auto line = sub.wait_for(stream::err, "status: backend_lost", deadline());
  BOOST_REQUIRE(line);
  BOOST_CHECK_NE(line->find("channel=t"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_AUTO_TEST_CASE(refused_port_fails) {
  auto r = cli({"publish", node_url(free_port()), "c", "m"});
  BOOST_CHECK_EQUAL(r.code, 1);
  BOOST_CHECK_NE(r.err.find("cannot connect to caf://127.0.0.1:"),
                 std::string::npos);
  auto sub = cli({"subscribe", node_url(free_port()), "c"});
  BOOST_CHECK_EQUAL(sub.code, 1);
  BOOST_CHECK_NE(sub.err.find("subscribe failed"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(unreachable_host_fails) {
  // Another loopback address with nothing listening: no traffic leaves the
  // machine, unlike a host name that would go to the DNS resolver.
  auto url = "caf://127.0.0.2:" + std::to_string(free_port())
             + "?connect_timeout=3s";
  auto r = cli({"publish", url, "c", "m"});
  BOOST_CHECK_EQUAL(r.code, 1);
  BOOST_CHECK_NE(r.err.find("127.0.0.2"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(exit_codes_by_failure_kind) {
  struct row {
    std::vector<std::string> args;
    int code;
  };
  // 2 for what the user must change (command line, configuration, URL),
  // 1 for failures at run time.
  std::vector<row> rows{
    {{"publish"}, 2},
    {{"publish", "caf://127.0.0.1", "c", "m"}, 2},
    {{"publish", "nope://x", "c", "m"}, 2},
    {{"publish", "rediss://127.0.0.1:1", "c", "m"}, 2},
    {{"history", "redis://127.0.0.1:1", "c"}, 2},
    {{"subscribe", "redis://127.0.0.1:1", "c", "--history", "1"}, 2},
    {{"publish", "redis://127.0.0.1:1", "c", "m"}, 1},
    {{"publish", node_url(free_port()), "c", "m"}, 1},
    {{"stats", node_url(free_port())}, 1},
  };
  for (const auto& r : rows) {
    auto result = cli(r.args);
    std::string command;
    for (const auto& arg : r.args) {
      command += " " + arg;
    }
    BOOST_CHECK_MESSAGE(result.code == r.code, "broadcaster" << command
                                                 << " exited with "
                                                 << result.code << ": "
                                                 << result.err);
  }
}

BOOST_AUTO_TEST_CASE(pending_tcp_connect_ends_in_time) {
  // CAF 0.17's middleman connects with a blocking connect(), and
  // ~actor_system() waits for it; the kernel gives up on unanswered SYNs
  // only after about two minutes.
  test_listener listener{test_listener::full};
  check_fails_in_time({
    {"publish", listener.url(), "c", "m", "--timeout", "1s"},
    {"history", listener.url(), "c", "--timeout", "1s"},
    {"stats", listener.url(), "--timeout", "1s"},
    {"subscribe", listener.url(), "c", "--timeout", "1s"},
  });
}

BOOST_AUTO_TEST_CASE(silent_listener_ends_in_time) {
  test_listener listener{test_listener::silent};
  check_fails_in_time({
    {"publish", listener.url(), "c", "m", "--timeout", "1s"},
    {"publish", listener.url() + "?connect_timeout=500ms", "c", "m"},
    {"history", listener.url(), "c", "--timeout", "1s"},
    {"stats", listener.url(), "--timeout", "1s"},
  });
}

BOOST_AUTO_TEST_CASE(node_closing_in_handshake_ends_in_time) {
  test_listener listener{test_listener::closing};
  check_fails_in_time({
    {"publish", listener.url(), "c", "m"},
    {"history", listener.url(), "c"},
    {"stats", listener.url()},
    {"subscribe", listener.url(), "c"},
  });
}

BOOST_AUTO_TEST_CASE(passwords_stay_out_of_errors) {
  for (auto url : {"redis://:s3cr3tPW@127.0.0.1:1?bogus=1",
                   "rediss://:s3cr3tPW@127.0.0.1:1",
                   "redis://:s3/cr3tPW@127.0.0.1:1",
                   "redis://:s3?cr3tPW@127.0.0.1:1"}) {
    auto r = cli({"publish", url, "c", "m"});
    BOOST_CHECK_MESSAGE(r.code != 0, url << " gave " << r.code);
    BOOST_CHECK_MESSAGE(r.err.find("cr3tPW") == std::string::npos,
                        url << ": " << r.err);
    BOOST_CHECK_MESSAGE(r.err.find("cannot use backend") != std::string::npos,
                        url << ": " << r.err);
  }
}

BOOST_AUTO_TEST_CASE(invalid_channels_fail_before_connecting) {
  // A fresh port with nothing listening: the channel check must fail
  // before any connect is tried, so the error is the channel's.
  auto url = node_url(free_port());
  auto empty = cli({"history", url, ""});
  BOOST_CHECK_EQUAL(empty.code, 2);
  BOOST_CHECK_NE(empty.err.find("channel name is empty"), std::string::npos);
  auto glob = cli({"subscribe", url, "a[b", "--pattern"});
  BOOST_CHECK_EQUAL(glob.code, 2);
  BOOST_CHECK_NE(glob.err.find("unterminated"), std::string::npos);
  auto longer = cli({"publish", url, std::string(5000, 'c'), "m"});
  BOOST_CHECK_EQUAL(longer.code, 2);
  BOOST_CHECK_NE(longer.err.find("maximum is 4096"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_urls_are_usage_errors) {
  for (auto url : {"caf://127.0.0.1", "caf://127.0.0.1:4242/path",
                   "caf://127.0.0.1:4242?bogus=1",
                   "caf://127.0.0.1:4242?connect_timeout=soon",
                   "caf://user@127.0.0.1:4242", "nope://x"}) {
    auto r = cli({"publish", url, "c", "m"});
    BOOST_CHECK_MESSAGE(r.code == 2, url << " gave " << r.code);
    BOOST_CHECK_MESSAGE(r.err.find("cannot use backend") != std::string::npos,
                        url << ": " << r.err);
  }
}

BOOST_AUTO_TEST_CASE(unknown_command_and_option) {
  auto command = cli({"frobnicate"});
  BOOST_CHECK_EQUAL(command.code, 2);
  BOOST_CHECK_NE(command.err.find("unknown command \"frobnicate\""),
                 std::string::npos);
  auto option = cli({"subscribe", "memory://", "c", "--bogus"});
  BOOST_CHECK_EQUAL(option.code, 2);
  BOOST_CHECK_NE(option.err.find("unknown option --bogus"),
                 std::string::npos);
  auto value = cli({"history", "memory://", "c", "--limit", "lots"});
  BOOST_CHECK_EQUAL(value.code, 2);
  auto missing = cli({"publish", "memory://"});
  BOOST_CHECK_EQUAL(missing.code, 2);
  auto port = cli({"serve"});
  BOOST_CHECK_EQUAL(port.code, 2);
  BOOST_CHECK_NE(port.err.find("--port"), std::string::npos);
  auto format = cli({"stats", "memory://", "--format", "xml"});
  BOOST_CHECK_EQUAL(format.code, 2);
}

BOOST_AUTO_TEST_CASE(help_for_each_command) {
  for (auto command : {"publish", "subscribe", "history", "stats", "serve"}) {
    auto r = cli({command, "--help"});
    BOOST_CHECK_EQUAL(r.code, 0);
    BOOST_CHECK_MESSAGE(r.out.find(std::string{"usage: broadcaster "}
                                   + command)
                          != std::string::npos,
                        r.out);
    BOOST_CHECK_NE(r.out.find("default"), std::string::npos);
  }
  BOOST_CHECK_EQUAL(cli({"--help"}).code, 0);
}

BOOST_AUTO_TEST_CASE(memory_url_works_in_one_process) {
  auto r = cli({"publish", "memory://", "c", "m"});
  BOOST_CHECK_EQUAL(r.code, 0);
  auto stats = cli({"stats", "memory://"});
  BOOST_CHECK_EQUAL(stats.code, 0);
  BOOST_CHECK_NE(stats.out.find("backend: memory://"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(serve_exposes_prometheus_counters) {
  piped_process node{
    {cli_path(), "serve", "--port", "0", "--metrics-port", "0"}};
  auto line = node.wait_for(stream::out, "metrics on http://127.0.0.1:",
                            deadline());
  BOOST_REQUIRE(line);
  auto metrics_port = static_cast<uint16_t>(
    std::stoi(line->substr(line->rfind(':') + 1)));
  auto port = listening_port(node, deadline());
  BOOST_REQUIRE(port != 0);
  piped_process sub{{cli_path(), "subscribe", node_url(port), "m"}};
  BOOST_REQUIRE(sub.wait_for(stream::err, "subscribed: m", deadline()));
  auto r = cli({"publish", node_url(port), "m", "x"});
  BOOST_REQUIRE_EQUAL(r.code, 0);
  BOOST_REQUIRE(sub.read_line(stream::out, deadline()));
  auto response = http_get(metrics_port, "/metrics");
  BOOST_CHECK_NE(response.find("200 OK"), std::string::npos);
  BOOST_CHECK_NE(response.find("\nbroadcaster_channels 1\n"),
                 std::string::npos);
  BOOST_CHECK_NE(response.find("\nbroadcaster_subscribers 1\n"),
                 std::string::npos);
  BOOST_CHECK_NE(response.find("\nbroadcaster_published_total 1\n"),
                 std::string::npos);
  BOOST_CHECK_NE(response.find("\nbroadcaster_delivered 1\n"),
                 std::string::npos);
  BOOST_CHECK_NE(response.find("\nbroadcaster_dropped 0\n"),
                 std::string::npos);
  BOOST_CHECK_NE(http_get(metrics_port, "/other").find("404"),
                 std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
