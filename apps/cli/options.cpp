#include <algorithm>
#include <charconv>
#include <sstream>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "broadcaster/broadcast.hpp"
#include "broadcaster/builtin.hpp"
#include "cli.hpp"

namespace broadcaster::cli {

namespace {

const option_spec timeout_option{
  "timeout", "DURATION",
  "limit for connecting and for each request, as 500ms, 5s or a number "
  "of milliseconds; default: 10s"};

const option_spec help_option{"help", "", "print this help and exit"};

std::string format_option(const std::string& value) {
  return "output format, text or json; default: " + value;
}

// Breaks `text` into lines of at most 80 columns, the first one starting
// at column `first` and the others indented by `indent` spaces.
std::string wrap(const std::string& text, size_t first, size_t indent) {
  std::string out;
  size_t column = first;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    auto word = text.substr(pos, end - pos);
    if (column > indent && column + 1 + word.size() > 80) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    } else if (column > first || (column > indent && !out.empty())) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    pos = end + 1;
  }
  return out;
}

} // namespace

const command_spec publish_spec{
  "publish",
  "broadcaster publish URL CHANNEL [MESSAGE] [options]",
  "Publishes MESSAGE on CHANNEL, or each line of standard input (without "
  "its line break) when MESSAGE is absent. Stops at the first failed "
  "publish.",
  {timeout_option, help_option}};

const command_spec subscribe_spec{
  "subscribe",
  "broadcaster subscribe URL CHANNEL... [options]",
  "Subscribes to each CHANNEL and prints events to standard output as they "
  "arrive, until --count events arrived, SIGINT (Ctrl-C) or SIGTERM, or "
  "standard output is closed. Prints `subscribed: CHANNEL` to standard "
  "error once each subscription is active. Status messages go to standard "
  "error in text format and to standard output as objects in json format.",
  {{"pattern", "", "treat each CHANNEL as a glob pattern (*, ?, [a-z], "
                   "[^a], \\ to escape); default: off"},
   {"history", "N",
    "first deliver the last N stored events of each channel, if the "
    "backend stores events; default: 0 (live events only)"},
   {"count", "N", "exit after N events; default: 0 (no limit)"},
   {"format", "FORMAT", format_option("text")},
   timeout_option,
   help_option}};

const command_spec history_spec{
  "history",
  "broadcaster history URL CHANNEL [options]",
  "Prints stored events of CHANNEL, newest first. When older events exist, "
  "prints to standard error the --before value that continues the listing.",
  {{"limit", "N", "maximum number of events, 1 to 1000000; default: 10"},
   {"before", "ID", "only events older than the event with this id; "
                    "default: start at the newest event"},
   {"format", "FORMAT", format_option("text")},
   timeout_option,
   help_option}};

const command_spec stats_spec{
  "stats",
  "broadcaster stats URL [options]",
  "Prints counters: channels, subscribers, published, delivered and "
  "dropped events, per channel and of the backend. For caf://HOST:PORT the "
  "counters are those of the node that serves there.",
  {{"format", "FORMAT", format_option("text")}, timeout_option,
   help_option}};

const command_spec serve_spec{
  "serve",
  "broadcaster serve --port N [options]",
  "Runs a CAF node that publishes a broadcast supervisor through CAF's "
  "middleman, so that other processes reach it as caf://HOST:PORT. Prints "
  "`listening on HOST:PORT` once it accepts connections and runs until "
  "SIGINT or SIGTERM.",
  {{"host", "ADDRESS",
    "address to listen on; default: 127.0.0.1 (loopback only)"},
   {"port", "N",
    "TCP port to listen on; 0 picks a free port and prints it; required"},
   {"backend", "URL",
    "backend of the supervisor, any URL that `broadcaster publish` "
    "accepts; default: memory://"},
   {"metrics-port", "N",
    "also serve the counters in the Prometheus text format at "
    "http://127.0.0.1:N/metrics; 0 picks a free port; default: off"},
   help_option}};

parsed_args parse_args(const command_spec& spec,
                       const std::vector<std::string>& args) {
  parsed_args result;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      result.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      result.help = true;
      continue;
    }
    if (arg[1] != '-') {
      // Single-dash arguments other than -h are values, such as a message
      // "-1".
      result.positionals.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    auto name = arg.substr(2, eq == std::string::npos ? std::string::npos
                                                      : eq - 2);
    if (name == "config-file" || name.find('.') != std::string::npos) {
      if (eq == std::string::npos) {
        if (i + 1 >= args.size()) {
          throw usage_error("option --" + name + " needs a value");
        }
        result.caf_args.push_back(arg + "=" + args[++i]);
      } else {
        result.caf_args.push_back(arg);
      }
      continue;
    }
    auto known = std::find_if(spec.options.begin(), spec.options.end(),
                              [&](const option_spec& x) {
                                return x.name == name && x.name != "help";
                              });
    if (known == spec.options.end()) {
      throw usage_error("unknown option --" + name + " for "
                        + spec.name);
    }
    if (known->value_name.empty()) {
      if (eq != std::string::npos) {
        auto value = arg.substr(eq + 1);
        if (value != "true" && value != "false") {
          throw usage_error("option --" + name
                            + " is a flag; it takes no value or "
                              "true/false, got \""
                            + value + "\"");
        }
        result.values[name] = value;
      } else {
        result.values[name] = "true";
      }
      continue;
    }
    if (eq != std::string::npos) {
      result.values[name] = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      result.values[name] = args[++i];
    } else {
      throw usage_error("option --" + name + " needs a value ("
                        + known->value_name + ")");
    }
  }
  return result;
}

std::string help_text(const command_spec& spec) {
  std::ostringstream out;
  out << "usage: " << spec.usage << "\n\n" << wrap(spec.summary, 0, 0)
      << "\n\noptions:\n";
  for (const auto& opt : spec.options) {
    std::string left = opt.name == "help" ? "-h, --help" : "--" + opt.name;
    if (!opt.value_name.empty()) {
      left += " " + opt.value_name;
    }
    out << "  " << left;
    if (left.size() < 22) {
      out << std::string(22 - left.size(), ' ');
    } else {
      out << "\n" << std::string(24, ' ');
    }
    out << wrap(opt.help, 24, 24) << "\n";
  }
  std::string urls = "URL is any backend URL this program was built with: "
                     "memory://, caf://HOST:PORT (a `broadcaster serve` "
                     "node)";
  for (const auto& scheme : builtin_schemes().schemes()) {
    if (scheme != "memory" && scheme != "caf") {
      urls += ", " + scheme + "://...";
    }
  }
  out << "\n"
      << wrap("Options can also be set in the [" + spec.name
                + "] section of the CAF configuration file "
                  "(caf-application.ini in the working directory, or "
                  "--config-file=FILE), with strings in double quotes; the "
                  "command line wins. CAF's own options, such as "
                  "--scheduler.max-threads=N or "
                  "--middleman.heartbeat-interval=1s, are passed to CAF.",
              0, 0)
      << "\n\n" << wrap(urls + ".", 0, 0)
      << "\n\nExit codes: 0 success, 1 failure, 2 usage or configuration "
         "error.\n";
  return out.str();
}

config::config() {
  register_types(*this);
  load<caf::io::middleman>();
  // Heartbeats let the remote side of a connection notice a silent
  // partition when it sets middleman.connection-timeout.
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds{1}});
  opt_group{custom_options_, "broadcaster"}.add(
    timeout, "timeout", "limit for connecting and for each request");
  opt_group{custom_options_, "subscribe"}
    .add(pattern, "pattern", "treat channels as glob patterns")
    .add(history, "history", "number of stored events to deliver first")
    .add(count, "count", "exit after this many events, 0 for no limit")
    .add(subscribe_format, "format", "text or json");
  opt_group{custom_options_, "history"}
    .add(limit, "limit", "maximum number of events")
    .add(before, "before", "only events older than this id")
    .add(history_format, "format", "text or json");
  opt_group{custom_options_, "stats"}.add(stats_format, "format",
                                          "text or json");
  opt_group{custom_options_, "serve"}
    .add(host, "host", "address to listen on")
    .add(port, "port", "TCP port to listen on, 0 for any")
    .add(backend, "backend", "backend URL of the supervisor")
    .add(metrics_port, "metrics-port", "port of the metrics endpoint");
}

std::chrono::milliseconds parse_duration(const std::string& option,
                                         const std::string& value) {
  uint64_t number = 0;
  auto first = value.data();
  auto last = first + value.size();
  auto [ptr, ec] = std::from_chars(first, last, number);
  std::string unit{ptr, static_cast<size_t>(last - ptr)};
  uint64_t factor = 0;
  if (unit.empty() || unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  }
  if (value.empty() || ec != std::errc{} || factor == 0 || number == 0
      || number > 86'400'000 / factor) {
    throw usage_error("invalid value for --" + option + ": \"" + value
                      + "\"; expected a duration such as 500ms or 5s, "
                        "from 1ms to 24h");
  }
  return std::chrono::milliseconds{static_cast<int64_t>(number * factor)};
}

uint64_t parse_unsigned(const std::string& option, const std::string& value,
                        uint64_t min, uint64_t max) {
  uint64_t number = 0;
  auto first = value.data();
  auto last = first + value.size();
  auto [ptr, ec] = std::from_chars(first, last, number);
  if (value.empty() || ec != std::errc{} || ptr != last || number < min
      || number > max) {
    throw usage_error("invalid value for --" + option + ": \"" + value
                      + "\"; expected a whole number from "
                      + std::to_string(min) + " to " + std::to_string(max));
  }
  return number;
}

std::chrono::milliseconds timeout_of(const config& cfg) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(cfg.timeout);
}

output_format parse_format(const std::string& value) {
  if (value == "text") {
    return output_format::text;
  }
  if (value == "json") {
    return output_format::json;
  }
  throw usage_error("invalid value for --format: \"" + value
                    + "\"; expected text or json");
}

void load_config(config& cfg, const std::string& command,
                 const parsed_args& args) {
  std::vector<std::string> caf_args = args.caf_args;
  if (auto err = cfg.parse(caf_args)) {
    throw usage_error("invalid CAF option or configuration file: "
                      + cfg.render(err));
  }
  if (!cfg.remainder.empty()) {
    throw usage_error("CAF did not accept the argument \""
                      + cfg.remainder.front() + "\"");
  }
  for (const auto& [name, value] : args.values) {
    if (name == "timeout") {
      cfg.timeout = parse_duration(name, value);
    } else if (name == "pattern") {
      cfg.pattern = value == "true";
    } else if (name == "history" && command == "subscribe") {
      cfg.history = parse_unsigned(name, value, 0, 100'000'000);
    } else if (name == "count") {
      cfg.count = parse_unsigned(name, value, 0, UINT64_MAX);
    } else if (name == "format") {
      if (command == "subscribe") {
        cfg.subscribe_format = value;
      } else if (command == "history") {
        cfg.history_format = value;
      } else {
        cfg.stats_format = value;
      }
    } else if (name == "limit") {
      cfg.limit = parse_unsigned(name, value, 1, 1'000'000);
    } else if (name == "before") {
      cfg.before = value;
    } else if (name == "host") {
      if (value.empty()) {
        throw usage_error("invalid value for --host: empty address");
      }
      cfg.host = value;
    } else if (name == "port") {
      cfg.port = static_cast<int64_t>(parse_unsigned(name, value, 0, 65535));
    } else if (name == "backend") {
      cfg.backend = value;
    } else if (name == "metrics-port") {
      cfg.metrics_port = static_cast<int64_t>(
        parse_unsigned(name, value, 0, 65535));
    }
  }
  if (cfg.timeout <= caf::timespan{0}) {
    throw usage_error("timeout must be positive");
  }
  // Values from the configuration file get the same checks.
  parse_format(cfg.subscribe_format);
  parse_format(cfg.history_format);
  parse_format(cfg.stats_format);
  if (cfg.limit == 0 || cfg.limit > 1'000'000) {
    throw usage_error("history limit must be from 1 to 1000000, got "
                      + std::to_string(cfg.limit));
  }
  if (cfg.port > 65535 || cfg.port < -1) {
    throw usage_error("serve port must be from 0 to 65535, got "
                      + std::to_string(cfg.port));
  }
  if (cfg.metrics_port > 65535 || cfg.metrics_port < -1) {
    throw usage_error("serve metrics-port must be from 0 to 65535, got "
                      + std::to_string(cfg.metrics_port));
  }
}

} // namespace broadcaster::cli
