#pragma once

// Actors and blocking calls shared by the core test suites.

#include <memory>
#include <ostream>
#include <string>
#include <variant>

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "support/support.hpp"

namespace broadcaster {

inline std::ostream& operator<<(std::ostream& out, status_kind x) {
  return out << to_string(x);
}

} // namespace broadcaster

namespace broadcaster::test {

/// Reports a failure from a helper actor to the test, with a text.
using failed_atom = caf::atom_constant<caf::atom("tfailed")>;

/// Forwards every event, status and skip notice it receives to `sink`.
inline caf::behavior collector(caf::event_based_actor* self,
                               caf::actor sink) {
  return event_handler(
    self, [self, sink](const event& ev) { self->send(sink, ev); },
    [self, sink](const notice& n) {
      std::visit([&](const auto& x) { self->send(sink, x); }, n);
    });
}

/// Counts events and sends `(ok_atom, count)` to `sink` once it has seen
/// `expected` of them. Checks that message bodies, read as numbers, arrive
/// in increasing order, and reports `(failed_atom, text)` otherwise or
/// when events were skipped.
inline caf::behavior counter(caf::event_based_actor* self, caf::actor sink,
                             uint64_t expected) {
  auto seen = std::make_shared<uint64_t>(0);
  auto last = std::make_shared<int64_t>(-1);
  return event_handler(
    self,
    [=](const event& ev) {
      auto value = std::stoll(ev.message);
      if (value <= *last) {
        self->send(sink, failed_atom::value,
                   "out of order: " + std::to_string(value) + " after "
                     + std::to_string(*last));
      }
      *last = value;
      if (++*seen == expected) {
        self->send(sink, caf::ok_atom::value, *seen);
      }
    },
    [=](const notice& n) {
      if (auto skip = std::get_if<events_skipped>(&n)) {
        self->send(sink, failed_atom::value,
                   "counter skipped " + std::to_string(skip->count)
                     + " events after " + std::to_string(*last));
      }
    });
}

/// Returns options for a subscriber that must not lose events to its
/// queue limit while a publisher runs ahead of it, as on a loaded machine.
inline subscribe_options lossless(uint32_t max_queued = 1u << 20) {
  subscribe_options opts;
  opts.max_queued = max_queued;
  return opts;
}

/// Publishes the numbers 0 .. count-1 as decimal strings on `channel`,
/// keeping up to `window` publishes in flight, then sends
/// `(ok_atom, count)` to `done`; on an error it sends `(failed_atom, text)`.
inline caf::behavior number_publisher(caf::event_based_actor* self,
                                      broadcast_actor bc, std::string channel,
                                      uint64_t count, uint64_t window,
                                      caf::actor done) {
  struct progress {
    uint64_t sent = 0;
    uint64_t acked = 0;
  };
  auto p = std::make_shared<progress>();
  auto send_one = std::make_shared<std::function<void()>>();
  *send_one = [=] {
    auto n = p->sent++;
    self
      ->request(bc, caf::infinite, bc_publish_atom::value, channel,
                std::to_string(n))
      .then(
        [=](const publish_ack&) {
          if (++p->acked == count) {
            self->send(done, caf::ok_atom::value, count);
            self->quit();
            return;
          }
          if (p->sent < count) {
            (*send_one)();
          }
        },
        [=](caf::error& err) {
          self->send(done, failed_atom::value, describe(err));
          self->quit();
        });
  };
  self->attach_functor([send_one] { *send_one = nullptr; });
  for (uint64_t i = 0; i < std::min(count, window); ++i) {
    (*send_one)();
  }
  return {[](caf::ok_atom) {}};
}

/// Fixture with an actor system, a scoped actor for the test thread and a
/// supervisor on a fresh `memory://` backend.
struct memory_fixture : system_fixture {
  memory_fixture() : self(sys) {
    auto handle = spawn_broadcast(sys, "memory://");
    require_ok(handle);
    bc = *handle;
  }

  ~memory_fixture() {
    caf::anon_send_exit(bc, caf::exit_reason::user_shutdown);
  }

  /// Returns the test thread's actor as a dynamically typed handle.
  caf::actor me() {
    return caf::actor_cast<caf::actor>(self);
  }

  caf::scoped_actor self;
  broadcast_actor bc;
};

/// Subscribes `who` and returns the reply, or the error.
inline caf::expected<subscription>
subscribe(caf::actor_system& sys, const broadcast_actor& bc, caf::actor who,
          const std::string& channel, subscribe_options opts = {}) {
  caf::scoped_actor self{sys};
  caf::expected<subscription> result{make_error(errc::timeout)};
  self->request(bc, deadline(), bc_subscribe_atom::value, channel, who, opts)
    .receive([&](subscription& s) { result = std::move(s); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Ends a subscription and returns the error, if any.
inline caf::error unsubscribe(caf::actor_system& sys,
                              const broadcast_actor& bc, uint64_t id) {
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(bc, deadline(), bc_unsubscribe_atom::value, id)
    .receive([](bc_ok_atom) {}, [&](caf::error& err) { result = err; });
  return result;
}

/// Waits for the next message of type T in `self`'s mailbox, failing the
/// test after the default deadline.
template <class T>
T expect_message(caf::scoped_actor& self) {
  T result;
  bool received = false;
  self->receive([&](T& x) {
    result = std::move(x);
    received = true;
  },
                caf::after(deadline()) >> [] {});
  BOOST_REQUIRE_MESSAGE(received, "no message arrived within the deadline");
  return result;
}

/// Returns true if `self` receives no event within `wait`. Used only to
/// check that something does not happen.
inline bool no_event_within(caf::scoped_actor& self,
                            std::chrono::milliseconds wait) {
  bool received = false;
  self->receive([&](const event&) { received = true; },
                caf::after(wait) >> [] {});
  return !received;
}

} // namespace broadcaster::test
