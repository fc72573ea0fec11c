#pragma once

// Helpers for the Redis suites: a redis-server of the test's own on a free
// loopback port, an actor that forwards what a subscription receives to the
// test thread, and a fixture combining them with an actor system.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/redis.hpp"
#include "support/support.hpp"

namespace broadcaster {

inline std::ostream& operator<<(std::ostream& out, status_kind x) {
  return out << to_string(x);
}

} // namespace broadcaster

namespace broadcaster::test {

/// Settings of a test server.
struct redis_server_options {
  /// Password of the default user (requirepass); empty for none.
  std::string password;
  /// An ACL user with all permissions on all keys and channels.
  std::string acl_user;
  std::string acl_password;
  /// Also listen on a Unix socket in the server's folder.
  bool unix_socket = false;
};

/// A redis-server in a temporary folder, without persistence, listening on
/// 127.0.0.1 at a port picked at construction. It is stopped by its PID.
class redis_server {
public:
  explicit redis_server(redis_server_options options = {});
  ~redis_server();

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  uint16_t port() const noexcept {
    return port_;
  }

  /// Path of the Unix socket, if `unix_socket` was set.
  std::string socket_path() const;

  /// Returns "redis://" + `credentials` + "127.0.0.1:PORT" + `rest`.
  std::string url(const std::string& rest = "",
                  const std::string& credentials = "") const;

  /// Starts the server (again, on the same port) and waits until it
  /// accepts connections.
  void start();

  /// Kills the server with SIGKILL and reaps it.
  void kill();

  /// Stops the process with SIGSTOP, so connections stay open but get no
  /// replies. `resume()` continues it, and so does the destructor.
  void pause();
  void resume();

  /// Runs redis-cli against the server, authenticated as the admin, and
  /// returns its raw standard output.
  std::string cli(const std::vector<std::string>& args,
                  const std::string& input = {}) const;

  /// Returns the redis-cli arguments that connect to the server, for tools
  /// started as child processes.
  std::vector<std::string> cli_prefix() const;

  /// Returns the subscriber count of `channel` (PUBSUB NUMSUB).
  int64_t numsub(const std::string& channel) const;

  /// Returns the number of pattern subscriptions (PUBSUB NUMPAT).
  int64_t numpat() const;

  /// Returns the server's log so far, for failure messages.
  std::string log() const;

private:
  redis_server_options options_;
  temp_dir dir_;
  uint16_t port_;
  std::unique_ptr<child_process> process_;
  bool paused_ = false;
};

/// What a subscription delivered to a listener, in arrival order.
class listener {
public:
  explicit listener(caf::actor_system& sys);
  ~listener();

  /// Returns the actor that receives events, to pass to a subscribe
  /// request.
  caf::actor handle() const {
    return collector_;
  }

  /// Subscribes the listener and waits for the reply.
  caf::expected<subscription> subscribe(const broadcast_actor& bc,
                                        const std::string& channel,
                                        subscribe_options options = {});

  /// Waits up to `timeout` for the next event.
  std::optional<event> next_event(std::chrono::milliseconds timeout
                                  = deadline());

  /// Waits up to `timeout` for the next status message.
  std::optional<status_event> next_status(std::chrono::milliseconds timeout
                                          = deadline());

  /// Returns the events received so far without waiting.
  size_t buffered_events() const noexcept {
    return events_.size();
  }

  /// Returns how many events the channel reported as skipped so far.
  uint64_t skipped() const noexcept {
    return skipped_;
  }

private:
  // Receives one message; returns false on timeout.
  bool receive_one(std::chrono::milliseconds timeout);

  caf::scoped_actor self_;
  caf::actor collector_;
  std::deque<event> events_;
  std::deque<status_event> statuses_;
  uint64_t skipped_ = 0;
};

/// An actor system, a scheme table with the Redis schemes, and the
/// supervisors a test spawned, which it stops at the end.
struct redis_fixture : system_fixture {
  redis_fixture();
  ~redis_fixture();

  /// Spawns a supervisor for `url` and fails the test on an error.
  broadcast_actor connect(const std::string& url);

  /// Spawns a supervisor for `url`; returns the error, if any.
  caf::expected<broadcast_actor> try_connect(const std::string& url);

  scheme_table schemes;
  std::vector<broadcast_actor> spawned;
};

/// Returns a duration in whole milliseconds, for checks that print their
/// operands (Boost.Test cannot print std::chrono durations).
template <class Rep, class Period>
int64_t millis(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Publishes and fails the test on an error.
publish_ack publish_ok(caf::actor_system& sys, const broadcast_actor& bc,
                       const std::string& channel,
                       const std::string& message);

} // namespace broadcaster::test
