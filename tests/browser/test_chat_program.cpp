// Tests of the broadcaster-chat program as users run it: options, errors,
// the printed port, its logs and a clean stop on SIGTERM and SIGINT.

#define BOOST_TEST_MODULE chat_program
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>

#include "chat_clients.hpp"
#include "support/support.hpp"

using namespace broadcaster;
using namespace broadcaster::test;

namespace {

const std::string chat_binary = BROADCASTER_CHAT_BINARY;

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct run_result {
  int status = -1;
  std::string output;
};

// Runs the program with `args` until it exits and returns its exit status
// and everything it printed.
run_result run_to_exit(const std::vector<std::string>& args) {
  test::temp_dir dir;
  auto log = dir.path() + "/output.log";
  std::vector<std::string> argv{chat_binary};
  argv.insert(argv.end(), args.begin(), args.end());
  test::child_process child{argv, log};
  // Signal 0 delivers nothing, so this only waits for the exit.
  auto status = child.stop(0, test::deadline());
  BOOST_REQUIRE_MESSAGE(status != -1, "broadcaster-chat did not exit");
  return {status, read_file(log)};
}

bool exited_with(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A running broadcaster-chat whose output goes to a temporary file.
class running_chat {
public:
  explicit running_chat(std::vector<std::string> args)
    : log_(dir_.path() + "/output.log") {
    std::vector<std::string> argv{chat_binary};
    argv.insert(argv.end(), args.begin(), args.end());
    child_ = std::make_unique<test::child_process>(argv, log_);
    std::regex listening{"listening on http://127\\.0\\.0\\.1:([0-9]+)/"};
    std::smatch match;
    std::string output;
    // The output is a file, which offers no event to wait for.
    bool found = test::eventually(
      [&] {
        output = read_file(log_);
        return std::regex_search(output, match, listening)
               || !child_->running();
      },
      test::deadline());
    BOOST_REQUIRE_MESSAGE(found && !match.empty(),
                          "no listening line in: " << output);
    port_ = static_cast<uint16_t>(std::stoi(match[1].str()));
  }

  uint16_t port() const {
    return port_;
  }

  int stop(int signal) {
    return child_->stop(signal, test::deadline());
  }

  std::string output() const {
    return read_file(log_);
  }

private:
  test::temp_dir dir_;
  std::string log_;
  std::unique_ptr<test::child_process> child_;
  uint16_t port_ = 0;
};

unsigned get_status(uint16_t port, const std::string& target) {
  return http_request(port, http::verb::get, target).status;
}

} // namespace

BOOST_AUTO_TEST_CASE(help_lists_options) {
  auto result = run_to_exit({"--help"});
  BOOST_CHECK(exited_with(result.status, 0));
  // Each option's line names its unit and ends with its default.
  const std::vector<std::vector<std::string>> expected{
    {"--backend=", "URL", "(default: memory://)"},
    {"--host=", "address", "(default: 127.0.0.1)"},
    {"--port=", "TCP port", "(default: 8000)"},
    {"--max-message-size=", "in bytes", "(default: 4096)"},
    {"--max-send-queue=", "messages", "(default: 256)"},
    {"--max-connections=", "connections", "(default: 1000)"},
    {"--io-threads=", "threads", "(default: 1)"},
  };
  for (const auto& row : expected) {
    auto start = result.output.find(row[0]);
    BOOST_REQUIRE_MESSAGE(start != std::string::npos,
                          row[0] << " missing in: " << result.output);
    auto line = result.output.substr(
      start, result.output.find('\n', start) - start);
    for (size_t i = 1; i < row.size(); ++i) {
      BOOST_CHECK_MESSAGE(contains(line, row[i]),
                          "\"" << row[i] << "\" missing in: " << line);
    }
  }
  BOOST_CHECK_MESSAGE(contains(result.output, "--scheduler.max-threads"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(unknown_option_fails) {
  auto result = run_to_exit({"--bogus=1"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "unknown option --bogus"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(option_without_value_fails) {
  auto result = run_to_exit({"--port"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "needs a value"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(port_out_of_range_fails) {
  auto result = run_to_exit({"--port=70000"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "out of range"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(zero_message_size_fails) {
  auto result = run_to_exit({"--max-message-size=0"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "--max-message-size"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(max_connections_out_of_range_fails) {
  auto result = run_to_exit({"--max-connections=1000001"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "--max-connections"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(positional_argument_fails) {
  auto result = run_to_exit({"memory://"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "unexpected argument"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(invalid_backend_url_fails) {
  auto result = run_to_exit({"--backend", "not-a-url"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "invalid --backend"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(unknown_scheme_lists_supported) {
  auto result = run_to_exit({"--backend=nosuch://host"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "memory://"), result.output);
}

BOOST_AUTO_TEST_CASE(password_is_never_printed) {
  auto result = run_to_exit({"--backend=memory://user:hunter2@host"});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(!contains(result.output, "hunter2"), result.output);
  BOOST_CHECK_MESSAGE(contains(result.output, "***"), result.output);
}

BOOST_AUTO_TEST_CASE(busy_port_fails) {
  net::io_context ioc;
  tcp::acceptor taken{ioc, {net::ip::make_address("127.0.0.1"), 0}};
  auto port = std::to_string(taken.local_endpoint().port());
  auto result = run_to_exit({"--port=" + port});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "cannot listen"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(invalid_config_file_fails) {
  test::temp_dir dir;
  auto file = dir.path() + "/chat.ini";
  std::ofstream{file} << "port=not-a-number\n";
  auto result = run_to_exit({"--config-file=" + file});
  BOOST_CHECK(exited_with(result.status, 1));
  BOOST_CHECK_MESSAGE(contains(result.output, "invalid configuration file"),
                      result.output);
}

BOOST_AUTO_TEST_CASE(config_file_sets_options) {
  test::temp_dir dir;
  auto file = dir.path() + "/chat.ini";
  std::ofstream{file} << "port=0\nmax-message-size=100\n";
  running_chat chat{{"--config-file=" + file}};
  BOOST_CHECK_EQUAL(get_status(chat.port(), "/"), 200u);
  BOOST_CHECK(exited_with(chat.stop(SIGTERM), 0));
  BOOST_CHECK_MESSAGE(contains(chat.output(), "max_message_size = 100"),
                      chat.output());
}

BOOST_AUTO_TEST_CASE(sigterm_stops_cleanly) {
  running_chat chat{{"--port", "0", "--backend", "memory://"}};
  BOOST_CHECK_EQUAL(get_status(chat.port(), "/"), 200u);
  {
    chat_client client{chat.port()};
    client.await_ready();
    client.close();
  }
  auto status = chat.stop(SIGTERM);
  BOOST_CHECK(exited_with(status, 0));
  auto output = chat.output();
  for (auto line : {"chat server started", "backend = memory://",
                    "connection opened", "connection closed",
                    "chat server stopped"}) {
    BOOST_CHECK_MESSAGE(contains(output, line),
                        "\"" << line << "\" missing in: " << output);
  }
}

BOOST_AUTO_TEST_CASE(max_connections_rejects_and_logs) {
  running_chat chat{{"--port=0", "--max-connections=1"}};
  {
    chat_client client{chat.port()};
    client.await_ready();
    for (int i = 0; i < 2; ++i) {
      BOOST_CHECK_EQUAL(rejected_upgrade(chat.port()).status, 503u);
    }
    client.close();
  }
  BOOST_CHECK(exited_with(chat.stop(SIGTERM), 0));
  auto output = chat.output();
  BOOST_CHECK_MESSAGE(contains(output, "max_connections = 1"), output);
  std::regex rejection{"websocket upgrade rejected, connection limit "
                       "reached: connection = [0-9]+, "
                       "remote = 127\\.0\\.0\\.1:[0-9]+, "
                       "max_connections = 1"};
  auto lines = std::distance(
    std::sregex_iterator(output.begin(), output.end(), rejection),
    std::sregex_iterator());
  BOOST_CHECK_MESSAGE(lines == 2, "expected 2 rejection lines, found "
                                    << lines << " in: " << output);
  BOOST_CHECK_MESSAGE(contains(output, "rejected_connections = 2"), output);
}

BOOST_AUTO_TEST_CASE(low_open_file_limit_is_raised) {
  rlimit saved{};
  BOOST_REQUIRE_EQUAL(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 164) {
    BOOST_TEST_MESSAGE("skipped: the hard open-file limit is below 164");
    return;
  }
  // The child inherits this soft limit, and the test gets its own back as
  // soon as the child runs.
  rlimit low = saved;
  low.rlim_cur = 100;
  BOOST_REQUIRE_EQUAL(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::unique_ptr<running_chat> chat;
  try {
    chat = std::make_unique<running_chat>(
      std::vector<std::string>{"--port=0", "--max-connections=100"});
  } catch (...) {
    setrlimit(RLIMIT_NOFILE, &saved);
    throw;
  }
  BOOST_REQUIRE_EQUAL(setrlimit(RLIMIT_NOFILE, &saved), 0);
  BOOST_CHECK(exited_with(chat->stop(SIGTERM), 0));
  // 100 connections plus 64 descriptors for everything else.
  BOOST_CHECK_MESSAGE(contains(chat->output(), "raised the open-file limit: "
                                               "from = 100, to = 164"),
                      chat->output());
}

BOOST_AUTO_TEST_CASE(sigint_stops_cleanly) {
  running_chat chat{{"--port=0"}};
  BOOST_CHECK(exited_with(chat.stop(SIGINT), 0));
  BOOST_CHECK_MESSAGE(contains(chat.output(), "chat server stopped"),
                      chat.output());
}
