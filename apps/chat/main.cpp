// broadcaster-chat: serves a chat page and relays every line typed in any
// browser to every browser, through a broadcast backend chosen by URL.

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <pthread.h>

#include <caf/all.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/builtin.hpp"
#include "broadcaster/log.hpp"
#include "chat_config.hpp"
#include "chat_server.hpp"

namespace {

std::string page_url(const std::string& host, uint16_t port) {
  auto name = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return "http://" + name + ":" + std::to_string(port) + "/";
}

} // namespace

int main(int argc, char** argv) {
  using namespace broadcaster;
  chat::chat_config cfg;
  auto problem = cfg.parse_arguments(argc, argv);
  if (!problem.empty()) {
    std::cerr << "broadcaster-chat: " << problem << '\n';
    return EXIT_FAILURE;
  }
  if (cfg.cli_helptext_printed) {
    return EXIT_SUCCESS;
  }

  // SIGINT and SIGTERM stay blocked in every thread, including those that
  // CAF and Asio start below, so only sigwait() in this thread receives
  // them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = logger("chat");
  caf::actor_system sys{cfg};
  auto bc = spawn_broadcast(sys, cfg.backend, builtin_schemes());
  if (!bc) {
    std::cerr << "broadcaster-chat: invalid --backend: "
              << describe(bc.error()) << '\n';
    return EXIT_FAILURE;
  }

  // spawn_broadcast accepted the URL, so it parses.
  auto backend_name = parse_url(cfg.backend)->redacted();
  chat::chat_server server{sys, *bc, cfg.server};
  if (auto err = server.start(); !err.empty()) {
    std::cerr << "broadcaster-chat: " << err
              << "; choose another --host or --port\n";
    caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
    return EXIT_FAILURE;
  }

  log->info("chat server started: host = {}, port = {}, backend = {}, "
            "channel = {}, max_message_size = {}, max_send_queue = {}, "
            "io_threads = {}, scheduler_threads = {}",
            cfg.server.host, server.port(), backend_name,
            cfg.server.channel, cfg.server.max_message_size,
            cfg.server.max_send_queue, cfg.server.io_threads,
            sys.scheduler().num_workers());
  std::cout << "broadcaster-chat listening on "
            << page_url(cfg.server.host, server.port()) << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log->info("shutting down: signal = {}", strsignal(signal_number));
  server.stop();
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  return EXIT_SUCCESS;
}
