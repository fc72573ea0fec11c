// broadcaster-bench: measures the broadcaster library against raw
// baselines on the same machine in one run. See docs/benchmarks.md.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "bench.hpp"
#include "broadcaster/broadcast.hpp"
#include "broadcaster/builtin.hpp"
#include "processes.hpp"

namespace {

const char* usage_text = R"(usage: broadcaster-bench [options]

Measures broadcaster's memory://, caf:// and redis:// backends and the raw
baselines (hiredis, CAF local groups) in one run, prints a table and the
targets, and writes results.csv and PNG plots to the output folder.

  --backends=LIST          product backends: memory,caf,redis (default all)
  --cases=LIST             fanout,channels,latency,idle,stalled (default all)
  --duration=SECONDS       measured time per throughput case (default 1)
  --warmup=SECONDS         unmeasured time before it (default 0.3)
  --latency-duration=SECONDS  measured time per latency case (default 3)
  --rate=N                 messages per second of the latency cases
                           (default 10000)
  --idle-subscriptions=N   subscriptions of the idle case (default 100000)
  --subscribers=LIST       subscriber counts of the fan-out cases
                           (default 1,10,100,1000)
  --payloads=LIST          payload sizes in bytes (default 32,1024)
  --channels=N             channels of the multi-channel case (default 100)
  --stalled-rounds=N       rounds of the stalled case (default 5)
  --window=N               publish requests in flight per publisher
                           (default 256)
  --max-lag=N              events per subscriber a publisher may run ahead
                           of delivery, on average over the subscribers
                           (default 1024)
  --threads=N              CAF scheduler.max-threads (default: cores)
  --policy=NAME            CAF scheduler.policy: stealing or sharing
                           (default stealing)
  --max-throughput=N       CAF scheduler.max-throughput (default unlimited)
  --caf=NAME=VALUE         any other CAF setting, for the product and the
                           CAF group alike; repeatable, for example
                           --caf=work-stealing.moderate-poll-attempts=0
  --baselines=on|off       run the raw baselines (default on; off only to
                           profile the product alone)
  --output-dir=DIR         folder for results.csv and the plots
                           (default bench-results)
  --help                   this text
)";

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in{text};
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

std::vector<size_t> split_sizes(const std::string& text) {
  std::vector<size_t> result;
  for (const auto& part : split(text)) {
    result.push_back(std::stoul(part));
  }
  return result;
}

// Parses the command line into `opts`. Returns an error message or empty.
std::string parse(int argc, char** argv, bench::options& opts,
                  bool& serve_node, bool& help) {
  opts.self_path = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      continue;
    }
    if (arg == "--serve-node") {
      serve_node = true;
      continue;
    }
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      return "invalid argument \"" + arg + "\"; options take the form "
             "--name=value (see --help)";
    }
    auto name = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    try {
      if (name == "backends") {
        opts.backends = split(value);
      } else if (name == "cases") {
        opts.cases = split(value);
      } else if (name == "duration") {
        opts.duration = std::stod(value);
      } else if (name == "warmup") {
        opts.warmup = std::stod(value);
      } else if (name == "latency-duration") {
        opts.latency_duration = std::stod(value);
      } else if (name == "rate") {
        opts.rate = std::stoull(value);
      } else if (name == "idle-subscriptions") {
        opts.idle_subscriptions = std::stoull(value);
      } else if (name == "subscribers") {
        opts.subscriber_counts = split_sizes(value);
      } else if (name == "payloads") {
        opts.payloads = split_sizes(value);
      } else if (name == "channels") {
        opts.channel_count = std::stoul(value);
      } else if (name == "stalled-rounds") {
        opts.stalled_rounds = std::stoi(value);
      } else if (name == "window") {
        opts.window = std::stoul(value);
      } else if (name == "max-lag") {
        opts.max_lag = std::stoul(value);
      } else if (name == "threads") {
        opts.threads = std::stoul(value);
      } else if (name == "policy") {
        opts.policy = value;
      } else if (name == "max-throughput") {
        opts.max_throughput = std::stoul(value);
      } else if (name == "caf") {
        auto eq = value.find('=');
        if (eq == std::string::npos || eq == 0) {
          return "invalid --caf=" + value + "; use --caf=NAME=VALUE";
        }
        auto setting = value.substr(eq + 1);
        if (!caf::config_value::parse(setting)) {
          return "invalid value \"" + setting + "\" in --caf=" + value;
        }
        opts.caf_settings.emplace_back(value.substr(0, eq), setting);
      } else if (name == "baselines") {
        if (value != "on" && value != "off") {
          return "invalid --baselines=" + value + "; use on or off";
        }
        opts.baselines = value == "on";
      } else if (name == "output-dir") {
        opts.output_dir = value;
      } else {
        return "unknown option --" + name + " (see --help)";
      }
    } catch (const std::exception&) {
      return "invalid value \"" + value + "\" for --" + name;
    }
  }
  if (opts.policy != "stealing" && opts.policy != "sharing") {
    return "invalid --policy=" + opts.policy + "; use stealing or sharing";
  }
  if (opts.rate == 0 || opts.window == 0 || opts.channel_count == 0) {
    return "--rate, --window and --channels must be at least 1";
  }
  for (const auto& b : opts.backends) {
    if (b != "memory" && b != "caf" && b != "redis") {
      return "unknown backend \"" + b + "\" in --backends; use memory, caf "
             "or redis";
    }
  }
  for (const auto& c : opts.cases) {
    if (c != "fanout" && c != "channels" && c != "latency" && c != "idle"
        && c != "stalled") {
      return "unknown case \"" + c + "\" in --cases; use fanout, channels, "
             "latency, idle or stalled";
    }
  }
  return {};
}

// The child process behind caf://: a memory:// supervisor published on a
// loopback port, until SIGTERM or SIGINT.
int serve_node(const bench::options& opts) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Blocked before CAF starts its threads, so that they inherit the mask
  // and sigwait() below receives the signal.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int sig = 0;
  {
    bench::bench_config cfg{opts};
    caf::actor_system sys{cfg};
    auto bc = broadcaster::spawn_broadcast(sys, "memory://");
    if (!bc) {
      std::fprintf(stderr, "serve-node: %s\n",
                   broadcaster::describe(bc.error()).c_str());
      return 1;
    }
    auto port = sys.middleman().publish(*bc, 0, "127.0.0.1");
    if (!port) {
      std::fprintf(stderr, "serve-node: publish failed: %s\n",
                   sys.render(port.error()).c_str());
      return 1;
    }
    std::printf("port %u\n", static_cast<unsigned>(*port));
    std::fflush(stdout);
    sigwait(&signals, &sig);
    caf::anon_send_exit(*bc, caf::exit_reason::user_shutdown);
  }
  return 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Busy and total jiffies of all cores, from /proc/stat.
std::pair<uint64_t, uint64_t> cpu_jiffies() {
  std::ifstream in{"/proc/stat"};
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0,
           softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq
    >> steal;
  auto busy = user + nice + system + irq + softirq + steal;
  return {busy, busy + idle + iowait};
}

// User plus system jiffies of one process, from /proc/PID/stat.
uint64_t process_jiffies(pid_t pid) {
  if (pid <= 0) {
    return 0;
  }
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream in{text.substr(close + 2)};
  std::string field;
  uint64_t utime = 0, stime = 0;
  // Fields after the command name start at field 3 (state); utime and
  // stime are fields 14 and 15.
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) {
      utime = std::stoull(field);
    } else if (i == 15) {
      stime = std::stoull(field);
    }
  }
  return utime + stime;
}

std::string machine_description() {
  std::string model = "unknown";
  std::istringstream cpuinfo{read_file("/proc/cpuinfo")};
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::string memory = "unknown";
  std::istringstream meminfo{read_file("/proc/meminfo")};
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemTotal:", 0) == 0) {
      auto kib = std::stoull(line.substr(9));
      memory = std::to_string(kib / 1024) + " MiB";
      break;
    }
  }
  return "cores (nproc): "
         + std::to_string(std::thread::hardware_concurrency())
         + "\ncpu: " + model + "\nmemory: " + memory + "\n";
}

// Starts redis-server and, if this build has caf://, the node child, and
// records in `env` what is available.
void start_servers(const bench::options& opts, bench::environment& env,
                   bench::redis_server& redis, bench::node_server& node) {
  auto schemes = broadcaster::builtin_schemes();
  env.has_redis_scheme = schemes.find("redis") != nullptr;
  env.has_caf_scheme = schemes.find("caf") != nullptr;
  if (auto err = redis.start(); !err.empty()) {
    env.redis_problem = "redis-server: " + err;
  } else {
    env.redis_port = redis.port();
  }
  if (env.has_caf_scheme && opts.wants_backend("caf")) {
    std::vector<std::string> extra{
      "--threads=" + std::to_string(opts.threads), "--policy=" + opts.policy,
      "--max-throughput=" + std::to_string(opts.max_throughput)};
    for (const auto& [name, value] : opts.caf_settings) {
      extra.push_back("--caf=" + name + "=" + value);
    }
    if (auto err = node.start(opts.self_path, extra); !err.empty()) {
      env.node_problem = "caf node: " + err;
    } else {
      env.node_port = node.port();
    }
  }
}

// CPU time of the whole machine and of the processes of this run, to tell
// afterwards how much other processes took from the cores.
struct cpu_sample {
  std::pair<uint64_t, uint64_t> machine; // busy and total jiffies
  uint64_t ours = 0;                     // this process and its servers

  static cpu_sample take(pid_t redis, pid_t node) {
    return {cpu_jiffies(), process_jiffies(getpid()) + process_jiffies(redis)
                             + process_jiffies(node)};
  }
};

std::string noise_text(const cpu_sample& start, const cpu_sample& end,
                       double seconds) {
  auto busy = end.machine.first - start.machine.first;
  auto total = end.machine.second - start.machine.second;
  auto ours = end.ours - start.ours;
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  double foreign = 0;
  if (total > 0 && busy > ours) {
    foreign = static_cast<double>(busy - ours) / static_cast<double>(total)
              * cores;
  }
  char text[256];
  std::snprintf(text, sizeof(text),
                "run time: %.0f s\nload average at end: %s"
                "other processes used %.2f of %u cores during the run\n",
                seconds, read_file("/proc/loadavg").c_str(), foreign, cores);
  return text;
}

} // namespace

int main(int argc, char** argv) {
  bench::options opts;
  bool serve = false;
  bool help = false;
  if (auto err = parse(argc, argv, opts, serve, help); !err.empty()) {
    std::fprintf(stderr, "broadcaster-bench: %s\n", err.c_str());
    return 2;
  }
  if (help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  // The library logs each subscribe at info level; keep the progress
  // output readable unless the user chose a level.
  setenv("BROADCASTER_LOG_LEVEL", "warn", 0);
  if (serve) {
    return serve_node(opts);
  }

  auto machine = machine_description();
  machine += "CAF scheduler: policy = " + opts.policy + ", max-threads = "
             + (opts.threads == 0 ? std::string{"cores"}
                                  : std::to_string(opts.threads));
  for (const auto& [name, value] : opts.caf_settings) {
    machine += ", " + name + " = " + value;
  }
  machine += "\n";
  std::fprintf(stderr, "%sload average at start: %s", machine.c_str(),
               read_file("/proc/loadavg").c_str());
  bench::environment env;
  bench::redis_server redis;
  bench::node_server node;
  start_servers(opts, env, redis, node);

  auto cpu_start = cpu_sample::take(redis.pid(), node.pid());
  auto started = bench::clock_type::now();
  std::vector<bench::result> rows;
  if (opts.baselines) {
    rows = bench::run_baselines(opts, env);
  }
  auto product = bench::run_product_cases(opts, env);
  rows.insert(rows.end(), product.begin(), product.end());
  bench::attach_baselines(rows);
  std::chrono::duration<double> elapsed = bench::clock_type::now() - started;
  auto cpu_end = cpu_sample::take(redis.pid(), node.pid());

  machine += noise_text(cpu_start, cpu_end, elapsed.count());
  auto failed = bench::report(opts, rows, machine);
  std::printf("\n%s", machine.c_str());
  return failed == 0 ? 0 : 1;
}
