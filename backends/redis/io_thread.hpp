#pragma once

// Internal: the thread that owns the two Redis connections of one backend
// actor. It waits in poll() on both sockets and an eventfd, so it neither
// blocks a CAF scheduler thread nor spins. The actor posts commands; the
// thread reports results back in order and wakes the actor with one message
// per batch of reports. While the publish connection is ready, the actor
// writes PUBLISH commands to its socket itself, with non-blocking sends, so
// that a publish does not wait for the I/O thread to wake up.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/types.hpp"
#include "settings.hpp"

namespace broadcaster::redis::detail {

using clock_type = std::chrono::steady_clock;

/// Tells the backend actor that reports are waiting in `take_reports()`.
using wake_atom = caf::atom_constant<caf::atom("rdwake")>;

/// An error for a request or a connection, as code and text.
struct failure {
  errc code = errc::backend_unavailable;
  std::string text;
};

/// The two connections of a backend.
enum class link_role : uint8_t {
  publish,
  subscribe,
};

const char* to_string(link_role role);

/// Subscription commands, one channel or pattern each.
enum class subscription_op : uint8_t {
  subscribe,
  unsubscribe,
  psubscribe,
  punsubscribe,
};

// -- commands from the actor -------------------------------------------------

/// PUBLISH `channel` `message`; the thread reports a `publish_result` with
/// the same id.
struct publish_command {
  uint64_t id = 0;
  std::string channel;
  std::string message;
  /// When the actor received the request; publish_wait counts from here.
  clock_type::time_point arrival;
};

/// A subscription command for the subscribe connection of `generation`.
/// The thread drops it if that connection is gone, because the actor sends
/// every live subscription again on the next `link_up`.
struct subscription_command {
  uint64_t generation = 0;
  subscription_op op = subscription_op::subscribe;
  std::string key;
};

using command = std::variant<publish_command, subscription_command>;

// -- reports to the actor ----------------------------------------------------

/// The subscribe connection is ready; `generation` counts its sessions.
struct link_up {
  uint64_t generation = 0;
};

/// The subscribe connection broke (`was_ready`) or a connect attempt
/// failed. The thread retries on its own.
struct link_down {
  uint64_t generation = 0;
  bool was_ready = false;
  failure reason;
};

/// Redis confirmed (or, with `error`, rejected) one subscription command.
struct confirmation {
  uint64_t generation = 0;
  subscription_op op = subscription_op::subscribe;
  std::string key;
  std::optional<failure> error;
};

/// Outcome of one publish: the receiver count Redis returned, or an error.
struct publish_result {
  uint64_t id = 0;
  int64_t receivers = 0;
  std::optional<failure> error;
};

using report = std::variant<link_up, link_down, confirmation,
                            std::vector<publish_result>, std::vector<event>>;

/// Counters the thread updates and the actor reads for stats.
struct io_counters {
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> publish_failed{0};
  /// Groups of PUBLISH commands handed to the socket together; under load
  /// many publishes share one group and one write.
  std::atomic<uint64_t> publish_batches{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> connection_losses{0};
  std::atomic<uint64_t> failed_connects{0};
  std::atomic<uint64_t> publish_connected{0};
  std::atomic<uint64_t> subscribe_connected{0};
  /// The wait before the latest reconnect attempt of each connection.
  std::atomic<uint64_t> publish_retry_ms{0};
  std::atomic<uint64_t> subscribe_retry_ms{0};
};

/// Handle to the I/O thread of one backend actor. The actor creates it,
/// calls `post` and `take_reports` from its own handlers only, and destroys
/// it when it exits, which stops the thread.
class io_thread {
public:
  /// Starts the thread, which connects both links at once and sends `owner`
  /// a `wake` message whenever reports are waiting. The thread holds only a
  /// weak reference to `owner`.
  io_thread(settings config, caf::actor_addr owner);

  /// Stops the thread and joins it. If the last reference to the actor was
  /// dropped on the I/O thread itself, that thread is detached instead and
  /// exits on its own.
  ~io_thread();

  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  /// Queues commands for the thread and wakes it if it was idle.
  void post(std::vector<command> commands);
  void post(command cmd);

  /// Queues a PUBLISH on the publish connection from the calling thread,
  /// if the connection is ready and no earlier publish is still posted.
  /// Returns false otherwise, and the caller posts `cmd` instead. The
  /// bytes go out with the next `flush()`, without waking the I/O thread.
  bool queue_publish(const publish_command& cmd);

  /// Writes the publishes that `queue_publish` queued, without blocking.
  /// The I/O thread writes what the socket does not take.
  void flush();

  /// Returns all reports since the last call, oldest first.
  std::vector<report> take_reports();

  const io_counters& counters() const;

  struct engine;

private:
  std::shared_ptr<engine> engine_;
};

} // namespace broadcaster::redis::detail
