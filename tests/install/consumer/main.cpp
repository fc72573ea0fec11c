// A program built by a separate CMake project against the installed
// library: it registers its own backend and round-trips one message
// through it and through memory://. Exits 0 on success.

#include <iostream>

#include <caf/all.hpp>

#include <broadcaster/broadcast.hpp>

#include "loop_backend.hpp"

namespace {

struct config : caf::actor_system_config {
  config() {
    broadcaster::register_types(*this);
    set("scheduler.max-threads", 2);
  }
};

int round_trip(caf::actor_system& sys, const broadcaster::broadcast_actor& bc,
               const char* label) {
  using namespace std::chrono_literals;
  auto sub = broadcaster::subscribe_blocking(sys, bc, "greetings");
  if (!sub) {
    std::cerr << label << ": subscribe failed: "
              << broadcaster::describe(sub.error()) << '\n';
    return 1;
  }
  auto ack = broadcaster::publish_blocking(sys, bc, "greetings", "hello");
  if (!ack) {
    std::cerr << label << ": publish failed: "
              << broadcaster::describe(ack.error()) << '\n';
    return 1;
  }
  auto ev = sub->next(10s);
  if (!ev || ev->message != "hello") {
    std::cerr << label << ": no event received\n";
    return 1;
  }
  std::cout << label << ": received " << ev->message << " on "
            << ev->channel << '\n';
  return 0;
}

} // namespace

int main() {
  config cfg;
  caf::actor_system sys{cfg};
  auto table = broadcaster::memory_schemes();
  table.add("loop", loop::make_loop_backend);
  int failures = 0;
  for (auto url : {"memory://", "loop://"}) {
    auto bc = broadcaster::spawn_broadcast(sys, url, table);
    if (!bc) {
      std::cerr << url << ": " << broadcaster::describe(bc.error()) << '\n';
      return 1;
    }
    failures += round_trip(sys, *bc, url);
    caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  }
  return failures == 0 ? 0 : 1;
}
