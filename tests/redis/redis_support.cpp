#include "redis_support.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <variant>

#include <signal.h>

namespace broadcaster::test {

namespace {

caf::behavior collector(caf::event_based_actor* self, caf::actor sink) {
  return event_handler(
    self, [self, sink](const event& ev) { self->send(sink, ev); },
    [self, sink](const notice& n) {
      std::visit([&](const auto& x) { self->send(sink, x); }, n);
    });
}

// Returns the last non-empty line of redis-cli's raw output.
std::string last_line(const std::string& output) {
  auto end = output.find_last_not_of('\n');
  if (end == std::string::npos) {
    return {};
  }
  auto begin = output.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return output.substr(begin, end + 1 - begin);
}

} // namespace

// -- redis_server -------------------------------------------------------------

redis_server::redis_server(redis_server_options options)
  : options_(std::move(options)), port_(free_port()) {
  start();
}

redis_server::~redis_server() {
  if (paused_) {
    resume();
  }
}

std::string redis_server::socket_path() const {
  return dir_.path() + "/redis.sock";
}

std::string redis_server::url(const std::string& rest,
                              const std::string& credentials) const {
  return "redis://" + credentials + "127.0.0.1:" + std::to_string(port_)
         + rest;
}

void redis_server::start() {
  std::vector<std::string> argv{
    "redis-server", "--port",       std::to_string(port_), "--bind",
    "127.0.0.1",    "--dir",        dir_.path(),           "--save",
    "",             "--appendonly", "no",                  "--daemonize",
    "no"};
  if (options_.unix_socket) {
    argv.insert(argv.end(),
                {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
  }
  if (!options_.password.empty()) {
    argv.insert(argv.end(), {"--requirepass", options_.password});
  }
  if (!options_.acl_user.empty()) {
    argv.insert(argv.end(), {"--user", options_.acl_user, "on",
                             ">" + options_.acl_password, "~*", "&*",
                             "+@all"});
  }
  process_ = std::make_unique<child_process>(argv,
                                             dir_.path() + "/redis.log");
  if (!wait_for_port("127.0.0.1", port_, deadline())
      || !process_->running()) {
    throw std::runtime_error("redis-server did not start on port "
                             + std::to_string(port_) + "; its log:\n"
                             + log());
  }
  // Redis opens its Unix socket after the TCP port.
  if (options_.unix_socket
      && !wait_for_unix_socket(socket_path(), deadline())) {
    throw std::runtime_error("redis-server did not open " + socket_path()
                             + "; its log:\n" + log());
  }
}

void redis_server::kill() {
  if (paused_) {
    resume();
  }
  if (process_) {
    process_->stop(SIGKILL, deadline());
    process_.reset();
  }
}

void redis_server::pause() {
  ::kill(process_->pid(), SIGSTOP);
  paused_ = true;
}

void redis_server::resume() {
  ::kill(process_->pid(), SIGCONT);
  paused_ = false;
}

std::vector<std::string> redis_server::cli_prefix() const {
  std::vector<std::string> result{"redis-cli", "-h", "127.0.0.1", "-p",
                                  std::to_string(port_)};
  if (!options_.password.empty()) {
    result.insert(result.end(),
                  {"-a", options_.password, "--no-auth-warning"});
  }
  return result;
}

std::string redis_server::cli(const std::vector<std::string>& args,
                              const std::string& input) const {
  auto argv = cli_prefix();
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, input);
}

int64_t redis_server::numsub(const std::string& channel) const {
  return std::stoll(last_line(cli({"PUBSUB", "NUMSUB", channel})));
}

int64_t redis_server::numpat() const {
  return std::stoll(last_line(cli({"PUBSUB", "NUMPAT"})));
}

std::string redis_server::log() const {
  std::ifstream in{dir_.path() + "/redis.log"};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// -- listener -----------------------------------------------------------------

listener::listener(caf::actor_system& sys) : self_(sys) {
  collector_ = sys.spawn(collector, caf::actor{self_});
}

listener::~listener() {
  caf::anon_send_exit(collector_, caf::exit_reason::user_shutdown);
}

caf::expected<subscription>
listener::subscribe(const broadcast_actor& bc, const std::string& channel,
                    subscribe_options options) {
  caf::expected<subscription> result{make_error(errc::timeout)};
  self_
    ->request(bc, deadline(), bc_subscribe_atom::value, channel, collector_,
              options)
    .receive([&](subscription& sub) { result = std::move(sub); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

bool listener::receive_one(std::chrono::milliseconds timeout) {
  bool received = true;
  self_->receive([&](event& ev) { events_.push_back(std::move(ev)); },
                 [&](status_event& x) { statuses_.push_back(std::move(x)); },
                 [&](events_skipped& x) { skipped_ += x.count; },
                 caf::after(timeout) >> [&] { received = false; });
  return received;
}

std::optional<event> listener::next_event(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (events_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !receive_one(left)) {
      return std::nullopt;
    }
  }
  auto result = std::move(events_.front());
  events_.pop_front();
  return result;
}

std::optional<status_event>
listener::next_status(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (statuses_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !receive_one(left)) {
      return std::nullopt;
    }
  }
  auto result = std::move(statuses_.front());
  statuses_.pop_front();
  return result;
}

// -- redis_fixture ------------------------------------------------------------

redis_fixture::redis_fixture() : schemes(memory_schemes()) {
  redis::add_to(schemes);
}

redis_fixture::~redis_fixture() {
  for (auto& bc : spawned) {
    caf::anon_send_exit(bc, caf::exit_reason::user_shutdown);
  }
}

caf::expected<broadcast_actor>
redis_fixture::try_connect(const std::string& url) {
  auto result = spawn_broadcast(sys, url, schemes);
  if (result) {
    spawned.push_back(*result);
  }
  return result;
}

broadcast_actor redis_fixture::connect(const std::string& url) {
  auto result = try_connect(url);
  require_ok(result);
  return *result;
}

publish_ack publish_ok(caf::actor_system& sys, const broadcast_actor& bc,
                       const std::string& channel,
                       const std::string& message) {
  auto ack = publish_blocking(sys, bc, channel, message, deadline());
  require_ok(ack);
  return *ack;
}

} // namespace broadcaster::test
