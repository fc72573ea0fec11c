#include "forwarder.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_config.hpp>
#include <caf/default_attachable.hpp>
#include <caf/system_messages.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/message.hpp>

namespace broadcaster::detail {

forwarder::forwarder(caf::actor_config& cfg, caf::strong_actor_ptr target,
                     uint64_t tag)
  : caf::monitorable_actor(cfg), target_(std::move(target)), tag_(tag) {
  // The target's exit reaches enqueue() as a down_msg and ends this actor.
  // If the target has already exited, the down_msg arrives right away.
  target_->get()->attach(caf::default_attachable::make_monitor(
    caf::actor_cast<caf::actor_addr>(target_), address()));
}

void forwarder::enqueue(caf::mailbox_element_ptr what,
                        caf::execution_unit* host) {
  auto on_down = [&](caf::down_msg& msg) {
    cleanup(std::move(msg.reason), host);
  };
  if (handle_system_message(*what, host, false, on_down)) {
    return;
  }
  caf::strong_actor_ptr target;
  caf::error reason;
  shared_critical_section([&] {
    target = target_;
    reason = fail_state_;
  });
  if (!target) {
    bounce(what, reason);
    return;
  }
  auto content = caf::make_message(bc_forwarded_atom::value, tag_,
                                   what->move_content_to_message());
  target->enqueue(caf::make_mailbox_element(std::move(what->sender),
                                            what->mid,
                                            std::move(what->stages),
                                            std::move(content)),
                  host);
}

std::set<std::string> forwarder::message_types() const {
  return {};
}

const char* forwarder::name() const {
  return "broadcaster.caf_node.forwarder";
}

void forwarder::on_cleanup(const caf::error&) {
  target_.reset();
}

caf::actor spawn_forwarder(caf::actor_system& sys,
                           caf::strong_actor_ptr target, uint64_t tag) {
  caf::actor_config cfg;
  return caf::make_actor<forwarder, caf::actor>(
    sys.next_actor_id(), sys.node(), &sys, cfg, std::move(target), tag);
}

} // namespace broadcaster::detail
