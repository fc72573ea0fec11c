#include "io_thread.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include "broadcaster/log.hpp"

namespace broadcaster::redis::detail {

const char* to_string(link_role role) {
  return role == link_role::publish ? "publish" : "subscribe";
}

namespace {

using std::chrono::milliseconds;

struct context_deleter {
  void operator()(redisContext* ctx) const noexcept {
    redisFree(ctx);
  }
};

using context_ptr = std::unique_ptr<redisContext, context_deleter>;

struct reply_deleter {
  void operator()(redisReply* reply) const noexcept {
    freeReplyObject(reply);
  }
};

using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

/// Size of one recv() into the reply reader.
constexpr size_t read_chunk = 64 * 1024;

/// Reads per connection and loop iteration, so that a flood on one
/// connection cannot starve the other one.
constexpr int max_reads_per_wakeup = 16;

// -- error mapping ------------------------------------------------------------

// Maps a hiredis error code (redisContext::err, a reader error, or the code
// this file assigns to its own recv/send failures) to an errc. `connecting`
// selects the wording for errors before the connection was ready.
failure hiredis_failure(int code, std::string_view detail,
                        const std::string& server, bool connecting) {
  std::string text{detail};
  switch (code) {
    case REDIS_ERR_IO:
      return {errc::backend_unavailable,
              connecting ? "cannot connect to " + server + ": " + text
                         : "connection to " + server + " failed: " + text};
    case REDIS_ERR_EOF:
      return {errc::backend_unavailable,
              connecting ? server
                             + " closed the connection during AUTH, "
                               "SELECT or PING"
                         : server + " closed the connection"};
    case REDIS_ERR_PROTOCOL:
      return {errc::backend_error,
              "invalid reply from " + server + ": " + text};
    case REDIS_ERR_OOM:
      return {errc::backend_error,
              "out of memory on the connection to " + server};
    default:
      return {errc::backend_unavailable,
              "cannot connect to " + server + ": " + text};
  }
}

failure errno_failure(int error, const std::string& server, bool connecting) {
  return hiredis_failure(REDIS_ERR_IO, std::strerror(error), server,
                         connecting);
}

// Maps an error reply of Redis to a command onto an errc.
failure reply_failure(std::string_view command, std::string_view text,
                      const settings& cfg) {
  std::string reply{text};
  std::string user_part
    = cfg.user.empty() ? "" : " for user \"" + cfg.user + "\"";
  if (reply.rfind("NOAUTH", 0) == 0) {
    return {errc::authentication_failed,
            "authentication failed at " + cfg.server
              + ": the server requires a password (" + reply
              + "); put it into the URL as redis://:PASSWORD@host or "
                "redis://USER:PASSWORD@host"};
  }
  if (command == "AUTH" || reply.rfind("WRONGPASS", 0) == 0) {
    return {errc::authentication_failed,
            "authentication failed at " + cfg.server + user_part + ": " + reply
              + "; check the user name and password in the URL"};
  }
  if (reply.rfind("NOPERM", 0) == 0) {
    return {errc::backend_error, cfg.server + " denied " + std::string{command}
                                   + user_part + ": " + reply
                                   + "; check the user's ACL rules"};
  }
  return {errc::backend_error,
          cfg.server + " rejected " + std::string{command} + ": " + reply};
}

// -- RESP encoding ------------------------------------------------------------

// Writes `x` in decimal at `out` and returns the end.
char* put_number(char* out, size_t x) {
  std::array<char, 24> digits;
  auto [end, ec]
    = std::to_chars(digits.data(), digits.data() + digits.size(), x);
  (void) ec;
  auto n = static_cast<size_t>(end - digits.data());
  std::memcpy(out, digits.data(), n);
  return out + n;
}

// Appends a command in RESP, growing `out` once.
void append_command(std::string& out,
                    std::initializer_list<std::string_view> args) {
  // A header takes at most 1 + 20 digits + CRLF.
  size_t size = 23;
  for (auto arg : args) {
    size += 23 + arg.size() + 2;
  }
  auto offset = out.size();
  out.resize(offset + size);
  char* p = out.data() + offset;
  *p++ = '*';
  p = put_number(p, args.size());
  *p++ = '\r';
  *p++ = '\n';
  for (auto arg : args) {
    *p++ = '$';
    p = put_number(p, arg.size());
    *p++ = '\r';
    *p++ = '\n';
    std::memcpy(p, arg.data(), arg.size());
    p += arg.size();
    *p++ = '\r';
    *p++ = '\n';
  }
  out.resize(static_cast<size_t>(p - out.data()));
}

const char* command_name(subscription_op op) {
  switch (op) {
    case subscription_op::subscribe:
      return "SUBSCRIBE";
    case subscription_op::unsubscribe:
      return "UNSUBSCRIBE";
    case subscription_op::psubscribe:
      return "PSUBSCRIBE";
    case subscription_op::punsubscribe:
      return "PUNSUBSCRIBE";
  }
  return "SUBSCRIBE";
}

// The first element of Redis's reply array to a subscription command.
const char* reply_name(subscription_op op) {
  switch (op) {
    case subscription_op::subscribe:
      return "subscribe";
    case subscription_op::unsubscribe:
      return "unsubscribe";
    case subscription_op::psubscribe:
      return "psubscribe";
    case subscription_op::punsubscribe:
      return "punsubscribe";
  }
  return "subscribe";
}

std::string_view as_view(const redisReply& reply) {
  return {reply.str, reply.len};
}

bool is_string(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_STRING;
}

// -- RESP scanning ------------------------------------------------------------

// The replies that the hot paths handle without hiredis's reader, which
// allocates a reply tree per message and moves its buffer every kilobyte.
enum class scan_status : uint8_t {
  complete,
  partial,
  invalid,
};

// Reads the number of a RESP header line whose type byte is at `pos`, and
// moves `pos` past the line's CRLF.
scan_status scan_number(const char* data, size_t size, size_t& pos,
                        int64_t& value) {
  auto at = pos + 1;
  bool negative = at < size && data[at] == '-';
  if (negative) {
    ++at;
  }
  auto first = at;
  uint64_t result = 0;
  while (at < size && data[at] >= '0' && data[at] <= '9') {
    if (at - first >= 18) {
      return scan_status::invalid;
    }
    result = result * 10 + static_cast<uint64_t>(data[at] - '0');
    ++at;
  }
  if (at + 1 >= size) {
    return scan_status::partial;
  }
  if (at == first || data[at] != '\r' || data[at + 1] != '\n') {
    return scan_status::invalid;
  }
  value = negative ? -static_cast<int64_t>(result)
                   : static_cast<int64_t>(result);
  pos = at + 2;
  return scan_status::complete;
}

// Moves `pos` past one complete reply. Nested arrays deeper than hiredis
// accepts count as invalid.
scan_status skip_reply(const char* data, size_t size, size_t& pos,
                       int depth = 0) {
  if (pos >= size) {
    return scan_status::partial;
  }
  switch (data[pos]) {
    case '+':
    case '-': {
      auto* begin = data + pos + 1;
      auto* cr = static_cast<const char*>(
        std::memchr(begin, '\r', static_cast<size_t>(data + size - begin)));
      if (cr == nullptr || cr + 1 >= data + size) {
        return scan_status::partial;
      }
      pos = static_cast<size_t>(cr + 2 - data);
      return scan_status::complete;
    }
    case ':': {
      int64_t value = 0;
      return scan_number(data, size, pos, value);
    }
    case '$': {
      int64_t len = 0;
      auto at = pos;
      if (auto rc = scan_number(data, size, at, len);
          rc != scan_status::complete) {
        return rc;
      }
      if (len < 0) {
        pos = at;
        return scan_status::complete;
      }
      auto need = static_cast<uint64_t>(len) + 2;
      if (size - at < need) {
        return scan_status::partial;
      }
      pos = at + static_cast<size_t>(need);
      return scan_status::complete;
    }
    case '*': {
      if (depth >= 7) {
        return scan_status::invalid;
      }
      int64_t count = 0;
      auto at = pos;
      if (auto rc = scan_number(data, size, at, count);
          rc != scan_status::complete) {
        return rc;
      }
      for (int64_t i = 0; i < count; ++i) {
        if (auto rc = skip_reply(data, size, at, depth + 1);
            rc != scan_status::complete) {
          return rc;
        }
      }
      pos = at;
      return scan_status::complete;
    }
    default:
      return scan_status::invalid;
  }
}

// Reads the bulk string at `pos`. Anything but a bulk string counts as
// invalid here.
scan_status read_bulk(const char* data, size_t size, size_t& pos,
                      std::string_view& out) {
  if (pos >= size) {
    return scan_status::partial;
  }
  if (data[pos] != '$') {
    return scan_status::invalid;
  }
  int64_t len = 0;
  auto at = pos;
  if (auto rc = scan_number(data, size, at, len);
      rc != scan_status::complete) {
    return rc;
  }
  if (len < 0) {
    return scan_status::invalid;
  }
  if (size - at < static_cast<uint64_t>(len) + 2) {
    return scan_status::partial;
  }
  if (data[at + len] != '\r' || data[at + len + 1] != '\n') {
    return scan_status::invalid;
  }
  out = std::string_view{data + at, static_cast<size_t>(len)};
  pos = at + static_cast<size_t>(len) + 2;
  return scan_status::complete;
}

// -- connections --------------------------------------------------------------

enum class link_state : uint8_t {
  /// No socket; the next connect attempt starts at `deadline`.
  waiting,
  /// Non-blocking connect in progress until `deadline`.
  connecting,
  /// AUTH, SELECT and PING sent, replies due by `deadline`.
  handshaking,
  ready,
};

enum class reply_kind : uint8_t {
  handshake,
  ping,
  publish,
  subscription,
};

// A command sent on a connection whose reply has not arrived yet. Redis
// replies in order, so the oldest one is at the front of the queue.
struct expected_reply {
  reply_kind kind = reply_kind::ping;
  clock_type::time_point sent;
  /// Publish id, for reply_kind::publish.
  uint64_t id = 0;
  /// Command name, for handshake commands and errors.
  const char* command = "PING";
  /// Channel or pattern, for reply_kind::subscription.
  subscription_op op = subscription_op::subscribe;
  std::string key;
};

// Returns the reply entry of a PUBLISH with request id `id`.
expected_reply publish_reply(uint64_t id, clock_type::time_point sent) {
  expected_reply entry;
  entry.kind = reply_kind::publish;
  entry.sent = sent;
  entry.id = id;
  entry.command = "PUBLISH";
  return entry;
}

struct connection {
  explicit connection(link_role r) : role(r) {
    // nop
  }

  int fd() const {
    return ctx ? ctx->fd : -1;
  }

  /// Requires `out_mtx`.
  bool has_output() const {
    return out_offset < out.size();
  }

  /// Moves the replies due for commands that the actor's thread queued to
  /// the end of `expected`. Requires `out_mtx`.
  void take_sent() {
    for (auto& entry : sent) {
      expected.push_back(std::move(entry));
    }
    sent.clear();
  }

  link_role role;
  context_ptr ctx;
  link_state state = link_state::waiting;
  clock_type::time_point deadline;
  /// Counts sessions: incremented each time the connection becomes ready.
  uint64_t generation = 0;
  /// Guards `out`, `out_offset`, `sent`, `direct_fd` and
  /// `posted_publishes`. The backend actor's thread queues and writes
  /// publishes itself while `direct_fd` is set, and the rest of a
  /// connection belongs to the I/O thread.
  std::mutex out_mtx;
  /// Encoded commands not yet written, from `out_offset` on.
  std::string out;
  size_t out_offset = 0;
  /// Replies due for commands that the actor's thread queued, oldest first.
  std::deque<expected_reply> sent;
  /// The socket that the actor's thread may write to, or -1 while the
  /// connection is not ready.
  int direct_fd = -1;
  /// Publishes posted to the inbox that the I/O thread has not handled
  /// yet. While there are any, the actor posts further publishes too, so
  /// that none overtakes an earlier one.
  size_t posted_publishes = 0;
  /// When the I/O thread's current poll() times out at the latest; the
  /// actor's thread wakes it if a command it writes is due earlier.
  clock_type::time_point poll_until = clock_type::time_point::max();
  /// Bytes received and not yet handled: `in[in_begin, in_end)`.
  std::vector<char> in;
  size_t in_begin = 0;
  size_t in_end = 0;
  std::deque<expected_reply> expected;
  size_t handshake_left = 0;
  clock_type::time_point last_read;
  /// True once the first connect attempt has finished, either way.
  bool attempted = false;
  /// Failed connect attempts since the connection was last ready.
  uint32_t failures = 0;
  /// Sessions in a row that broke within reconnect_max of becoming ready.
  /// They count toward the backoff, so a server that accepts and then drops
  /// every connection is not reconnected to at the shortest interval.
  uint32_t short_sessions = 0;
  clock_type::time_point ready_since;
  failure last_failure;
  std::string last_logged_failure;
};

} // namespace

// Writes `conn.out` to `fd` until the socket takes no more, without
// blocking. Returns 0, or the errno of a failed send. Requires `out_mtx`.
int drain_output(connection& conn, int fd) {
  int error = 0;
  while (conn.has_output()) {
    auto n = ::send(fd, conn.out.data() + conn.out_offset,
                    conn.out.size() - conn.out_offset,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      conn.out_offset += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      error = errno;
    }
    break;
  }
  if (!conn.has_output()) {
    conn.out.clear();
    conn.out_offset = 0;
  } else if (conn.out_offset > conn.out.size() / 2) {
    conn.out.erase(0, conn.out_offset);
    conn.out_offset = 0;
  }
  return error;
}

// -- engine -------------------------------------------------------------------

struct io_thread::engine {
  engine(settings config, caf::actor_addr owner_addr)
    : cfg(std::move(config)),
      owner(std::move(owner_addr)),
      log(logger("redis")),
      rng(std::random_device{}()) {
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }

  ~engine() {
    if (wake_fd >= 0) {
      ::close(wake_fd);
    }
  }

  // -- shared with the actor -------------------------------------------------

  // mtx guards inbox and outbox. The other shared members are immutable or
  // atomic.

  settings cfg;
  caf::actor_addr owner;
  std::shared_ptr<spdlog::logger> log;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::mutex mtx;
  std::vector<command> inbox;
  std::vector<report> outbox;
  io_counters counters;
  std::thread thread;

  // -- owned by the I/O thread ------------------------------------------------

  connection pub{link_role::publish};
  connection sub{link_role::subscribe};
  /// Publishes that arrived while the publish connection was down.
  std::deque<publish_command> waiting;
  /// Reports of the current loop iteration.
  std::vector<report> reports;
  std::minstd_rand rng;
  bool appended_publish = false;

  void signal() {
    uint64_t increment = 1;
    auto written = ::write(wake_fd, &increment, sizeof(increment));
    (void) written; // EAGAIN means a wake-up is already pending.
  }

  void run();
  void deliver_reports();
  std::vector<command> take_commands();
  int poll_timeout(clock_type::time_point now) const;

  void handle(publish_command& cmd, clock_type::time_point now);
  void handle(subscription_command& cmd, clock_type::time_point now);
  void append_publish(publish_command& cmd, clock_type::time_point now);
  void queue_command(connection& conn,
                     std::initializer_list<std::string_view> args,
                     expected_reply entry);
  void fail_publish(uint64_t id, failure reason);
  failure outage_failure() const;
  void expire_waiting(clock_type::time_point now);

  void start_connect(connection& conn, clock_type::time_point now);
  void finish_connect(connection& conn, clock_type::time_point now);
  void send_handshake(connection& conn, clock_type::time_point now);
  void become_ready(connection& conn, clock_type::time_point now);
  void fail_connection(connection& conn, failure reason,
                       clock_type::time_point now);
  milliseconds backoff(uint32_t failures);
  void check_timers(connection& conn, clock_type::time_point now);
  void handle_io(connection& conn, short revents, clock_type::time_point now);
  bool read_replies(connection& conn, clock_type::time_point now);
  bool parse_input(connection& conn, clock_type::time_point now);
  scan_status handle_fast(connection& conn, const char* data, size_t& pos);
  bool handle_with_hiredis(connection& conn, const char* data, size_t size,
                           clock_type::time_point now);
  bool handle_reply(connection& conn, const redisReply& reply,
                    clock_type::time_point now);
  bool handle_push(connection& conn, const redisReply& reply,
                   clock_type::time_point now, bool& consumed);
  bool handle_expected(connection& conn, const redisReply& reply,
                       clock_type::time_point now);
  void write_output(connection& conn, clock_type::time_point now);

  void add_event(event ev, size_t bytes_left = 0);
  void add_publish_result(publish_result result, size_t bytes_left = 0);
};

void io_thread::engine::run() {
  auto now = clock_type::now();
  start_connect(pub, now);
  start_connect(sub, now);
  write_output(pub, now);
  write_output(sub, now);
  while (!stopping.load()) {
    deliver_reports();
    std::array<pollfd, 3> fds{};
    fds[0] = pollfd{wake_fd, POLLIN, 0};
    nfds_t count = 1;
    std::array<connection*, 3> owners{nullptr, nullptr, nullptr};
    for (auto* conn : {&pub, &sub}) {
      if (conn->fd() < 0) {
        continue;
      }
      short events = 0;
      if (conn->state == link_state::connecting) {
        events = POLLOUT;
      } else {
        events = POLLIN;
        std::lock_guard<std::mutex> guard{conn->out_mtx};
        if (conn->has_output()) {
          events |= POLLOUT;
        }
      }
      owners[count] = conn;
      fds[count++] = pollfd{conn->fd(), events, 0};
    }
    int timeout = 0;
    {
      // The replies due and the deadline are updated in one step, so a
      // command queued afterwards is compared with this deadline.
      std::lock_guard<std::mutex> guard{pub.out_mtx};
      pub.take_sent();
      auto before = clock_type::now();
      timeout = poll_timeout(before);
      pub.poll_until = timeout < 0 ? clock_type::time_point::max()
                                   : before + milliseconds{timeout};
    }
    auto rc = ::poll(fds.data(), count, timeout);
    if (rc < 0 && errno != EINTR) {
      log->error("poll failed, I/O thread stops: server = {}, error = {}",
                 cfg.server, std::strerror(errno));
      break;
    }
    now = clock_type::now();
    if (rc > 0 && (fds[0].revents & POLLIN) != 0) {
      size_t publishes = 0;
      for (auto& cmd : take_commands()) {
        publishes += std::holds_alternative<publish_command>(cmd) ? 1 : 0;
        std::visit([&](auto& x) { handle(x, now); }, cmd);
      }
      if (publishes > 0) {
        std::lock_guard<std::mutex> guard{pub.out_mtx};
        pub.posted_publishes -= std::min(publishes, pub.posted_publishes);
      }
    }
    for (nfds_t i = 1; i < count; ++i) {
      // handle_io on one connection never replaces the socket of the other.
      if (rc > 0 && fds[i].revents != 0 && owners[i]->fd() == fds[i].fd) {
        handle_io(*owners[i], fds[i].revents, now);
      }
    }
    check_timers(pub, now);
    check_timers(sub, now);
    expire_waiting(now);
    write_output(pub, now);
    write_output(sub, now);
    if (appended_publish) {
      appended_publish = false;
      counters.publish_batches.fetch_add(1, std::memory_order_relaxed);
    }
  }
  pub.ctx.reset();
  sub.ctx.reset();
}

void io_thread::engine::deliver_reports() {
  if (reports.empty()) {
    return;
  }
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> guard{mtx};
    was_empty = outbox.empty();
    if (was_empty) {
      outbox.swap(reports);
    } else {
      outbox.insert(outbox.end(), std::make_move_iterator(reports.begin()),
                    std::make_move_iterator(reports.end()));
    }
  }
  reports.clear();
  if (was_empty) {
    // If this drops the last reference to the actor, its state (and with
    // it io_thread) is destroyed right here; ~io_thread detaches then.
    if (auto hdl = caf::actor_cast<caf::actor>(owner)) {
      caf::anon_send(hdl, wake_atom::value);
    }
  }
}

std::vector<command> io_thread::engine::take_commands() {
  // Read the eventfd before taking the commands: a post() after the read
  // signals again, so no wake-up is lost.
  uint64_t value = 0;
  auto got = ::read(wake_fd, &value, sizeof(value));
  (void) got;
  std::vector<command> result;
  std::lock_guard<std::mutex> guard{mtx};
  result.swap(inbox);
  return result;
}

int io_thread::engine::poll_timeout(clock_type::time_point now) const {
  auto earliest = clock_type::time_point::max();
  for (const auto* conn : {&pub, &sub}) {
    switch (conn->state) {
      case link_state::waiting:
      case link_state::connecting:
      case link_state::handshaking:
        earliest = std::min(earliest, conn->deadline);
        break;
      case link_state::ready:
        if (!conn->expected.empty()) {
          earliest = std::min(earliest, conn->expected.front().sent
                                          + cfg.command_timeout);
        } else if (cfg.health_check_interval.count() > 0) {
          earliest
            = std::min(earliest, conn->last_read + cfg.health_check_interval);
        }
        break;
    }
  }
  if (pub.state != link_state::ready && pub.attempted && !waiting.empty()) {
    earliest = std::min(earliest, waiting.front().arrival + cfg.publish_wait);
  }
  if (earliest == clock_type::time_point::max()) {
    return -1;
  }
  if (earliest <= now) {
    return 0;
  }
  // Round up, so that the loop does not wake just before a deadline.
  auto wait = std::chrono::ceil<milliseconds>(earliest - now);
  return static_cast<int>(std::min<int64_t>(wait.count(), 60'000));
}

// -- publishing ---------------------------------------------------------------

void io_thread::engine::handle(publish_command& cmd,
                               clock_type::time_point now) {
  if (pub.state == link_state::ready) {
    append_publish(cmd, now);
    return;
  }
  // Until the first connect attempt has finished, a publish waits for it,
  // so that a wrong password shows up as such and not as "not connected".
  if (!pub.attempted || now < cmd.arrival + cfg.publish_wait) {
    waiting.push_back(std::move(cmd));
    return;
  }
  fail_publish(cmd.id, outage_failure());
}

void io_thread::engine::append_publish(publish_command& cmd,
                                       clock_type::time_point now) {
  queue_command(pub, {"PUBLISH", cmd.channel, cmd.message},
                publish_reply(cmd.id, now));
  appended_publish = true;
}

// Appends a command and the reply it expects. Replies due for commands of
// the actor's thread go first, since their commands are in `out` already.
void io_thread::engine::queue_command(
  connection& conn, std::initializer_list<std::string_view> args,
  expected_reply entry) {
  std::lock_guard<std::mutex> guard{conn.out_mtx};
  conn.take_sent();
  append_command(conn.out, args);
  conn.expected.push_back(std::move(entry));
}

void io_thread::engine::fail_publish(uint64_t id, failure reason) {
  counters.publish_failed.fetch_add(1, std::memory_order_relaxed);
  add_publish_result(publish_result{id, 0, std::move(reason)});
}

failure io_thread::engine::outage_failure() const {
  const auto& last = pub.last_failure;
  if (last.code == errc::authentication_failed) {
    return last;
  }
  if (last.code == errc::backend_error) {
    // Redis rejected the connection set-up (SELECT of a missing database,
    // for example), which a retry does not fix.
    return {errc::backend_error,
            "not connected to Redis at " + cfg.server + " (" + last.text
              + "); the message was not published. Check the URL's database "
                "number and the user's rights on the server"};
  }
  return {errc::backend_unavailable,
          "not connected to Redis at " + cfg.server + " (" + last.text
            + "); the message was not published. Retry later, or set the "
              "URL option publish_wait to wait for the reconnect"};
}

void io_thread::engine::expire_waiting(clock_type::time_point now) {
  if (pub.state == link_state::ready || !pub.attempted) {
    return;
  }
  while (!waiting.empty()
         && waiting.front().arrival + cfg.publish_wait <= now) {
    fail_publish(waiting.front().id, outage_failure());
    waiting.pop_front();
  }
}

// -- subscribing --------------------------------------------------------------

void io_thread::engine::handle(subscription_command& cmd,
                               clock_type::time_point now) {
  if (sub.state != link_state::ready || cmd.generation != sub.generation) {
    // The session the command was meant for is gone; the actor sends every
    // live subscription again when the next session is ready.
    log->debug("dropped command for an old session: command = {}, key = {}",
               command_name(cmd.op), cmd.key);
    return;
  }
  expected_reply entry;
  entry.kind = reply_kind::subscription;
  entry.sent = now;
  entry.command = command_name(cmd.op);
  entry.op = cmd.op;
  entry.key = cmd.key;
  queue_command(sub, {command_name(cmd.op), cmd.key}, std::move(entry));
}

// -- connection life cycle ----------------------------------------------------

void io_thread::engine::start_connect(connection& conn,
                                      clock_type::time_point now) {
  // NOTE: redisConnectNonBlock resolves host names with a blocking
  // getaddrinfo() call on this thread. IP addresses and names in /etc/hosts
  // resolve at once; a slow DNS server delays this connection, the other
  // one and the join in ~io_thread.
  redisContext* raw = nullptr;
  if (cfg.unix_socket) {
    raw = redisConnectUnixNonBlock(cfg.socket_path.c_str());
  } else {
    raw = redisConnectNonBlock(cfg.host.c_str(), cfg.port);
  }
  if (raw == nullptr) {
    fail_connection(conn, hiredis_failure(REDIS_ERR_OOM, "", cfg.server, true),
                    now);
    return;
  }
  conn.ctx.reset(raw);
  if (raw->err != 0) {
    auto reason = hiredis_failure(raw->err, raw->errstr, cfg.server, true);
    fail_connection(conn, std::move(reason), now);
    return;
  }
  conn.state = link_state::connecting;
  conn.deadline = now + cfg.connect_timeout;
}

void io_thread::engine::finish_connect(connection& conn,
                                       clock_type::time_point now) {
  int error = 0;
  socklen_t size = sizeof(error);
  if (::getsockopt(conn.fd(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
    error = errno;
  }
  if (error != 0) {
    fail_connection(conn, errno_failure(error, cfg.server, true), now);
    return;
  }
  if (!cfg.unix_socket && redisEnableKeepAlive(conn.ctx.get()) != REDIS_OK) {
    log->debug("cannot enable TCP keep-alive: link = {}, server = {}",
               to_string(conn.role), cfg.server);
  }
  conn.state = link_state::handshaking;
  send_handshake(conn, now);
}

// Queues AUTH, SELECT and PING, whose replies decide whether the connection
// becomes ready.
void io_thread::engine::send_handshake(connection& conn,
                                       clock_type::time_point now) {
  auto add = [&](const char* name,
                 std::initializer_list<std::string_view> args) {
    expected_reply entry;
    entry.kind = reply_kind::handshake;
    entry.sent = now;
    entry.command = name;
    queue_command(conn, args, std::move(entry));
  };
  if (cfg.has_password) {
    // The output buffer now contains the password; it is never logged.
    if (cfg.user.empty()) {
      add("AUTH", {"AUTH", cfg.password});
    } else {
      add("AUTH", {"AUTH", cfg.user, cfg.password});
    }
  }
  if (cfg.db != 0) {
    auto db = std::to_string(cfg.db);
    add("SELECT", {"SELECT", db});
  }
  // PING proves that the server accepts commands. Without a password in
  // the URL, a server that requires one replies to it with NOAUTH.
  add("PING", {"PING"});
  conn.handshake_left = conn.expected.size();
}

void io_thread::engine::become_ready(connection& conn,
                                     clock_type::time_point now) {
  conn.state = link_state::ready;
  conn.last_read = now;
  conn.ready_since = now;
  if (conn.generation == 0) {
    log->info("connected: link = {}, server = {}, failed_attempts = {}",
              to_string(conn.role), cfg.server, conn.failures);
  } else {
    log->info("reconnected: link = {}, server = {}, failed_attempts = {}",
              to_string(conn.role), cfg.server, conn.failures);
  }
  conn.attempted = true;
  conn.failures = 0;
  conn.last_logged_failure.clear();
  ++conn.generation;
  if (conn.role == link_role::subscribe) {
    counters.subscribe_connected.store(1, std::memory_order_relaxed);
    reports.emplace_back(link_up{conn.generation});
    return;
  }
  counters.publish_connected.store(1, std::memory_order_relaxed);
  while (!waiting.empty()) {
    append_publish(waiting.front(), now);
    waiting.pop_front();
  }
  // Publishes that waited for the connection are queued, so the actor's
  // thread may now append and write further ones itself.
  std::lock_guard<std::mutex> guard{conn.out_mtx};
  conn.direct_fd = conn.fd();
}

void io_thread::engine::fail_connection(connection& conn, failure reason,
                                        clock_type::time_point now) {
  bool was_ready = conn.state == link_state::ready;
  {
    // After this block the actor's thread no longer touches the socket, so
    // it can be closed.
    std::lock_guard<std::mutex> guard{conn.out_mtx};
    conn.direct_fd = -1;
    conn.take_sent();
    conn.out.clear();
    conn.out_offset = 0;
  }
  conn.ctx.reset();
  conn.in.clear();
  conn.in_begin = 0;
  conn.in_end = 0;
  conn.handshake_left = 0;
  for (auto& entry : conn.expected) {
    if (entry.kind == reply_kind::publish) {
      fail_publish(entry.id, {errc::backend_unavailable,
                              "connection to Redis at " + cfg.server
                                + " lost before it replied (" + reason.text
                                + "); the message may or may not have been "
                                  "published"});
    }
  }
  conn.expected.clear();
  conn.state = link_state::waiting;
  conn.attempted = true;
  if (was_ready) {
    conn.failures = 0;
    if (now - conn.ready_since < cfg.reconnect_max) {
      ++conn.short_sessions;
    } else {
      conn.short_sessions = 0;
    }
    counters.connection_losses.fetch_add(1, std::memory_order_relaxed);
  } else {
    ++conn.failures;
    counters.failed_connects.fetch_add(1, std::memory_order_relaxed);
  }
  auto delay = backoff(conn.failures + conn.short_sessions);
  if (conn.role == link_role::subscribe) {
    counters.subscribe_retry_ms.store(static_cast<uint64_t>(delay.count()),
                                      std::memory_order_relaxed);
  } else {
    counters.publish_retry_ms.store(static_cast<uint64_t>(delay.count()),
                                    std::memory_order_relaxed);
  }
  conn.deadline = now + delay;
  if (was_ready) {
    log->warn("connection lost: link = {}, server = {}, error = {}, "
              "retry_in = {}ms",
              to_string(conn.role), cfg.server, reason.text, delay.count());
  } else if (conn.failures == 1 || reason.text != conn.last_logged_failure
             || conn.failures % 50 == 0) {
    // Repeats of the same error are logged once per 50 attempts.
    log->warn("connect failed: link = {}, server = {}, error = {}, "
              "attempts = {}, retry_in = {}ms",
              to_string(conn.role), cfg.server, reason.text, conn.failures,
              delay.count());
    conn.last_logged_failure = reason.text;
  } else {
    log->debug("connect failed: link = {}, server = {}, error = {}, "
               "attempts = {}, retry_in = {}ms",
               to_string(conn.role), cfg.server, reason.text, conn.failures,
               delay.count());
  }
  conn.last_failure = reason;
  if (conn.role == link_role::subscribe) {
    counters.subscribe_connected.store(0, std::memory_order_relaxed);
    reports.emplace_back(
      link_down{conn.generation, was_ready, std::move(reason)});
    return;
  }
  counters.publish_connected.store(0, std::memory_order_relaxed);
  expire_waiting(now);
}

// Returns the wait before the next connect attempt: a random time between
// half of and all of min(reconnect_min * 2^failures, reconnect_max), but at
// least reconnect_min.
milliseconds io_thread::engine::backoff(uint32_t failures) {
  auto base = cfg.reconnect_min;
  for (uint32_t i = 0; i < failures && base < cfg.reconnect_max; ++i) {
    base *= 2;
  }
  base = std::min(base, cfg.reconnect_max);
  std::uniform_int_distribution<int64_t> pick{base.count() / 2, base.count()};
  return std::max(milliseconds{pick(rng)}, cfg.reconnect_min);
}

void io_thread::engine::check_timers(connection& conn,
                                     clock_type::time_point now) {
  switch (conn.state) {
    case link_state::waiting:
      if (now >= conn.deadline) {
        start_connect(conn, now);
      }
      return;
    case link_state::connecting:
    case link_state::handshaking:
      if (now >= conn.deadline) {
        fail_connection(conn,
                        {errc::backend_unavailable,
                         "connecting to " + cfg.server + " timed out after "
                           + std::to_string(cfg.connect_timeout.count())
                           + "ms (URL option connect_timeout)"},
                        now);
      }
      return;
    case link_state::ready:
      break;
  }
  {
    std::lock_guard<std::mutex> guard{conn.out_mtx};
    conn.take_sent();
  }
  if (!conn.expected.empty()) {
    if (now >= conn.expected.front().sent + cfg.command_timeout) {
      fail_connection(conn,
                      {errc::backend_unavailable,
                       std::string{"no reply to "}
                         + conn.expected.front().command + " from " + cfg.server
                         + " within "
                         + std::to_string(cfg.command_timeout.count())
                         + "ms (URL option command_timeout); the connection is "
                           "treated as broken"},
                      now);
    }
    return;
  }
  if (cfg.health_check_interval.count() > 0
      && now >= conn.last_read + cfg.health_check_interval) {
    expected_reply entry;
    entry.kind = reply_kind::ping;
    entry.sent = now;
    entry.command = "PING";
    queue_command(conn, {"PING"}, std::move(entry));
  }
}

// -- socket I/O ---------------------------------------------------------------

void io_thread::engine::handle_io(connection& conn, short revents,
                                  clock_type::time_point now) {
  if (conn.state == link_state::connecting) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      finish_connect(conn, now);
    }
    return;
  }
  if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
    if (!read_replies(conn, now)) {
      return;
    }
  }
  if ((revents & POLLOUT) != 0) {
    write_output(conn, now);
  }
}

// Reads what the socket has and handles every complete reply. Returns false
// if the connection failed meanwhile.
bool io_thread::engine::read_replies(connection& conn,
                                     clock_type::time_point now) {
  auto& in = conn.in;
  for (int round = 0; round < max_reads_per_wakeup; ++round) {
    if (conn.in_begin == conn.in_end) {
      conn.in_begin = 0;
      conn.in_end = 0;
    }
    if (in.size() - conn.in_end < read_chunk) {
      // Only the start of an incomplete reply moves here, once per read.
      if (conn.in_begin > 0) {
        std::memmove(in.data(), in.data() + conn.in_begin,
                     conn.in_end - conn.in_begin);
        conn.in_end -= conn.in_begin;
        conn.in_begin = 0;
      }
      if (in.size() - conn.in_end < read_chunk) {
        in.resize(std::max(in.size() * 2, conn.in_end + read_chunk));
      }
    }
    auto room = in.size() - conn.in_end;
    auto n = ::recv(conn.fd(), in.data() + conn.in_end, room, 0);
    if (n == 0) {
      fail_connection(
        conn, hiredis_failure(REDIS_ERR_EOF, "", cfg.server, false), now);
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      fail_connection(conn, errno_failure(errno, cfg.server, false), now);
      return false;
    }
    conn.last_read = now;
    conn.in_end += static_cast<size_t>(n);
    {
      // Each reply read so far belongs to a command whose reply entry was
      // queued before the command was written.
      std::lock_guard<std::mutex> guard{conn.out_mtx};
      conn.take_sent();
    }
    if (!parse_input(conn, now)) {
      return false;
    }
    if (static_cast<size_t>(n) < room) {
      // A short read means the socket is drained for now.
      break;
    }
  }
  if (conn.in_begin == conn.in_end && in.size() > 4 * read_chunk) {
    // Give back the memory a large message needed.
    std::vector<char>{}.swap(in);
    conn.in_begin = 0;
    conn.in_end = 0;
  }
  return true;
}

// Handles every complete reply in the input buffer. Returns false if the
// connection failed meanwhile.
bool io_thread::engine::parse_input(connection& conn,
                                    clock_type::time_point now) {
  const char* data = conn.in.data();
  while (conn.in_begin < conn.in_end) {
    auto begin = conn.in_begin;
    auto end = begin;
    auto rc = handle_fast(conn, data, end);
    if (rc == scan_status::partial) {
      return true;
    }
    if (rc == scan_status::complete) {
      conn.in_begin = end;
      continue;
    }
    // Not a reply the fast path handles: hiredis's reader parses it, or
    // reports the error if the input is invalid.
    end = begin;
    rc = skip_reply(data, conn.in_end, end);
    if (rc == scan_status::partial) {
      return true;
    }
    if (rc == scan_status::invalid) {
      end = conn.in_end;
    }
    conn.in_begin = end;
    if (!handle_with_hiredis(conn, data + begin, end - begin, now)) {
      return false;
    }
  }
  return true;
}

// Handles the reply at `pos` if it is a PUBLISH reply or a message on the
// subscribe connection, and moves `pos` past it. Returns partial if the
// reply is incomplete and invalid if it is another reply, which then stays
// in the buffer.
scan_status io_thread::engine::handle_fast(connection& conn, const char* data,
                                           size_t& pos) {
  auto size = conn.in_end;
  auto at = pos;
  if (data[at] == ':') {
    if (conn.expected.empty()
        || conn.expected.front().kind != reply_kind::publish) {
      return scan_status::invalid;
    }
    int64_t receivers = 0;
    if (auto rc = scan_number(data, size, at, receivers);
        rc != scan_status::complete) {
      return rc;
    }
    auto id = conn.expected.front().id;
    conn.expected.pop_front();
    counters.published.fetch_add(1, std::memory_order_relaxed);
    add_publish_result(publish_result{id, receivers, {}}, size - at);
    pos = at;
    return scan_status::complete;
  }
  if (data[at] != '*' || conn.role != link_role::subscribe) {
    return scan_status::invalid;
  }
  int64_t count = 0;
  if (auto rc = scan_number(data, size, at, count);
      rc != scan_status::complete) {
    return rc;
  }
  if (count != 3 && count != 4) {
    return scan_status::invalid;
  }
  std::string_view kind;
  if (auto rc = read_bulk(data, size, at, kind); rc != scan_status::complete) {
    return rc;
  }
  if (count == 3 ? kind != "message" : kind != "pmessage") {
    return scan_status::invalid;
  }
  std::array<std::string_view, 3> parts;
  for (int64_t i = 0; i + 1 < count; ++i) {
    if (auto rc = read_bulk(data, size, at, parts[static_cast<size_t>(i)]);
        rc != scan_status::complete) {
      return rc;
    }
  }
  event ev;
  if (count == 3) {
    ev.channel.assign(parts[0]);
    ev.message.assign(parts[1]);
  } else {
    ev.pattern.assign(parts[0]);
    ev.channel.assign(parts[1]);
    ev.message.assign(parts[2]);
  }
  add_event(std::move(ev), size - at);
  pos = at;
  return scan_status::complete;
}

// Parses one reply, or invalid input, with hiredis's reader and handles it.
// Returns false if the connection failed.
bool io_thread::engine::handle_with_hiredis(connection& conn, const char* data,
                                            size_t size,
                                            clock_type::time_point now) {
  auto* reader = conn.ctx->reader;
  if (redisReaderFeed(reader, data, size) != REDIS_OK) {
    fail_connection(
      conn, hiredis_failure(reader->err, reader->errstr, cfg.server, false),
      now);
    return false;
  }
  void* raw = nullptr;
  if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
    fail_connection(
      conn, hiredis_failure(reader->err, reader->errstr, cfg.server, false),
      now);
    return false;
  }
  if (raw == nullptr) {
    fail_connection(conn,
                    hiredis_failure(REDIS_ERR_PROTOCOL,
                                    "reply that cannot be parsed", cfg.server,
                                    false),
                    now);
    return false;
  }
  reply_ptr reply{static_cast<redisReply*>(raw)};
  return handle_reply(conn, *reply, now);
}

bool io_thread::engine::handle_reply(connection& conn, const redisReply& reply,
                                     clock_type::time_point now) {
  if (conn.role == link_role::subscribe && reply.type == REDIS_REPLY_ARRAY) {
    bool consumed = false;
    if (!handle_push(conn, reply, now, consumed)) {
      return false;
    }
    if (consumed) {
      return true;
    }
  }
  return handle_expected(conn, reply, now);
}

// Handles the arrays Redis sends on a subscribed connection: messages, and
// the confirmations of subscription commands. Sets `consumed` unless the
// reply is something else. Returns false if the connection failed.
bool io_thread::engine::handle_push(connection& conn, const redisReply& reply,
                                    clock_type::time_point now,
                                    bool& consumed) {
  consumed = false;
  if (reply.elements == 0 || !is_string(reply.element[0])) {
    return true;
  }
  auto kind = as_view(*reply.element[0]);
  if (kind == "message" && reply.elements == 3 && is_string(reply.element[1])
      && is_string(reply.element[2])) {
    consumed = true;
    event ev;
    ev.channel.assign(as_view(*reply.element[1]));
    ev.message.assign(as_view(*reply.element[2]));
    add_event(std::move(ev));
    return true;
  }
  if (kind == "pmessage" && reply.elements == 4 && is_string(reply.element[1])
      && is_string(reply.element[2]) && is_string(reply.element[3])) {
    consumed = true;
    event ev;
    ev.pattern.assign(as_view(*reply.element[1]));
    ev.channel.assign(as_view(*reply.element[2]));
    ev.message.assign(as_view(*reply.element[3]));
    add_event(std::move(ev));
    return true;
  }
  if (kind == "pong") {
    // PING on a subscribed connection; the generic path checks the order.
    return true;
  }
  if (conn.expected.empty()
      || conn.expected.front().kind != reply_kind::subscription) {
    return true;
  }
  consumed = true;
  auto& front = conn.expected.front();
  if (kind != reply_name(front.op) || reply.elements != 3
      || !is_string(reply.element[1])
      || as_view(*reply.element[1]) != front.key) {
    fail_connection(conn,
                    hiredis_failure(REDIS_ERR_PROTOCOL,
                                    std::string{"unexpected reply to "}
                                      + front.command + " \"" + front.key
                                      + "\"",
                                    cfg.server, false),
                    now);
    return false;
  }
  reports.emplace_back(confirmation{conn.generation, front.op,
                                    std::move(front.key), std::nullopt});
  conn.expected.pop_front();
  return true;
}

// Matches a reply with the oldest command that awaits one. Returns false if
// the connection failed.
bool io_thread::engine::handle_expected(connection& conn,
                                        const redisReply& reply,
                                        clock_type::time_point now) {
  if (conn.expected.empty()) {
    fail_connection(conn,
                    hiredis_failure(REDIS_ERR_PROTOCOL,
                                    "reply without a pending command",
                                    cfg.server, false),
                    now);
    return false;
  }
  auto entry = std::move(conn.expected.front());
  conn.expected.pop_front();
  bool is_error = reply.type == REDIS_REPLY_ERROR;
  switch (entry.kind) {
    case reply_kind::handshake:
      if (is_error) {
        fail_connection(conn, reply_failure(entry.command, as_view(reply), cfg),
                        now);
        return false;
      }
      if (--conn.handshake_left == 0) {
        become_ready(conn, now);
      }
      return true;
    case reply_kind::ping:
      if (is_error) {
        fail_connection(conn, reply_failure("PING", as_view(reply), cfg), now);
        return false;
      }
      return true;
    case reply_kind::publish:
      if (reply.type == REDIS_REPLY_INTEGER) {
        counters.published.fetch_add(1, std::memory_order_relaxed);
        add_publish_result(publish_result{entry.id, reply.integer, {}});
        return true;
      }
      if (is_error) {
        fail_publish(entry.id, reply_failure("PUBLISH", as_view(reply), cfg));
        return true;
      }
      // fail_connection() below fails only the publishes still in the queue.
      fail_publish(entry.id, hiredis_failure(REDIS_ERR_PROTOCOL,
                                             "unexpected reply type to PUBLISH",
                                             cfg.server, false));
      break;
    case reply_kind::subscription:
      if (is_error) {
        reports.emplace_back(
          confirmation{conn.generation, entry.op, std::move(entry.key),
                       reply_failure(entry.command, as_view(reply), cfg)});
        return true;
      }
      break;
  }
  fail_connection(
    conn,
    hiredis_failure(REDIS_ERR_PROTOCOL,
                    std::string{"unexpected reply type to "} + entry.command,
                    cfg.server, false),
    now);
  return false;
}

void io_thread::engine::write_output(connection& conn,
                                     clock_type::time_point now) {
  if (conn.fd() < 0 || conn.state == link_state::connecting) {
    return;
  }
  int error = 0;
  {
    std::lock_guard<std::mutex> guard{conn.out_mtx};
    error = drain_output(conn, conn.fd());
  }
  if (error != 0) {
    fail_connection(
      conn, errno_failure(error, cfg.server, conn.state != link_state::ready),
      now);
  }
}

// `bytes_left` is the unparsed input after the event. A new batch reserves
// room for the events that input may hold, so it seldom grows.
void io_thread::engine::add_event(event ev, size_t bytes_left) {
  counters.received.fetch_add(1, std::memory_order_relaxed);
  if (reports.empty()
      || !std::holds_alternative<std::vector<event>>(reports.back())) {
    // A message takes at least about 32 bytes on the wire.
    std::vector<event> batch;
    batch.reserve(std::min<size_t>(bytes_left / 32 + 1, 512));
    reports.emplace_back(std::move(batch));
  }
  std::get<std::vector<event>>(reports.back()).push_back(std::move(ev));
}

void io_thread::engine::add_publish_result(publish_result result,
                                           size_t bytes_left) {
  if (reports.empty()
      || !std::holds_alternative<std::vector<publish_result>>(reports.back())) {
    // A PUBLISH reply takes at least 4 bytes (":0\r\n").
    std::vector<publish_result> batch;
    batch.reserve(std::min<size_t>(bytes_left / 4 + 1, 512));
    reports.emplace_back(std::move(batch));
  }
  std::get<std::vector<publish_result>>(reports.back())
    .push_back(std::move(result));
}

// -- io_thread ----------------------------------------------------------------

io_thread::io_thread(settings config, caf::actor_addr owner)
  : engine_(std::make_shared<engine>(std::move(config), std::move(owner))) {
  auto self = engine_;
  engine_->thread = std::thread{[self] { self->run(); }};
  pthread_setname_np(engine_->thread.native_handle(), "bc-redis-io");
}

io_thread::~io_thread() {
  engine_->stopping.store(true);
  engine_->signal();
  auto& thread = engine_->thread;
  if (!thread.joinable()) {
    return;
  }
  if (thread.get_id() == std::this_thread::get_id()) {
    // The engine stays alive through the thread's own reference.
    thread.detach();
  } else {
    thread.join();
  }
}

void io_thread::post(std::vector<command> commands) {
  if (commands.empty()) {
    return;
  }
  auto publishes = std::count_if(commands.begin(), commands.end(),
                                 [](const command& x) {
                                   return std::holds_alternative<
                                     publish_command>(x);
                                 });
  if (publishes > 0) {
    std::lock_guard<std::mutex> guard{engine_->pub.out_mtx};
    engine_->pub.posted_publishes += static_cast<size_t>(publishes);
  }
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> guard{engine_->mtx};
    auto& inbox = engine_->inbox;
    was_empty = inbox.empty();
    if (was_empty) {
      inbox.swap(commands);
    } else {
      inbox.insert(inbox.end(), std::make_move_iterator(commands.begin()),
                   std::make_move_iterator(commands.end()));
    }
  }
  if (was_empty) {
    engine_->signal();
  }
}

void io_thread::post(command cmd) {
  if (std::holds_alternative<publish_command>(cmd)) {
    std::lock_guard<std::mutex> guard{engine_->pub.out_mtx};
    ++engine_->pub.posted_publishes;
  }
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> guard{engine_->mtx};
    was_empty = engine_->inbox.empty();
    engine_->inbox.push_back(std::move(cmd));
  }
  if (was_empty) {
    engine_->signal();
  }
}

bool io_thread::queue_publish(const publish_command& cmd) {
  auto& conn = engine_->pub;
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{conn.out_mtx};
    if (conn.direct_fd < 0 || conn.posted_publishes > 0) {
      return false;
    }
    // If the I/O thread sleeps past this command's timeout, it must
    // recompute its deadline. One wake-up covers a whole burst, because
    // the thread takes `sent` before every poll().
    wake = conn.sent.empty()
           && conn.poll_until > cmd.arrival + engine_->cfg.command_timeout;
    append_command(conn.out, {"PUBLISH", cmd.channel, cmd.message});
    conn.sent.push_back(publish_reply(cmd.id, cmd.arrival));
  }
  if (wake) {
    engine_->signal();
  }
  return true;
}

void io_thread::flush() {
  auto& conn = engine_->pub;
  bool left = false;
  {
    std::lock_guard<std::mutex> guard{conn.out_mtx};
    if (conn.direct_fd < 0 || !conn.has_output()) {
      return;
    }
    // A failed send leaves the bytes in place. The I/O thread gets the
    // same error from the socket and fails the connection.
    drain_output(conn, conn.direct_fd);
    left = conn.has_output();
  }
  engine_->counters.publish_batches.fetch_add(1, std::memory_order_relaxed);
  if (left) {
    // The socket is full: the I/O thread writes the rest when it drains.
    engine_->signal();
  }
}

std::vector<report> io_thread::take_reports() {
  std::vector<report> result;
  std::lock_guard<std::mutex> guard{engine_->mtx};
  result.swap(engine_->outbox);
  return result;
}

const io_counters& io_thread::counters() const {
  return engine_->counters;
}

} // namespace broadcaster::redis::detail
