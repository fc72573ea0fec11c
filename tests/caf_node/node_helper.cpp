// Helper programs for the caf:// tests, run as child processes:
//
//   node_helper mismatch
//     publishes an actor whose interface differs from broadcast_actor on
//     127.0.0.1 and prints `listening on 127.0.0.1:PORT`;
//   node_helper subscribe HOST PORT CHANNEL COUNT
//     reaches a served supervisor with a plain typed remote_actor, subscribes
//     an actor of this process and prints `event: CHANNEL MESSAGE` for COUNT
//     events.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/caf_node.hpp"

namespace {

using other_actor = caf::typed_actor<
  caf::replies_to<broadcaster::bc_publish_atom, std::string>::with<int>>;

struct config : caf::actor_system_config {
  config() {
    broadcaster::register_types(*this);
    load<caf::io::middleman>();
  }
};

int run_mismatch(caf::actor_system& sys) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto impl = []() -> other_actor::behavior_type {
    return {[](broadcaster::bc_publish_atom, const std::string&) {
      return 0;
    }};
  };
  auto handle = sys.spawn(impl);
  auto port = sys.middleman().publish(handle, 0, "127.0.0.1");
  if (!port) {
    std::cerr << "publish failed: " << sys.render(port.error()) << '\n';
    return 1;
  }
  std::cout << "listening on 127.0.0.1:" << *port << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  return 0;
}

int run_subscribe(caf::actor_system& sys, const std::string& host,
                  uint16_t port, const std::string& channel, int count) {
  auto bc = sys.middleman().remote_actor<broadcaster::broadcast_actor>(host,
                                                                       port);
  if (!bc) {
    auto err = broadcaster::explain_connect_error(bc.error(), host, port);
    std::cout << "error: " << broadcaster::describe(err) << std::endl;
    return 1;
  }
  caf::scoped_actor self{sys};
  self
    ->request(*bc, std::chrono::seconds{10},
              broadcaster::bc_subscribe_atom::value, channel,
              caf::actor_cast<caf::actor>(self.ptr()),
              broadcaster::subscribe_options{})
    .receive(
      [&](broadcaster::subscription&) {
        std::cout << "subscribed" << std::endl;
      },
      [&](caf::error& err) {
        std::cout << "error: " << broadcaster::describe(err) << std::endl;
        count = -1;
      });
  if (count < 0) {
    return 1;
  }
  int received = 0;
  while (received < count) {
    self->receive([&](broadcaster::event_batch& batch) {
      for (const auto& ev : batch.events) {
        std::cout << "event: " << ev.channel << ' ' << ev.message
                  << std::endl;
        ++received;
      }
      broadcaster::acknowledge(self.ptr(), batch.events.size());
    });
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  config cfg;
  caf::actor_system sys{cfg};
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "mismatch") {
    return run_mismatch(sys);
  }
  if (mode == "subscribe" && argc == 6) {
    return run_subscribe(sys, argv[2],
                         static_cast<uint16_t>(std::stoi(argv[3])), argv[4],
                         std::stoi(argv[5]));
  }
  std::cerr << "usage: node_helper mismatch | node_helper subscribe HOST "
               "PORT CHANNEL COUNT\n";
  return 2;
}
