// broadcaster-chat: serves a chat page and relays every line typed in any
// browser to every browser, through a broadcast backend chosen by URL.

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <pthread.h>
#include <sys/resource.h>

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

// Descriptors that the server needs besides one per WebSocket connection:
// the listening socket, Asio's and CAF's internals, backend connections and
// plain HTTP requests for the page. This is an estimate.
constexpr rlim_t reserved_descriptors = 64;

// Raises the soft open-file limit, up to the hard one, when it is too low
// for --max-connections, so that accept() does not fail first. Warns if the
// limit stays too low.
void raise_descriptor_limit(spdlog::logger& log, size_t max_connections) {
  rlimit limit{};
  if (max_connections == 0 || getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return;
  }
  auto needed = static_cast<rlim_t>(max_connections) + reserved_descriptors;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) {
    return;
  }
  auto before = limit.rlim_cur;
  bool hard_suffices = limit.rlim_max == RLIM_INFINITY
                       || limit.rlim_max >= needed;
  limit.rlim_cur = hard_suffices ? needed : limit.rlim_max;
  if (limit.rlim_cur > before && setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    log.info("raised the open-file limit: from = {}, to = {}", before,
             limit.rlim_cur);
  } else {
    limit.rlim_cur = before;
  }
  if (limit.rlim_cur < needed) {
    log.warn("open-file limit too low for max_connections, so accept may "
             "fail first: open_file_limit = {}, max_connections = {}; raise "
             "the hard limit (ulimit -Hn) or lower --max-connections",
             limit.rlim_cur, max_connections);
  }
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
  raise_descriptor_limit(*log, cfg.server.max_connections);
  chat::chat_server server{sys, *bc, cfg.server};
  if (auto err = server.start(); !err.empty()) {
    std::cerr << "broadcaster-chat: " << err
              << "; choose another --host or --port\n";
    caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
    return EXIT_FAILURE;
  }

  log->info("chat server started: host = {}, port = {}, backend = {}, "
            "channel = {}, max_message_size = {}, max_send_queue = {}, "
            "max_connections = {}, io_threads = {}, scheduler_threads = {}",
            cfg.server.host, server.port(), backend_name,
            cfg.server.channel, cfg.server.max_message_size,
            cfg.server.max_send_queue, cfg.server.max_connections,
            cfg.server.io_threads, sys.scheduler().num_workers());
  std::cout << "broadcaster-chat listening on "
            << page_url(cfg.server.host, server.port()) << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log->info("shutting down: signal = {}", strsignal(signal_number));
  server.stop();
  caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  return EXIT_SUCCESS;
}
