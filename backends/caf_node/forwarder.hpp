#pragma once

// Internal: the actor that a caf:// backend subscribes at a remote node.

#include <cstdint>
#include <set>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/monitorable_actor.hpp>

namespace broadcaster::detail {

/// Wraps a message that reached a forwarder:
/// `(bc_forwarded_atom, tag, original message)`.
using bc_forwarded_atom = caf::atom_constant<caf::atom("bcnodefwd")>;

/// An actor without a mailbox of its own. Each message sent to it goes at
/// once, on the sender's thread, into the mailbox of its target as
/// `(bc_forwarded_atom, tag, message)`, with the original sender and message
/// id. Messages that one connection delivers to several forwarders of the
/// same target therefore reach the target in the order in which they came
/// off the network, which a scheduled actor per forwarder would not keep.
///
/// A forwarder exits when its target exits or when it receives an exit
/// message with a non-normal reason. Any thread may send to it.
class forwarder : public caf::monitorable_actor {
public:
  forwarder(caf::actor_config& cfg, caf::strong_actor_ptr target,
            uint64_t tag);

  void enqueue(caf::mailbox_element_ptr what,
               caf::execution_unit* host) override;

  std::set<std::string> message_types() const override;

  const char* name() const override;

protected:
  void on_cleanup(const caf::error& reason) override;

private:
  caf::strong_actor_ptr target_;
  uint64_t tag_;
};

/// Creates a forwarder into the mailbox of `target`.
caf::actor spawn_forwarder(caf::actor_system& sys,
                           caf::strong_actor_ptr target, uint64_t tag);

} // namespace broadcaster::detail
