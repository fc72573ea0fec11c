#include "broadcaster/caf_node.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/log.hpp"
#include "forwarder.hpp"

namespace broadcaster {

namespace {

using detail::bc_forwarded_atom;
using std::chrono::milliseconds;

/// Starts a connection attempt unless the generation has moved on.
using bc_connect_atom = caf::atom_constant<caf::atom("bcnodeconn")>;

/// Subscribes a key at the remote node again after a failed resubscribe.
using bc_resubscribe_atom = caf::atom_constant<caf::atom("bcnoderesu")>;

struct node_settings {
  std::string host;
  uint16_t port = 0;
  milliseconds connect_timeout{5000};
  milliseconds request_timeout{10000};
  milliseconds reconnect_min{100};
  milliseconds reconnect_max{5000};
  /// `caf://host:port`, for logs and error messages.
  std::string name;
};

enum class link_status {
  /// The first connection attempt is under way; requests wait for it.
  connecting,
  connected,
  /// Lost or never reached; requests fail at once while reconnecting.
  disconnected,
};

using channel_key = std::pair<bool, std::string>; // (pattern, name)

// A forwarder subscribed at the remote node.
struct remote_subscription {
  channel_key key;
  caf::actor handle;
  // True for the forwarder that carries the live events of `key`. False for
  // one that exists only to fetch the stored events of one history request
  // and exits after they arrived.
  bool live = true;
  sink_actor replay_sink;
  uint64_t token = 0;
};

// Local sinks of one channel or pattern.
struct key_entry {
  std::vector<sink_actor> sinks;
  // Tag of the live forwarder, or 0 while there is none.
  uint64_t live_tag = 0;
  // True once the remote node confirmed the live forwarder.
  bool active = false;
  // True from the backend_lost status sent to the sinks until the
  // backend_back status.
  bool lost = false;
};

// A subscribe request of a sink that waits for the remote node.
struct pending_subscribe {
  channel_key key;
  caf::typed_response_promise<bc_ok_atom> promise;
  // True until the history forwarder of this request is confirmed.
  bool awaiting_history = false;
};

// A request held back until the first connection attempt has finished.
struct deferred_request {
  std::function<void()> run;
  std::function<void(const caf::error&)> fail;
};

struct node_state {
  node_settings settings;
  link_status link = link_status::connecting;
  // NOTE: if the middleman still returns a proxy of a lost connection from
  // its cache, monitoring that proxy reports the loss again at once and
  // the next attempt follows after the backoff.
  broadcast_actor remote;
  // Increments on every connection loss, so that replies and timers of an
  // older connection are ignored.
  uint64_t generation = 0;
  milliseconds backoff{0};
  uint64_t failed_attempts = 0;
  std::string last_error;
  std::map<channel_key, key_entry> keys;
  std::unordered_map<uint64_t, remote_subscription> forwarders;
  uint64_t next_tag = 1;
  std::unordered_map<uint64_t, pending_subscribe> subscribes;
  uint64_t next_subscribe = 1;
  // Requests sent to the remote node that have no reply yet. A request to
  // a node that died fails only at its timeout, so a connection loss fails
  // them through these callbacks right away.
  std::unordered_map<uint64_t, std::function<void(const caf::error&)>>
    inflight;
  uint64_t next_request = 1;
  std::vector<deferred_request> deferred;
  std::minstd_rand rng{std::random_device{}()};
  uint64_t published = 0;
  uint64_t publish_unavailable = 0;
  uint64_t events_received = 0;
  uint64_t batches_received = 0;
  uint64_t connects = 0;
  uint64_t connection_losses = 0;
  std::shared_ptr<spdlog::logger> log = logger("caf_node");

  static inline const char* name = "broadcaster.caf_node";
};

using node_actor = backend_actor::extend<
  caf::reacts_to<bc_forwarded_atom, uint64_t, caf::message>,
  caf::reacts_to<bc_connect_atom, uint64_t>,
  caf::reacts_to<bc_resubscribe_atom, uint64_t, bool, std::string>>;

using node_pointer = node_actor::stateful_pointer<node_state>;

std::string node_name(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) {
    return "caf://[" + host + "]:" + std::to_string(port);
  }
  return "caf://" + host + ":" + std::to_string(port);
}

bool is_sec(const caf::error& err, caf::sec code) {
  return err.category() == caf::atom("system")
         && err.code() == static_cast<uint8_t>(code);
}

// Checks the reply of the middleman to a connect request.
caf::expected<broadcast_actor>
check_published(caf::actor_system& sys, caf::strong_actor_ptr handle,
                const std::set<std::string>& interface,
                const std::string& host, uint16_t port) {
  if (!handle) {
    return make_error(errc::backend_error,
                      node_name(host, port)
                        + " has no actor published on this port; start "
                          "`broadcaster serve --port "
                        + std::to_string(port) + "` there");
  }
  if (!sys.assignable<broadcast_actor>(interface)) {
    return explain_connect_error(
      caf::make_error(caf::sec::unexpected_actor_messaging_interface), host,
      port);
  }
  return caf::actor_cast<broadcast_actor>(std::move(handle));
}

// Converts an error of a request at the remote node.
caf::error remote_error(node_pointer self, const caf::error& err) {
  auto& st = self->state;
  if (err.category() == error_category) {
    return err;
  }
  if (is_sec(err, caf::sec::request_timeout)) {
    return make_error(errc::timeout,
                      st.settings.name + " did not answer within "
                        + std::to_string(st.settings.request_timeout.count())
                        + "ms (URL option request_timeout)");
  }
  return make_error(errc::backend_error,
                    st.settings.name + " failed the request: "
                      + describe(err));
}

caf::error unavailable(node_pointer self) {
  auto& st = self->state;
  return make_error(errc::backend_unavailable,
                    st.settings.name + " is not connected (last error: "
                      + st.last_error + "); reconnecting in the background, "
                      "next attempt in "
                      + std::to_string(st.backoff.count()) + "ms");
}

void stop_forwarder(node_pointer self, uint64_t tag) {
  auto& st = self->state;
  auto i = st.forwarders.find(tag);
  if (i == st.forwarders.end()) {
    return;
  }
  // The remote channel actor monitors the forwarder and drops it when it
  // exits, so this also ends the subscription at the remote node.
  self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
  st.forwarders.erase(i);
}

// Sends a request to the remote node and delivers its reply to `promise`,
// or an error on timeout or connection loss.
template <class T, class... Ts>
void forward_request(node_pointer self, caf::typed_response_promise<T> promise,
                     Ts&&... xs) {
  auto& st = self->state;
  auto id = st.next_request++;
  st.inflight.emplace(id, [promise](const caf::error& err) mutable {
    promise.deliver(err);
  });
  self->request(st.remote, st.settings.request_timeout, std::forward<Ts>(xs)...)
    .then(
      [self, id, promise](T& reply) mutable {
        if (self->state.inflight.erase(id) > 0) {
          promise.deliver(std::move(reply));
        }
      },
      [self, id, promise](caf::error& err) mutable {
        if (self->state.inflight.erase(id) > 0) {
          promise.deliver(remote_error(self, err));
        }
      });
}

void complete_subscribes(node_pointer self, const channel_key& key) {
  auto& st = self->state;
  for (auto i = st.subscribes.begin(); i != st.subscribes.end();) {
    if (i->second.key == key && !i->second.awaiting_history) {
      i->second.promise.deliver(bc_ok_atom::value);
      i = st.subscribes.erase(i);
    } else {
      ++i;
    }
  }
}

void fail_subscribes(node_pointer self, const channel_key& key,
                     const caf::error& err) {
  auto& st = self->state;
  for (auto i = st.subscribes.begin(); i != st.subscribes.end();) {
    if (i->second.key == key) {
      i->second.promise.deliver(err);
      i = st.subscribes.erase(i);
    } else {
      ++i;
    }
  }
}

void stop_history_forwarders(node_pointer self, const channel_key& key) {
  auto& st = self->state;
  std::vector<uint64_t> tags;
  for (auto& entry : st.forwarders) {
    if (!entry.second.live && entry.second.key == key) {
      tags.push_back(entry.first);
    }
  }
  for (auto tag : tags) {
    stop_forwarder(self, tag);
  }
}

subscribe_options forwarder_options(bool pattern, uint64_t history) {
  subscribe_options opts;
  opts.pattern = pattern;
  opts.history = history;
  // The remote channel actor never queues events for a forwarder, so it
  // sends every batch in the order of its backend. The order of the
  // stored events relative to the live ones, which the history seam relies
  // on, depends on that. Flow control happens at the local channel actors,
  // and the forwarder acknowledges every batch as soon as it arrives.
  opts.max_in_flight = std::numeric_limits<uint32_t>::max();
  return opts;
}

void send_status(node_pointer self, key_entry& entry, const channel_key& key,
                 status_kind kind, const std::string& reason) {
  for (auto& sink : entry.sinks) {
    self->send(sink, status_event{kind, key.second, true, reason});
  }
}

void subscribe_live(node_pointer self, const channel_key& key);

void live_confirmed(node_pointer self, const channel_key& key, uint64_t tag) {
  auto& st = self->state;
  auto i = st.keys.find(key);
  if (i == st.keys.end() || i->second.live_tag != tag) {
    return;
  }
  auto& entry = i->second;
  entry.active = true;
  st.log->info("subscribed at node: node = {}, channel = {}, pattern = {}",
               st.settings.name, key.second, key.first);
  complete_subscribes(self, key);
  if (entry.lost) {
    entry.lost = false;
    send_status(self, entry, key, status_kind::backend_back,
                "reconnected to " + st.settings.name
                  + "; events published while it was unreachable are lost");
  }
}

void live_failed(node_pointer self, const channel_key& key, uint64_t tag,
                 const caf::error& err) {
  auto& st = self->state;
  stop_forwarder(self, tag);
  auto i = st.keys.find(key);
  if (i == st.keys.end() || i->second.live_tag != tag) {
    return;
  }
  auto& entry = i->second;
  entry.live_tag = 0;
  st.log->warn("subscribe at node failed: node = {}, channel = {}, "
               "error = {}",
               st.settings.name, key.second, describe(err));
  fail_subscribes(self, key, err);
  stop_history_forwarders(self, key);
  if (entry.lost && !entry.sinks.empty()) {
    // Sinks that were subscribed before the connection loss keep waiting
    // for backend_back, so the subscribe is retried later.
    self->delayed_send(self, st.settings.reconnect_max,
                       bc_resubscribe_atom::value, st.generation, key.first,
                       key.second);
    return;
  }
  st.keys.erase(i);
}

void subscribe_live(node_pointer self, const channel_key& key) {
  auto& st = self->state;
  auto tag = st.next_tag++;
  auto handle = detail::spawn_forwarder(
    self->system(), caf::actor_cast<caf::strong_actor_ptr>(self), tag);
  st.forwarders.emplace(tag, remote_subscription{key, handle, true, {}, 0});
  auto& entry = st.keys[key];
  entry.live_tag = tag;
  entry.active = false;
  auto generation = st.generation;
  self
    ->request(st.remote, st.settings.request_timeout,
              bc_subscribe_atom::value, key.second, handle,
              forwarder_options(key.first, 0))
    .then(
      [self, key, tag](subscription&) { live_confirmed(self, key, tag); },
      [self, key, tag, generation](caf::error& err) {
        if (generation == self->state.generation) {
          live_failed(self, key, tag, remote_error(self, err));
        }
      });
}

// Subscribes a second forwarder with `history` at the remote node. Its
// first batch is the stored events, which the remote channel actor sends
// in order with the live events of the live forwarder of the same key.
// Both forwarders pass their messages into this actor's mailbox in that
// order.
void subscribe_history(node_pointer self, const channel_key& key,
                       const sink_actor& sink, uint64_t history,
                       uint64_t token, uint64_t request) {
  auto& st = self->state;
  auto tag = st.next_tag++;
  auto handle = detail::spawn_forwarder(
    self->system(), caf::actor_cast<caf::strong_actor_ptr>(self), tag);
  st.forwarders.emplace(tag,
                        remote_subscription{key, handle, false, sink, token});
  auto generation = st.generation;
  self
    ->request(st.remote, st.settings.request_timeout,
              bc_subscribe_atom::value, key.second, handle,
              forwarder_options(key.first, history))
    .then(
      [self, key, request](subscription&) {
        auto& st = self->state;
        auto i = st.subscribes.find(request);
        if (i == st.subscribes.end()) {
          return;
        }
        i->second.awaiting_history = false;
        auto k = st.keys.find(key);
        if (k != st.keys.end() && k->second.active) {
          i->second.promise.deliver(bc_ok_atom::value);
          st.subscribes.erase(i);
        }
      },
      [self, tag, request, generation](caf::error& err) {
        auto& st = self->state;
        if (generation != st.generation) {
          return;
        }
        stop_forwarder(self, tag);
        auto i = st.subscribes.find(request);
        if (i != st.subscribes.end()) {
          i->second.promise.deliver(remote_error(self, err));
          st.subscribes.erase(i);
        }
      });
}

void subscribe(node_pointer self, std::string key, bool pattern,
               sink_actor sink, uint64_t history, uint64_t token,
               caf::typed_response_promise<bc_ok_atom> promise) {
  auto& st = self->state;
  channel_key k{pattern, std::move(key)};
  auto& entry = st.keys[k];
  if (std::find(entry.sinks.begin(), entry.sinks.end(), sink)
      == entry.sinks.end()) {
    entry.sinks.push_back(sink);
  }
  if (entry.live_tag == 0) {
    subscribe_live(self, k);
  }
  if (st.keys[k].active && history == 0) {
    promise.deliver(bc_ok_atom::value);
    return;
  }
  auto id = st.next_subscribe++;
  st.subscribes.emplace(id, pending_subscribe{k, promise, history > 0});
  if (history > 0) {
    subscribe_history(self, k, sink, history, token, id);
  }
}

void unsubscribe(node_pointer self, const channel_key& key,
                 const sink_actor& sink) {
  auto& st = self->state;
  auto i = st.keys.find(key);
  if (i == st.keys.end()) {
    return;
  }
  auto& sinks = i->second.sinks;
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  if (!sinks.empty()) {
    return;
  }
  if (i->second.live_tag != 0) {
    stop_forwarder(self, i->second.live_tag);
  }
  stop_history_forwarders(self, key);
  fail_subscribes(self, key,
                  make_error(errc::subscription_not_found,
                             "the subscription to \"" + key.second
                               + "\" ended while it was being set up"));
  st.keys.erase(i);
  st.log->info("unsubscribed at node: node = {}, channel = {}, pattern = {}",
               st.settings.name, key.second, key.first);
}

// Passes a message that reached one of the forwarders.
void handle_forwarded(node_pointer self, uint64_t tag, caf::message& msg) {
  auto& st = self->state;
  auto i = st.forwarders.find(tag);
  if (i == st.forwarders.end()) {
    // A forwarder that was stopped or belonged to a lost connection.
    return;
  }
  auto& fw = i->second;
  if (msg.match_elements<event_batch>()) {
    auto& events = msg.get_mutable_as<event_batch>(0).events;
    ++st.batches_received;
    st.events_received += events.size();
    if (!fw.live) {
      // The first batch of a history forwarder is its stored events, also
      // when there are none: channel actors send the replay even if empty.
      self->send(fw.replay_sink, bc_replay_atom::value, fw.token,
                 std::move(events));
      stop_forwarder(self, tag);
      return;
    }
    auto channel = caf::actor_cast<caf::actor>(self->current_sender());
    if (channel) {
      caf::send_as(fw.handle, channel, bc_ack_atom::value,
                   static_cast<uint64_t>(events.size()));
    }
    auto k = st.keys.find(fw.key);
    if (k == st.keys.end() || k->second.sinks.empty() || events.empty()) {
      return;
    }
    auto& sinks = k->second.sinks;
    for (size_t n = 0; n + 1 < sinks.size(); ++n) {
      self->send(sinks[n], bc_events_atom::value, events);
    }
    self->send(sinks.back(), bc_events_atom::value, std::move(events));
    return;
  }
  if (msg.match_elements<status_event>()) {
    auto& status = msg.get_mutable_as<status_event>(0);
    if (status.kind != status_kind::closed) {
      // The node's own backend lost its server or got it back. Local
      // subscribers must learn that events may be missing, as they would
      // on that backend directly.
      auto k = st.keys.find(fw.key);
      if (fw.live && k != st.keys.end() && k->second.live_tag == tag) {
        st.log->info("node reported backend status: node = {}, "
                     "channel = {}, status = {}",
                     st.settings.name, fw.key.second,
                     to_string(status.kind));
        send_status(self, k->second, k->first, status.kind,
                    "at " + st.settings.name + ": " + status.reason);
      }
      return;
    }
    // The remote node ended the subscription, for example because its
    // supervisor is shutting down.
    st.log->warn("node closed subscription: node = {}, channel = {}, "
                 "reason = {}",
                 st.settings.name, fw.key.second, status.reason);
    if (!fw.live) {
      stop_forwarder(self, tag);
      return;
    }
    auto k = st.keys.find(fw.key);
    stop_forwarder(self, tag);
    if (k != st.keys.end() && k->second.live_tag == tag) {
      k->second.live_tag = 0;
      k->second.active = false;
      if (!k->second.lost) {
        k->second.lost = true;
        send_status(self, k->second, k->first, status_kind::backend_lost,
                    st.settings.name + " closed the subscription: "
                      + status.reason);
      }
      self->delayed_send(self, st.settings.reconnect_min,
                         bc_resubscribe_atom::value, st.generation,
                         k->first.first, k->first.second);
    }
    return;
  }
  if (msg.match_elements<events_skipped>()) {
    // Cannot happen with the window of forwarder_options(). The sink
    // interface has no message for it, so a remote drop is only logged.
    auto& skipped = msg.get_as<events_skipped>(0);
    st.log->warn("node skipped events: node = {}, channel = {}, count = {}",
                 st.settings.name, skipped.channel, skipped.count);
  }
}

void schedule_reconnect(node_pointer self) {
  auto& st = self->state;
  auto next = st.backoff.count() == 0 ? st.settings.reconnect_min
                                      : st.backoff * 2;
  st.backoff = std::min(next, st.settings.reconnect_max);
  std::uniform_int_distribution<int64_t> jitter{
    0, std::max<int64_t>(st.backoff.count() / 4, 0)};
  auto delay = st.backoff + milliseconds{jitter(st.rng)};
  st.log->debug("reconnect scheduled: node = {}, delay = {}ms",
                st.settings.name, delay.count());
  self->delayed_send(self, delay, bc_connect_atom::value, st.generation);
}

void connect_failed(node_pointer self, const caf::error& err) {
  auto& st = self->state;
  st.last_error = describe(err);
  ++st.failed_attempts;
  // Log the first failure and then every 10th, so that a node that stays
  // away does not flood the log.
  if (st.failed_attempts % 10 == 1) {
    st.log->warn("connect failed: node = {}, attempts = {}, error = {}",
                 st.settings.name, st.failed_attempts, st.last_error);
  }
  if (st.link == link_status::connecting) {
    st.link = link_status::disconnected;
    auto deferred = std::move(st.deferred);
    st.deferred.clear();
    for (auto& request : deferred) {
      request.fail(err);
    }
  }
  schedule_reconnect(self);
}

void connected(node_pointer self, broadcast_actor remote,
               const caf::node_id& node) {
  auto& st = self->state;
  st.remote = std::move(remote);
  self->monitor(st.remote);
  st.link = link_status::connected;
  st.backoff = milliseconds{0};
  st.failed_attempts = 0;
  ++st.connects;
  st.log->info("connected: node = {}, node_id = {}, connects = {}",
               st.settings.name, caf::to_string(node), st.connects);
  auto deferred = std::move(st.deferred);
  st.deferred.clear();
  for (auto& request : deferred) {
    request.run();
  }
  std::vector<channel_key> keys;
  for (auto& entry : st.keys) {
    if (entry.second.live_tag == 0 && !entry.second.sinks.empty()) {
      keys.push_back(entry.first);
    }
  }
  for (auto& key : keys) {
    subscribe_live(self, key);
  }
}

void start_connect(node_pointer self) {
  auto& st = self->state;
  auto generation = st.generation;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, st.settings.connect_timeout, caf::connect_atom::value,
              st.settings.host, st.settings.port)
    .then(
      [self, generation](caf::node_id& node, caf::strong_actor_ptr& handle,
                         std::set<std::string>& interface) {
        auto& st = self->state;
        if (generation != st.generation
            || st.link == link_status::connected) {
          return;
        }
        auto checked = check_published(self->system(), std::move(handle),
                                       interface, st.settings.host,
                                       st.settings.port);
        if (!checked) {
          connect_failed(self, checked.error());
          return;
        }
        connected(self, std::move(*checked), node);
      },
      [self, generation](caf::error& err) {
        auto& st = self->state;
        if (generation != st.generation
            || st.link == link_status::connected) {
          return;
        }
        if (is_sec(err, caf::sec::request_timeout)) {
          connect_failed(
            self, make_error(errc::timeout,
                             "connecting to " + st.settings.name
                               + " timed out after "
                               + std::to_string(
                                 st.settings.connect_timeout.count())
                               + "ms (URL option connect_timeout)"));
          return;
        }
        connect_failed(self, explain_connect_error(err, st.settings.host,
                                                   st.settings.port));
      });
}

void node_lost(node_pointer self, const caf::error& cause) {
  auto& st = self->state;
  st.remote = nullptr;
  st.link = link_status::disconnected;
  ++st.generation;
  ++st.connection_losses;
  st.last_error = "lost the connection: " + describe(cause);
  auto reason = "lost the connection to " + st.settings.name + ": "
                + describe(cause);
  st.log->warn("connection lost: node = {}, error = {}", st.settings.name,
               describe(cause));

  std::vector<uint64_t> tags;
  for (auto& entry : st.forwarders) {
    tags.push_back(entry.first);
  }
  for (auto tag : tags) {
    stop_forwarder(self, tag);
  }

  auto failure = make_error(errc::backend_unavailable,
                            reason
                              + "; the request may or may not have taken "
                                "effect there");
  auto inflight = std::move(st.inflight);
  st.inflight.clear();
  for (auto& entry : inflight) {
    entry.second(failure);
  }
  auto subscribes = std::move(st.subscribes);
  st.subscribes.clear();
  for (auto& entry : subscribes) {
    entry.second.promise.deliver(failure);
  }

  for (auto& entry : st.keys) {
    entry.second.live_tag = 0;
    entry.second.active = false;
    if (!entry.second.lost && !entry.second.sinks.empty()) {
      entry.second.lost = true;
      send_status(self, entry.second, entry.first, status_kind::backend_lost,
                  reason);
    }
  }
  schedule_reconnect(self);
}

// Runs `run` now if connected, after the first connection attempt if that
// is under way, or fails with backend_unavailable.
template <class T, class Run>
caf::result<T> when_connected(node_pointer self, Run run) {
  auto& st = self->state;
  if (st.link == link_status::disconnected) {
    return unavailable(self);
  }
  auto promise = self->template make_response_promise<T>();
  if (st.link == link_status::connected) {
    run(promise);
    return promise;
  }
  st.deferred.push_back(deferred_request{
    [self, run, promise]() mutable {
      if (self->state.link == link_status::connected) {
        run(promise);
      } else {
        promise.deliver(unavailable(self));
      }
    },
    [promise](const caf::error& err) mutable { promise.deliver(err); }});
  return promise;
}

node_actor::behavior_type node_impl(node_pointer self,
                                    node_settings settings) {
  self->state.settings = std::move(settings);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.remote && msg.source == st.remote.address()) {
      node_lost(self, msg.reason);
    }
  });
  self->state.log->info("connecting: node = {}", self->state.settings.name);
  start_connect(self);
  return {
    [self](bc_publish_atom, std::string& channel,
           std::string& message) -> caf::result<publish_ack> {
      auto result = when_connected<publish_ack>(
        self, [self, channel = std::move(channel),
               message = std::move(message)](
                caf::typed_response_promise<publish_ack> promise) mutable {
          ++self->state.published;
          forward_request(self, promise, bc_publish_atom::value,
                          std::move(channel), std::move(message));
        });
      if (self->state.link == link_status::disconnected) {
        ++self->state.publish_unavailable;
      }
      return result;
    },
    [self](bc_subscribe_atom, std::string& key, bool pattern,
           sink_actor& sink, uint64_t history,
           uint64_t token) -> caf::result<bc_ok_atom> {
      return when_connected<bc_ok_atom>(
        self, [self, key = std::move(key), pattern, sink, history, token](
                caf::typed_response_promise<bc_ok_atom> promise) {
          subscribe(self, key, pattern, sink, history, token, promise);
        });
    },
    [self](bc_unsubscribe_atom, std::string& key, bool pattern,
           sink_actor& sink) {
      unsubscribe(self, channel_key{pattern, key}, sink);
    },
    [self](bc_history_atom, std::string& channel, std::string& before,
           uint64_t limit) -> caf::result<history_page> {
      return when_connected<history_page>(
        self, [self, channel = std::move(channel),
               before = std::move(before), limit](
                caf::typed_response_promise<history_page> promise) mutable {
          forward_request(self, promise, bc_history_atom::value,
                          std::move(channel), std::move(before), limit);
        });
    },
    [self](bc_stats_atom) {
      auto& st = self->state;
      uint64_t sinks = 0;
      for (auto& entry : st.keys) {
        sinks += entry.second.sinks.size();
      }
      return std::map<std::string, uint64_t>{
        {"connected", st.link == link_status::connected ? 1 : 0},
        {"connects", st.connects},
        {"connection_losses", st.connection_losses},
        {"published", st.published},
        {"publish_unavailable", st.publish_unavailable},
        {"events_received", st.events_received},
        {"batches_received", st.batches_received},
        {"remote_subscriptions", st.forwarders.size()},
        {"subscribed_keys", st.keys.size()},
        {"sinks", sinks},
      };
    },
    [self](bc_forwarded_atom, uint64_t tag, caf::message& msg) {
      handle_forwarded(self, tag, msg);
    },
    [self](bc_connect_atom, uint64_t generation) {
      auto& st = self->state;
      if (generation == st.generation && st.link != link_status::connected) {
        start_connect(self);
      }
    },
    [self](bc_resubscribe_atom, uint64_t generation, bool pattern,
           std::string& key) {
      auto& st = self->state;
      if (generation != st.generation || st.link != link_status::connected) {
        return;
      }
      auto i = st.keys.find(channel_key{pattern, key});
      if (i != st.keys.end() && i->second.live_tag == 0
          && !i->second.sinks.empty()) {
        subscribe_live(self, i->first);
      }
    },
  };
}

caf::expected<node_settings> parse_settings(const url& source) {
  auto shown = source.redacted();
  if (!source.user.empty() || source.has_password) {
    return make_error(errc::invalid_url,
                      "caf:// takes no user or password, got " + shown);
  }
  if (source.host.empty()) {
    return make_error(errc::invalid_url,
                      "caf:// URL has no host: " + shown
                        + "; use caf://HOST:PORT");
  }
  if (!source.has_port || source.port == 0) {
    return make_error(errc::invalid_url,
                      "caf:// URL has no port: " + shown
                        + "; use caf://HOST:PORT with the port that "
                          "`broadcaster serve` printed");
  }
  if (!source.path.empty() && source.path != "/") {
    return make_error(errc::invalid_url,
                      "caf:// takes no path, got \"" + source.path + "\" in "
                        + shown + "; use caf://HOST:PORT");
  }

  node_settings result;
  result.host = source.host;
  result.port = source.port;
  result.name = node_name(source.host, source.port);
  url_options opts{source, "caf://"};
  auto hour = milliseconds{3'600'000};
  if (auto err = opts.get("connect_timeout", result.connect_timeout,
                          milliseconds{1}, hour)) {
    return err;
  }
  if (auto err = opts.get("request_timeout", result.request_timeout,
                          milliseconds{1}, hour)) {
    return err;
  }
  if (auto err = opts.get("reconnect_min", result.reconnect_min,
                          milliseconds{1}, hour)) {
    return err;
  }
  if (auto err = opts.get("reconnect_max", result.reconnect_max,
                          milliseconds{1}, hour)) {
    return err;
  }
  if (auto err = opts.finish()) {
    return err;
  }

  if (result.reconnect_min > result.reconnect_max) {
    return make_error(errc::invalid_option,
                      "caf:// option reconnect_min ("
                        + std::to_string(result.reconnect_min.count())
                        + "ms) is larger than reconnect_max ("
                        + std::to_string(result.reconnect_max.count())
                        + "ms)");
  }
  return result;
}

} // namespace

caf::expected<backend_actor> spawn_caf_node_backend(caf::actor_system& sys,
                                                    const url& source) {
  auto settings = parse_settings(source);
  if (!settings) {
    return settings.error();
  }
  if (!sys.has_middleman()) {
    return make_error(errc::unsupported,
                      "caf:// needs CAF's middleman: call "
                      "cfg.load<caf::io::middleman>() before creating the "
                      "actor system");
  }
  auto handle = sys.spawn(node_impl, std::move(*settings));
  return caf::actor_cast<backend_actor>(handle);
}

void register_caf_node_backend(scheme_table& table) {
  table.add("caf", spawn_caf_node_backend);
}

caf::expected<broadcast_actor> connect_node(caf::actor_system& sys,
                                            const std::string& host,
                                            uint16_t port,
                                            std::chrono::milliseconds timeout) {
  if (!sys.has_middleman()) {
    return make_error(errc::unsupported,
                      "connecting to a node needs CAF's middleman: call "
                      "cfg.load<caf::io::middleman>() before creating the "
                      "actor system");
  }
  caf::scoped_actor self{sys};
  caf::expected<broadcast_actor> result{
    make_error(errc::timeout, "connecting to " + node_name(host, port)
                                + " timed out after "
                                + std::to_string(timeout.count()) + "ms")};
  self
    ->request(sys.middleman().actor_handle(), timeout,
              caf::connect_atom::value, host, port)
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& handle,
          std::set<std::string>& interface) {
        result = check_published(sys, std::move(handle), interface, host,
                                 port);
      },
      [&](caf::error& err) {
        if (!is_sec(err, caf::sec::request_timeout)) {
          result = explain_connect_error(err, host, port);
        }
      });
  return result;
}

caf::error explain_connect_error(const caf::error& err,
                                 const std::string& host, uint16_t port) {
  auto name = node_name(host, port);
  if (err.category() == error_category) {
    return err;
  }
  if (is_sec(err, caf::sec::unexpected_actor_messaging_interface)) {
    return make_error(errc::backend_error,
                      "the node at " + name
                        + " runs an incompatible broadcaster version: the "
                          "actor it published does not offer the "
                          "broadcast_actor interface of this program, or "
                          "registers its message types under other names; "
                          "run the same broadcaster version on both nodes");
  }
  if (is_sec(err, caf::sec::no_actor_published_at_port)) {
    return make_error(errc::backend_error,
                      name + " has no actor published on this port");
  }
  if (is_sec(err, caf::sec::request_timeout)) {
    return make_error(errc::timeout, "connecting to " + name + " timed out");
  }
  return make_error(errc::backend_unavailable,
                    "cannot connect to " + name + ": " + describe(err)
                      + "; check that `broadcaster serve` runs there");
}

} // namespace broadcaster
