#include "broadcaster/subscriber.hpp"

#include <caf/all.hpp>

#include "broadcaster/error.hpp"

namespace broadcaster {

void acknowledge(caf::local_actor* self, uint64_t count) {
  auto channel = caf::actor_cast<caf::actor>(self->current_sender());
  if (channel) {
    caf::send_as(caf::actor_cast<caf::actor>(self), channel,
                 bc_ack_atom::value, count);
  }
}

struct blocking_subscription::impl {
  impl(caf::actor_system& sys, broadcast_actor handle)
    : bc(std::move(handle)), self(sys) {
    // nop
  }

  broadcast_actor bc;
  caf::scoped_actor self;
  std::deque<event> buffer;
  std::vector<subscription> subs;
  bool closed = false;
  uint64_t skipped = 0;
  std::optional<status_event> last_status;
  std::function<void(const notice&)> on_notice;

  void handle(const status_event& x) {
    last_status = x;
    if (x.kind == status_kind::closed) {
      subs.erase(std::remove_if(subs.begin(), subs.end(),
                                [&](const subscription& s) {
                                  return s.channel == x.channel;
                                }),
                 subs.end());
      if (subs.empty()) {
        closed = true;
      }
    }
    if (on_notice) {
      on_notice(notice{x});
    }
  }

  // Receives one message; returns false on timeout.
  bool receive_one(caf::duration timeout) {
    bool received = true;
    auto on_batch = [&](const event_batch& batch) {
      buffer.insert(buffer.end(), batch.events.begin(), batch.events.end());
      acknowledge(self.ptr(), batch.events.size());
    };
    auto on_skipped = [&](const events_skipped& x) {
      skipped += x.count;
      if (on_notice) {
        on_notice(notice{x});
      }
    };
    auto on_status = [&](const status_event& x) { handle(x); };
    if (!timeout.valid()) {
      self->receive(on_batch, on_skipped, on_status);
    } else {
      self->receive(on_batch, on_skipped, on_status,
                    caf::after(timeout) >> [&] { received = false; });
    }
    return received;
  }
};

blocking_subscription::blocking_subscription(caf::actor_system& sys,
                                             broadcast_actor bc)
  : impl_(std::make_unique<impl>(sys, std::move(bc))) {
  // nop
}

blocking_subscription::blocking_subscription(
  blocking_subscription&&) noexcept = default;

blocking_subscription&
blocking_subscription::operator=(blocking_subscription&&) noexcept = default;

blocking_subscription::~blocking_subscription() {
  // Destroying the scoped actor ends the subscriptions: each channel actor
  // monitors its subscribers.
}

std::optional<event>
blocking_subscription::next(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (d.buffer.empty() && !d.closed) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - now);
    if (!d.receive_one(caf::duration{left})) {
      break;
    }
  }
  if (d.buffer.empty()) {
    return std::nullopt;
  }
  auto result = std::move(d.buffer.front());
  d.buffer.pop_front();
  return result;
}

std::optional<event> blocking_subscription::next() {
  auto& d = *impl_;
  while (d.buffer.empty() && !d.closed) {
    d.receive_one(caf::infinite);
  }
  if (d.buffer.empty()) {
    return std::nullopt;
  }
  auto result = std::move(d.buffer.front());
  d.buffer.pop_front();
  return result;
}

void blocking_subscription::on_notice(
  std::function<void(const notice&)> callback) {
  impl_->on_notice = std::move(callback);
}

caf::error blocking_subscription::unsubscribe(
  std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  caf::error result;
  for (auto& sub : d.subs) {
    d.self->request(d.bc, timeout, bc_unsubscribe_atom::value, sub.id)
      .receive([](bc_ok_atom) {},
               [&](caf::error& err) {
                 if (!result) {
                   result = std::move(err);
                 }
               });
  }
  d.subs.clear();
  d.closed = true;
  d.buffer.clear();
  return result;
}

const std::vector<subscription>&
blocking_subscription::subscriptions() const noexcept {
  return impl_->subs;
}

caf::error blocking_subscription::add(const std::string& channel,
                                      subscribe_options options,
                                      std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  caf::error result;
  d.self
    ->request(d.bc, timeout, bc_subscribe_atom::value, channel,
              caf::actor_cast<caf::actor>(d.self), options)
    .receive(
      [&](subscription& sub) {
        d.subs.push_back(std::move(sub));
        d.closed = false;
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

bool blocking_subscription::closed() const noexcept {
  return impl_->closed;
}

uint64_t blocking_subscription::skipped() const noexcept {
  return impl_->skipped;
}

const std::optional<status_event>&
blocking_subscription::last_status() const noexcept {
  return impl_->last_status;
}

blocking_subscription::iterator::iterator(blocking_subscription* owner)
  : owner_(owner), current_(owner->next()) {
  if (!current_) {
    owner_ = nullptr;
  }
}

blocking_subscription::iterator::reference
blocking_subscription::iterator::operator*() const {
  return *current_;
}

blocking_subscription::iterator::pointer
blocking_subscription::iterator::operator->() const {
  return &*current_;
}

blocking_subscription::iterator&
blocking_subscription::iterator::operator++() {
  current_ = owner_->next();
  if (!current_) {
    owner_ = nullptr;
  }
  return *this;
}

bool blocking_subscription::iterator::operator==(const iterator& other) const {
  return owner_ == other.owner_;
}

bool blocking_subscription::iterator::operator!=(const iterator& other) const {
  return owner_ != other.owner_;
}

blocking_subscription::iterator blocking_subscription::begin() {
  return iterator{this};
}

blocking_subscription::iterator blocking_subscription::end() {
  return iterator{};
}

caf::expected<blocking_subscription>
subscribe_blocking(caf::actor_system& sys, const broadcast_actor& bc,
                   const std::string& channel, subscribe_options options,
                   std::chrono::milliseconds timeout) {
  blocking_subscription result{sys, bc};
  if (auto err = result.add(channel, options, timeout)) {
    return err;
  }
  return result;
}

} // namespace broadcaster
