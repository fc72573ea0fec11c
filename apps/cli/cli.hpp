#pragma once

// Internal declarations of the `broadcaster` command-line tool.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "broadcaster/interfaces.hpp"
#include "broadcaster/types.hpp"

namespace broadcaster::cli {

/// Exit codes of every command.
enum exit_code : int {
  exit_ok = 0,
  /// The operation failed: unreachable backend, rejected publish, timeout.
  exit_failure = 1,
  /// Wrong command line or configuration: unknown command or option,
  /// invalid value, invalid URL, or a scheme or request that this build or
  /// backend does not support.
  exit_usage = 2,
};

/// A command-line or configuration error; main() prints it with a hint to
/// `--help` and exits with `exit_usage`.
class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// One option of a command, as shown by `--help`.
struct option_spec {
  std::string name;
  /// Placeholder of the value in the help text, or empty for a flag.
  std::string value_name;
  std::string help;
};

/// Description of one command for parsing and `--help`.
struct command_spec {
  std::string name;
  std::string usage;
  std::string summary;
  std::vector<option_spec> options;
};

/// The command line after the command name.
struct parsed_args {
  std::vector<std::string> positionals;
  /// Options of the command that were given, by name, flags as "true".
  std::map<std::string, std::string> values;
  /// Arguments for CAF itself: `--config-file=FILE` and options with a dot
  /// in their name, such as `--scheduler.max-threads=2`.
  std::vector<std::string> caf_args;
  bool help = false;
};

/// Splits `args` into positionals, options of `spec` and CAF options.
/// Accepts `--name value` and `--name=value`; throws usage_error for
/// unknown options and missing values.
parsed_args parse_args(const command_spec& spec,
                       const std::vector<std::string>& args);

/// Returns the help text of a command.
std::string help_text(const command_spec& spec);

/// Settings of every command. CAF reads them from the configuration file
/// (`caf-application.ini` or `--config-file`), one section per command,
/// and the command line overrides them.
struct config : caf::actor_system_config {
  config();

  // [broadcaster]
  caf::timespan timeout = std::chrono::seconds{10};

  // [subscribe]
  bool pattern = false;
  uint64_t history = 0;
  uint64_t count = 0;
  std::string subscribe_format = "text";

  // [history]
  uint64_t limit = 10;
  std::string before;
  std::string history_format = "text";

  // [stats]
  std::string stats_format = "text";

  // [serve]
  std::string host = "127.0.0.1";
  /// -1 until set, because serve requires a port.
  int64_t port = -1;
  std::string backend = "memory://";
  /// -1 for no metrics endpoint.
  int64_t metrics_port = -1;
};

/// Parses the CAF arguments and the configuration file into `cfg`, then
/// applies the options given on the command line. Throws usage_error.
void load_config(config& cfg, const std::string& command,
                 const parsed_args& args);

/// Converts `--timeout` and similar values: a number with unit `ms` or `s`,
/// or a plain number of milliseconds.
std::chrono::milliseconds parse_duration(const std::string& option,
                                         const std::string& value);

/// Converts an unsigned integer option in [min, max].
uint64_t parse_unsigned(const std::string& option, const std::string& value,
                        uint64_t min, uint64_t max);

/// Returns the timeout of `cfg` in milliseconds.
std::chrono::milliseconds timeout_of(const config& cfg);

/// Tells the main loop of a command to stop: `(cli_stop_atom, cause)`.
using cli_stop_atom = caf::atom_constant<caf::atom("clistop")>;

/// Returns the exit code for an error of the library: `exit_usage` for
/// invalid URLs, options, channel names and ids and for unsupported
/// requests, else `exit_failure`.
int exit_code_for(const caf::error& err);

/// Spawns the supervisor for `url` from every backend this program was
/// built with. Prints the error and returns nothing on failure; `code`
/// receives the exit code then.
std::optional<broadcast_actor> open_backend(caf::actor_system& sys,
                                            const std::string& url,
                                            int& code);

/// Writes `text` to standard output and flushes it. Returns false once
/// standard output is closed or broken.
bool write_stdout(const std::string& text);

/// Writes one line to standard error.
void write_stderr(const std::string& line);

// -- output -------------------------------------------------------------------

enum class output_format { text, json };

/// Converts a `--format` value; throws usage_error.
output_format parse_format(const std::string& value);

/// Renders an event as one line without the newline: `channel: message` in
/// text, a JSON object in json.
std::string format_event(const event& ev, output_format format);

/// Renders an event of a history page: `[id] channel: message` in text.
std::string format_history_event(const event& ev, output_format format);

/// Renders a status message as one line.
std::string format_status(const status_event& status, output_format format);

/// Renders a notice about skipped events as one line.
std::string format_skipped(const events_skipped& skipped,
                           output_format format);

/// Renders counters as text lines or one JSON object.
std::string format_stats(const broadcast_stats& stats, output_format format);

/// Renders counters in the Prometheus text exposition format 0.0.4.
std::string format_prometheus(const broadcast_stats& stats);

/// Returns true if `text` is valid UTF-8.
bool is_utf8(const std::string& text);

// -- commands -----------------------------------------------------------------

/// The parts of a command's start-up that differ between commands.
struct command_setup {
  const command_spec& spec;
  /// Allowed number of positional arguments. The first one is the backend
  /// URL unless `backend_url` is set.
  size_t min_args = 0;
  size_t max_args = 0;
  /// Number of positionals after the URL that are channel names, checked
  /// before the backend starts; SIZE_MAX for all of them.
  size_t channels = 0;
  /// Whether `--pattern` makes the channel names glob patterns.
  bool pattern_option = false;
  /// Blocks SIGINT and SIGTERM before CAF starts its threads, for a
  /// stop_watcher.
  bool watch_signals = false;
  /// Sets defaults that the configuration file and command line override.
  void (*preset)(config&) = nullptr;
  /// Checks the loaded configuration; throws usage_error.
  void (*check)(const config&) = nullptr;
  /// Returns the backend URL from the configuration instead of the first
  /// positional.
  std::string (*backend_url)(const config&) = nullptr;
};

/// The arguments, settings, actor system and backend of a command whose
/// backend is open.
struct command_context {
  const parsed_args& args;
  const config& cfg;
  caf::actor_system& sys;
  /// The supervisor of the backend; run_command ends it afterwards.
  broadcast_actor backend;
};

using command_body = std::function<int(command_context&)>;

/// Runs a command: parses `raw`, prints the help if requested, loads the
/// configuration, starts the actor system and opens the backend, then
/// calls `body` and returns its exit code. Prints the error and returns
/// its exit code if a channel name or the backend URL is invalid. Throws
/// usage_error for the command line and the configuration. The actor
/// system gets a bounded time to shut down; past it, the process exits
/// with the command's code at once.
int run_command(const command_setup& setup,
                const std::vector<std::string>& raw,
                const command_body& body);

int run_publish(const std::vector<std::string>& args);
int run_subscribe(const std::vector<std::string>& args);
int run_history(const std::vector<std::string>& args);
int run_stats(const std::vector<std::string>& args);
int run_serve(const std::vector<std::string>& args);

extern const command_spec publish_spec;
extern const command_spec subscribe_spec;
extern const command_spec history_spec;
extern const command_spec stats_spec;
extern const command_spec serve_spec;

} // namespace broadcaster::cli
