#include "chat_config.hpp"

#include <algorithm>
#include <thread>

#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/pec.hpp>
#include <caf/sec.hpp>

#include "broadcaster/broadcast.hpp"

namespace broadcaster::chat {

namespace {

// CAF reads only --name=value. This joins "--name value" pairs for every
// option that takes a value, so both spellings work.
std::vector<std::string> join_values(const caf::config_option_set& options,
                                     int argc, char** argv) {
  std::vector<std::string> result;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool long_option = arg.size() > 2 && arg.compare(0, 2, "--") == 0
                       && arg.find('=') == std::string::npos;
    if (long_option && i + 1 < argc) {
      auto option = options.cli_long_name_lookup(
        caf::string_view{arg}.substr(2));
      if (option != nullptr && !option->is_flag()) {
        arg += '=';
        arg += argv[++i];
      }
    }
    result.push_back(std::move(arg));
  }
  return result;
}

// Returns the named field of a CAF parser error's context, or "".
std::string context_field(const caf::error& err, const std::string& key) {
  const auto& ctx = err.context();
  if (!ctx.match_elements<caf::config_value::dictionary>()) {
    return {};
  }
  const auto& fields = ctx.get_as<caf::config_value::dictionary>(0);
  auto i = fields.find(key);
  if (i == fields.end()) {
    return {};
  }
  if (auto text = caf::get_if<std::string>(&i->second)) {
    return *text;
  }
  return caf::to_string(i->second);
}

// "unexpected_character" reads better as "unexpected character".
std::string words_of(caf::pec code) {
  auto text = caf::to_string(code);
  std::replace(text.begin(), text.end(), '_', ' ');
  return text;
}

std::string describe_parse_error(const caf::error& err,
                                 const std::string& config_file) {
  const std::string hint = "; run broadcaster-chat --help for the options";
  if (err.category() == caf::atom("parser")) {
    auto code = static_cast<caf::pec>(err.code());
    auto argument = context_field(err, "argument");
    if (argument.empty()) {
      auto line = context_field(err, "line");
      auto column = context_field(err, "column");
      return "invalid configuration file " + config_file + " at line "
             + line + ", column " + column + ": " + words_of(code);
    }
    switch (code) {
      case caf::pec::not_an_option:
        return "unknown option " + argument + hint;
      case caf::pec::missing_argument:
        return "option " + argument + " needs a value, as in " + argument
               + "=VALUE";
      case caf::pec::integer_overflow:
      case caf::pec::integer_underflow:
        return "invalid value in " + argument + ": out of range" + hint;
      default:
        return "invalid value in " + argument + ": " + words_of(code) + hint;
    }
  }
  if (err.category() == caf::atom("system")
      && static_cast<caf::sec>(err.code()) == caf::sec::cannot_open_file) {
    return "cannot open configuration file " + config_file;
  }
  return "invalid configuration: " + caf::to_string(err);
}

std::string check_range(const char* name, size_t value, size_t min,
                        size_t max) {
  if (value < min || value > max) {
    return "invalid value in --" + std::string{name} + "="
           + std::to_string(value) + ": expected " + std::to_string(min)
           + " to " + std::to_string(max);
  }
  return {};
}

} // namespace

chat_config::chat_config() {
  register_types(*this);
  // CAF 0.17 starts four scheduler threads by default, even on two cores.
  // The chat's actors do little work per message, so one thread per core
  // is enough.
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  set("scheduler.max-threads", static_cast<size_t>(cores));
  opt_group{custom_options_, "global"}
    .add(backend, "backend",
         "backend URL, such as memory:// or redis://host:6379 "
         "(default: memory://)")
    .add(server.host, "host",
         "address or host name to listen on (default: 127.0.0.1)")
    .add(server.port, "port",
         "TCP port to listen on, 0 picks a free one (default: 8000)")
    .add(server.max_message_size, "max-message-size",
         "largest message a browser may send, in bytes; larger ones close "
         "the connection with status 1009 (default: 4096)")
    .add(server.max_send_queue, "max-send-queue",
         "messages queued for one browser before it counts as too slow and "
         "is disconnected with status 1008 (default: 256)")
    .add(server.max_connections, "max-connections",
         "maximum number of open WebSocket connections, 0 for no limit; "
         "further upgrade requests get HTTP status 503 (default: 1000)")
    .add(server.io_threads, "io-threads",
         "threads that run the network I/O; the actors run on "
         "--scheduler.max-threads threads, one per CPU core by default "
         "(default: 1)");
}

std::string chat_config::parse_arguments(int argc, char** argv) {
  auto args = join_values(custom_options_, argc, argv);
  if (auto err = parse(std::move(args))) {
    auto file = config_file_path.empty() ? std::string{"caf-application.ini"}
                                         : config_file_path;
    return describe_parse_error(err, file);
  }
  if (cli_helptext_printed) {
    return {};
  }
  if (!remainder.empty()) {
    return "unexpected argument " + remainder.front()
           + "; options take the form --name=value";
  }
  if (server.host.empty()) {
    return "invalid value in --host: the address is empty";
  }
  if (auto err = check_range("max-message-size", server.max_message_size, 1,
                             max_message_size_limit);
      !err.empty()) {
    return err;
  }
  if (auto err = check_range("max-send-queue", server.max_send_queue, 1,
                             max_send_queue_limit);
      !err.empty()) {
    return err;
  }
  if (auto err = check_range("max-connections", server.max_connections, 0,
                             max_connections_limit);
      !err.empty()) {
    return err;
  }
  if (auto err = check_range("io-threads", server.io_threads, 1,
                             max_io_threads);
      !err.empty()) {
    return err;
  }
  return {};
}

} // namespace broadcaster::chat
