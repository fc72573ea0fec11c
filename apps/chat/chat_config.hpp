#pragma once

// Options of broadcaster-chat, read by CAF's configuration system from the
// command line (--name=value or --name value) and from caf-application.ini
// or the file named by --config-file.

#include <string>

#include <caf/actor_system_config.hpp>

#include "chat_server.hpp"

namespace broadcaster::chat {

/// Upper bounds of the numeric options.
constexpr size_t max_message_size_limit = 16 * 1024 * 1024;
constexpr size_t max_send_queue_limit = 1'000'000;
constexpr size_t max_io_threads = 256;
constexpr size_t max_connections_limit = 1'000'000;

class chat_config : public caf::actor_system_config {
public:
  chat_config();

  /// URL of the broadcast backend.
  std::string backend = "memory://";

  /// Settings of the HTTP and WebSocket server.
  server_options server;

  /// Reads the command line and the configuration file into this object
  /// and checks the values. Returns an empty string on success, or an
  /// error message for standard error. Check `cli_helptext_printed`
  /// afterwards: `--help` and `--dump-config` print and succeed.
  std::string parse_arguments(int argc, char** argv);
};

} // namespace broadcaster::chat
