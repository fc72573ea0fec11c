#include "supervisor.hpp"

#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <utility>

#include <caf/all.hpp>

#include "broadcaster/glob.hpp"
#include "broadcaster/log.hpp"

namespace broadcaster::detail {

namespace {

using channel_key = std::pair<bool, std::string>; // (pattern, name)

struct channel_entry {
  channel_actor handle;
  // Subscriptions forwarded to the channel that it has not reported as
  // ended. The channel retires when this drops to zero, so no forwarded
  // subscribe can race with its exit.
  size_t subscriptions = 0;
};

struct supervisor_state {
  backend_factory factory;
  url source;
  std::string description;
  broadcast_options options;
  backend_actor backend;
  bool backend_up = false;
  std::string last_failure;
  std::chrono::milliseconds restart_delay{0};
  uint64_t restarts = 0;
  std::map<channel_key, channel_entry> channels;
  std::unordered_map<uint64_t, channel_key> subscriptions;
  uint64_t next_id = 1;
  std::minstd_rand rng{std::random_device{}()};
  std::shared_ptr<spdlog::logger> log = logger("supervisor");

  // The backend is monitored, not linked, so that a backend killed with
  // exit_reason::kill cannot take the supervisor down. It still ends with
  // the supervisor.
  ~supervisor_state() {
    if (backend) {
      caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
    }
  }

  static inline const char* name = "broadcaster.supervisor";
};

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

caf::error unavailable(supervisor_pointer self) {
  auto& st = self->state;
  return make_error(errc::backend_unavailable,
                    "backend " + st.description + " is restarting after: "
                      + st.last_failure
                      + "; retry after it is back (next attempt in "
                      + std::to_string(st.restart_delay.count()) + "ms)");
}

void adopt_backend(supervisor_pointer self, backend_actor backend) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.backend_up = true;
  self->monitor(st.backend);
}

void schedule_restart(supervisor_pointer self) {
  auto& st = self->state;
  auto next = st.restart_delay.count() == 0 ? st.options.restart_min
                                            : st.restart_delay * 2;
  st.restart_delay = std::min(next, st.options.restart_max);
  std::uniform_int_distribution<int64_t> jitter{
    0, std::max<int64_t>(st.restart_delay.count() / 4, 0)};
  auto delay = st.restart_delay + std::chrono::milliseconds{jitter(st.rng)};
  st.log->warn("backend restart scheduled: backend = {}, delay = {}ms",
               st.description, delay.count());
  self->delayed_send(self, delay, bc_backend_atom::value);
}

void backend_down(supervisor_pointer self, const caf::error& reason) {
  auto& st = self->state;
  st.backend_up = false;
  st.backend = nullptr;
  st.last_failure = describe(reason);
  st.log->error("backend exited: backend = {}, reason = {}", st.description,
                st.last_failure);
  for (auto& entry : st.channels) {
    self->send(entry.second.handle, bc_backend_atom::value,
               "backend actor exited: " + st.last_failure);
  }
  schedule_restart(self);
}

void restart_backend(supervisor_pointer self) {
  auto& st = self->state;
  ++st.restarts;
  auto result = st.factory(self->system(), st.source);
  if (!result) {
    st.last_failure = describe(result.error());
    st.log->error("backend restart failed: backend = {}, error = {}",
                  st.description, st.last_failure);
    schedule_restart(self);
    return;
  }
  adopt_backend(self, std::move(*result));
  st.restart_delay = std::chrono::milliseconds{0};
  st.log->info("backend restarted: backend = {}, restarts = {}",
               st.description, st.restarts);
  for (auto& entry : st.channels) {
    self->send(entry.second.handle, bc_backend_atom::value, st.backend);
  }
}

// Gathers counters from every channel and the backend into one reply.
caf::result<broadcast_stats> collect_stats(supervisor_pointer self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<broadcast_stats>();
  auto result = std::make_shared<broadcast_stats>();
  result->backend = st.description;
  result->subscriptions = st.subscriptions.size();
  auto outstanding = std::make_shared<size_t>(st.channels.size()
                                              + (st.backend_up ? 1 : 0));
  auto done = [rp, result, outstanding]() mutable {
    if (--*outstanding == 0) {
      rp.deliver(std::move(*result));
    }
  };
  if (*outstanding == 0) {
    rp.deliver(*result);
    return rp;
  }
  auto timeout = std::chrono::seconds{5};
  for (auto& entry : st.channels) {
    self->request(entry.second.handle, timeout, bc_stats_atom::value)
      .then([result, done](channel_stats& x) mutable {
              result->channels.push_back(std::move(x));
              done();
            },
            [done](caf::error&) mutable { done(); });
  }
  if (st.backend_up) {
    self->request(st.backend, timeout, bc_stats_atom::value)
      .then(
        [result, done](std::map<std::string, uint64_t>& counters) mutable {
          result->backend_counters = std::move(counters);
          done();
        },
        [done](caf::error&) mutable { done(); });
  }
  return rp;
}

supervisor_actor::behavior_type
supervisor_impl(supervisor_pointer self, backend_factory factory, url source,
                std::string description, backend_actor first,
                broadcast_options options) {
  auto& st = self->state;
  st.factory = std::move(factory);
  st.source = std::move(source);
  st.description = std::move(description);
  st.options = options;
  adopt_backend(self, std::move(first));
  st.log->info("supervisor started: backend = {}", st.description);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.backend_up && msg.source == st.backend.address()) {
      backend_down(self, msg.reason ? msg.reason
                                    : make_error(errc::backend_error,
                                                 "backend exited normally"));
    }
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto i = st.channels.begin(); i != st.channels.end(); ++i) {
      if (msg.source == i->second.handle.address()) {
        if (msg.reason) {
          st.log->error("channel actor exited: channel = {}, reason = {}",
                        i->first.second, describe(msg.reason));
        }
        st.channels.erase(i);
        return;
      }
    }
    st.log->info("supervisor stopping: backend = {}, reason = {}",
                 st.description, describe(msg.reason));
    self->quit(msg.reason);
  });
  return {
    [self](bc_publish_atom, std::string& channel,
           std::string& message) -> caf::result<publish_ack> {
      auto& st = self->state;
      if (auto err = validate_channel(channel, false)) {
        return err;
      }
      if (!st.backend_up) {
        return unavailable(self);
      }
      return self->delegate(st.backend, bc_publish_atom::value,
                            std::move(channel), std::move(message));
    },
    [self](bc_subscribe_atom, std::string& channel, caf::actor& subscriber,
           subscribe_options& opts) -> caf::result<subscription> {
      auto& st = self->state;
      if (auto err = validate_channel(channel, opts.pattern)) {
        return err;
      }
      if (!subscriber) {
        return make_error(errc::invalid_option, "subscriber handle is null");
      }
      channel_key key{opts.pattern, channel};
      auto& entry = st.channels[key];
      if (!entry.handle) {
        if (!st.backend_up) {
          st.channels.erase(key);
          return unavailable(self);
        }
        entry.handle = spawn_channel(self->system(),
                                     caf::actor_cast<supervisor_actor>(self),
                                     channel,
                                     opts.pattern, st.backend);
        self->link_to(entry.handle);
      }
      auto id = st.next_id++;
      ++entry.subscriptions;
      st.subscriptions.emplace(id, key);
      return self->delegate(entry.handle, bc_attach_atom::value, id,
                            std::move(subscriber), opts);
    },
    [self](bc_unsubscribe_atom, uint64_t id) -> caf::result<bc_ok_atom> {
      auto& st = self->state;
      auto i = st.subscriptions.find(id);
      if (i == st.subscriptions.end()) {
        return make_error(errc::subscription_not_found,
                          "no active subscription with id "
                            + std::to_string(id));
      }
      auto c = st.channels.find(i->second);
      if (c == st.channels.end()) {
        st.subscriptions.erase(i);
        return make_error(errc::subscription_not_found,
                          "subscription " + std::to_string(id)
                            + " has already ended");
      }
      return self->delegate(c->second.handle, bc_detach_atom::value, id);
    },
    [self](bc_ended_atom, uint64_t id) {
      auto& st = self->state;
      auto i = st.subscriptions.find(id);
      if (i == st.subscriptions.end()) {
        return;
      }
      auto key = i->second;
      st.subscriptions.erase(i);
      auto c = st.channels.find(key);
      if (c == st.channels.end()) {
        return;
      }
      if (--c->second.subscriptions == 0) {
        self->unlink_from(c->second.handle);
        self->send(c->second.handle, bc_retire_atom::value);
        st.channels.erase(c);
      }
    },
    [self](bc_history_atom, std::string& channel, std::string& before,
           uint64_t limit) -> caf::result<history_page> {
      auto& st = self->state;
      if (auto err = validate_channel(channel, false)) {
        return err;
      }
      if (!st.backend_up) {
        return unavailable(self);
      }
      return self->delegate(st.backend, bc_history_atom::value,
                            std::move(channel), std::move(before), limit);
    },
    [self](bc_stats_atom) { return collect_stats(self); },
    [self](bc_backend_atom) { restart_backend(self); },
  };
}

} // namespace

broadcast_actor spawn_supervisor(caf::actor_system& sys,
                                 backend_factory factory, url source,
                                 std::string description,
                                 backend_actor first,
                                 broadcast_options options) {
  auto handle = sys.spawn(supervisor_impl, std::move(factory),
                          std::move(source), std::move(description),
                          std::move(first), std::move(options));
  return caf::actor_cast<broadcast_actor>(handle);
}

} // namespace broadcaster::detail

namespace broadcaster {

caf::error validate_channel(std::string_view channel, bool pattern) {
  if (channel.empty()) {
    return make_error(errc::invalid_channel, "channel name is empty");
  }
  if (channel.size() > max_channel_size) {
    return make_error(errc::invalid_channel,
                      "channel name has " + std::to_string(channel.size())
                        + " bytes; the maximum is "
                        + std::to_string(max_channel_size));
  }
  if (pattern) {
    return validate_glob(channel);
  }
  return caf::none;
}

} // namespace broadcaster
