#include "member_actor.hpp"

#include <utility>
#include <variant>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "broadcaster/error.hpp"
#include "broadcaster/log.hpp"
#include "broadcaster/subscriber.hpp"

namespace broadcaster::chat {

namespace {

using json = nlohmann::json;

std::string encode(const json& frame) {
  return frame.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ready_frame(const member_settings& settings) {
  return encode({{"type", "ready"},
                 {"channel", settings.channel},
                 {"max_message_size", settings.max_message_size}});
}

std::string error_frame(const std::string& reason) {
  return encode({{"type", "error"}, {"reason", reason}});
}

std::string status_frame(const status_event& status) {
  return encode({{"type", "status"},
                 {"state", to_string(status.kind)},
                 {"events_may_be_lost", status.events_may_be_lost},
                 {"reason", status.reason}});
}

std::string skipped_frame(uint64_t count) {
  return encode({{"type", "skipped"}, {"count", count}});
}

struct member_state {
  member_settings settings;
  std::shared_ptr<browser_link> link;
  std::shared_ptr<spdlog::logger> log = logger("chat");

  static inline const char* name = "broadcaster.chat.member";
};

using member_pointer = caf::stateful_actor<member_state>*;

// Removes the monitor on the broadcast actor and exits. CAF 0.17.6 keeps a
// monitor in the monitored actor until that actor exits, and the monitor's
// weak reference keeps the whole memory of the exited member allocated, so
// every exit of a member goes through here.
void leave(member_pointer self) {
  self->demonitor(self->state.settings.bc.address());
  self->quit();
}

// Closes the connection and exits, for failures that end a member.
void fail(member_pointer self, const std::string& reason) {
  auto& st = self->state;
  st.log->warn("member closing connection: connection = {}, reason = {}",
               st.settings.connection_id, reason);
  st.link->close(close_status::internal_error, reason);
  leave(self);
}

void on_notice(member_pointer self, const notice& x) {
  auto& st = self->state;
  if (auto skipped = std::get_if<events_skipped>(&x)) {
    st.log->warn("events skipped for slow member: connection = {}, "
                 "count = {}",
                 st.settings.connection_id, skipped->count);
    st.link->send_text(skipped_frame(skipped->count));
    return;
  }
  const auto& status = std::get<status_event>(x);
  if (status.kind == status_kind::closed) {
    fail(self, "subscription closed: " + status.reason);
    return;
  }
  // The supervisor and the backend log the outage itself once, so this
  // line per connection stays at debug.
  st.log->debug("backend status changed: connection = {}, state = {}",
                st.settings.connection_id, to_string(status.kind));
  st.link->send_text(status_frame(status));
}

void publish(member_pointer self, std::string line) {
  auto& st = self->state;
  self
    ->request(st.settings.bc, st.settings.publish_timeout,
              bc_publish_atom::value, st.settings.channel, std::move(line))
    .then(
      [self](const publish_ack&) {
        self->state.link->publish_done();
      },
      [self](const caf::error& err) {
        auto& st = self->state;
        auto reason = describe(err);
        st.log->warn("publish failed: connection = {}, channel = {}, "
                     "error = {}",
                     st.settings.connection_id, st.settings.channel, reason);
        st.link->send_text(error_frame("message not sent: " + reason));
        st.link->publish_done();
      });
}

caf::behavior member_impl(member_pointer self, member_settings settings,
                          std::shared_ptr<browser_link> link) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.link = std::move(link);
  self->monitor(st.settings.bc);
  // A handler that throws ends the member as well, with CAF's default
  // exit reason for exceptions.
  self->set_exception_handler(
    [](caf::scheduled_actor* ptr, std::exception_ptr& error) {
      auto self = static_cast<member_pointer>(ptr);
      self->demonitor(self->state.settings.bc.address());
      return caf::scheduled_actor::default_exception_handler(ptr, error);
    });
  self->set_down_handler([self](const caf::down_msg& msg) {
    if (msg.source == self->state.settings.bc.address()) {
      fail(self, "chat backend stopped");
    }
  });
  self
    ->request(st.settings.bc, st.settings.publish_timeout,
              bc_subscribe_atom::value, st.settings.channel,
              caf::actor_cast<caf::actor>(self), subscribe_options{})
    .then(
      [self](const subscription& sub) {
        auto& st = self->state;
        st.log->debug("member subscribed: connection = {}, channel = {}, "
                      "subscription = {}",
                      st.settings.connection_id, sub.channel, sub.id);
        st.link->send_text(ready_frame(st.settings));
      },
      [self](const caf::error& err) {
        fail(self, "subscribe failed: " + describe(err));
      });
  auto on_event = [self](const event& ev) {
    self->state.link->send_text(message_frame(ev));
  };
  auto notices = [self](const notice& x) { on_notice(self, x); };
  return event_handler(self, on_event, notices)
    .or_else(caf::message_handler{
      [self](chat_line_atom, std::string& line) {
        publish(self, std::move(line));
      },
      [self](chat_leave_atom) { leave(self); },
    });
}

} // namespace

browser_link::~browser_link() {
  // nop
}

void live_counter::add() {
  std::lock_guard<std::mutex> guard{mtx_};
  ++count_;
  changed_.notify_all();
}

bool live_counter::try_add(size_t limit) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (limit != 0 && count_ >= limit) {
    return false;
  }
  ++count_;
  changed_.notify_all();
  return true;
}

void live_counter::remove() {
  std::lock_guard<std::mutex> guard{mtx_};
  --count_;
  changed_.notify_all();
}

size_t live_counter::count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return count_;
}

bool live_counter::await(size_t expected,
                           std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> guard{mtx_};
  return changed_.wait_for(guard, timeout,
                           [&] { return count_ == expected; });
}

caf::actor spawn_member(caf::actor_system& sys, member_settings settings,
                        std::shared_ptr<browser_link> link,
                        std::shared_ptr<live_counter> counter) {
  counter->add();
  auto settings_id = settings.connection_id;
  auto handle = sys.spawn(member_impl, std::move(settings), std::move(link));
  auto id = settings_id;
  auto ptr = caf::actor_cast<caf::abstract_actor*>(handle);
  ptr->attach_functor([counter, id](const caf::error& reason) {
    if (reason && reason != caf::exit_reason::user_shutdown) {
      logger("chat")->error("member actor failed: connection = {}, "
                            "reason = {}",
                            id, describe(reason));
    }
    counter->remove();
  });
  return handle;
}

std::string message_frame(const event& ev) {
  return encode({{"type", "message"}, {"text", ev.message}, {"id", ev.id}});
}

} // namespace broadcaster::chat
