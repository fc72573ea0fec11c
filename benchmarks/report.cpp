// The table on the terminal, the CSV file, the targets and the gnuplot
// plots.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "bench.hpp"

namespace bench {

namespace {

const result* find_row(const std::vector<result>& rows,
                       const std::string& group, const std::string& system,
                       const std::string& metric, size_t subscribers,
                       size_t channels, size_t payload) {
  for (const auto& r : rows) {
    if (r.group == group && r.system == system && r.metric == metric
        && r.subscribers == subscribers && r.channels == channels
        && r.payload == payload && !r.skipped) {
      return &r;
    }
  }
  return nullptr;
}

std::string format_value(const result& r, double x) {
  if (std::isnan(x)) {
    return "-";
  }
  char text[32];
  if (r.metric == "deliveries/s" || r.metric.rfind("deliveries/s", 0) == 0) {
    if (x >= 1e6) {
      std::snprintf(text, sizeof(text), "%.2fM", x / 1e6);
    } else {
      std::snprintf(text, sizeof(text), "%.1fk", x / 1e3);
    }
  } else if (r.metric.find("bytes") != std::string::npos && x >= 1 << 20) {
    std::snprintf(text, sizeof(text), "%.1f MiB", x / (1 << 20));
  } else {
    std::snprintf(text, sizeof(text), "%.0f", x);
  }
  return text;
}

std::string payload_text(size_t payload) {
  if (payload == 0) {
    return "-";
  }
  if (payload % 1024 == 0) {
    return std::to_string(payload / 1024) + " KiB";
  }
  return std::to_string(payload) + " B";
}

void print_table(const std::vector<result>& rows) {
  std::printf("\n%-10s %-10s %6s %4s %7s %-34s %10s %10s %7s  %s\n", "group",
              "system", "subs", "ch", "payload", "metric", "value",
              "baseline", "ratio", "note");
  for (const auto& r : rows) {
    auto ratio = r.ratio();
    char ratio_text[16] = "-";
    if (!std::isnan(ratio)) {
      std::snprintf(ratio_text, sizeof(ratio_text), "%.2f", ratio);
    }
    auto note = r.note;
    if (!r.baseline.empty()) {
      note = "vs " + r.baseline + (note.empty() ? "" : "; " + note);
    }
    std::printf("%-10s %-10s %6zu %4zu %7s %-34s %10s %10s %7s  %s\n",
                r.group.c_str(), r.system.c_str(), r.subscribers,
                r.channels, payload_text(r.payload).c_str(),
                r.metric.c_str(), format_value(r, r.value).c_str(),
                format_value(r, r.baseline_value).c_str(), ratio_text,
                note.c_str());
  }
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) {
    return text;
  }
  std::string quoted = "\"";
  for (auto ch : text) {
    quoted += ch == '"' ? std::string{"\"\""} : std::string(1, ch);
  }
  return quoted + "\"";
}

std::string number(double x) {
  if (std::isnan(x)) {
    return "";
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", x);
  return text;
}

void write_csv(const std::string& path, const std::vector<result>& rows) {
  std::ofstream out{path};
  out << "group,system,subscribers,channels,payload_bytes,metric,value,"
         "baseline,baseline_value,ratio,cpu_ns_per_delivery,events_per_batch,"
         "skipped,note\n";
  for (const auto& r : rows) {
    out << csv_field(r.group) << ',' << csv_field(r.system) << ','
        << r.subscribers << ',' << r.channels << ',' << r.payload << ','
        << csv_field(r.metric) << ',' << number(r.value) << ','
        << csv_field(r.baseline) << ',' << number(r.baseline_value) << ','
        << number(r.ratio()) << ',' << number(r.cpu_ns_per_delivery) << ','
        << number(r.events_per_batch) << ','
        << (r.skipped ? 1 : 0) << ','
        << csv_field(r.note) << '\n';
  }
}

// -- targets ------------------------------------------------------------------

struct target {
  std::string text;
  std::optional<double> measured; // ratio or value compared with `limit`
  double limit = 0;
  bool at_least = true; // measured >= limit, else measured <= limit
};

std::optional<double> ratio_of(const result* x, const result* y) {
  if (x == nullptr || y == nullptr || y->value <= 0) {
    return std::nullopt;
  }
  return x->value / y->value;
}

const result* throughput(const std::vector<result>& rows,
                         const std::string& system, size_t subscribers,
                         size_t payload) {
  return find_row(rows, "throughput", system, "deliveries/s", subscribers, 1,
                  payload);
}

std::vector<target> evaluate_targets(const std::vector<result>& rows) {
  std::vector<target> out;
  for (auto payload : {size_t{32}, size_t{1024}}) {
    auto p = payload_text(payload);
    out.push_back({"memory:// to 100 subscribers >= 1.5 x CAF group, " + p,
                   ratio_of(throughput(rows, "memory://", 100, payload),
                            throughput(rows, "caf group", 100, payload)),
                   1.5, true});
    out.push_back({"redis:// 1 to 1 >= 0.8 x hiredis pair, " + p,
                   ratio_of(throughput(rows, "redis://", 1, payload),
                            throughput(rows, "hiredis", 1, payload)),
                   0.8, true});
    out.push_back({"redis:// to 1000 subscribers >= 0.8 x memory://, " + p,
                   ratio_of(throughput(rows, "redis://", 1000, payload),
                            throughput(rows, "memory://", 1000, payload)),
                   0.8, true});
  }
  out.push_back(
    {"redis:// p99 at the fixed rate <= 2 x hiredis p99",
     ratio_of(find_row(rows, "latency", "redis://", "p99 us", 1, 1, 32),
              find_row(rows, "latency", "hiredis", "p99 us", 1, 1, 32)),
     2.0, false});
  for (const std::string system : {"memory://", "caf://", "redis://"}) {
    for (const auto& r : rows) {
      if (r.system != system || r.skipped) {
        continue;
      }
      if (r.group == "idle" && r.metric == "bytes/subscription") {
        out.push_back({system + " idle subscription <= 1024 B", r.value,
                       1024, false});
      }
      if (r.group == "stalled" && r.metric.rfind("deliveries/s", 0) == 0) {
        out.push_back({system + " one stalled of 100 costs others < 10%",
                       r.ratio(), 0.9, true});
      }
      if (r.group == "stalled" && r.metric.rfind("events queued", 0) == 0) {
        out.push_back({system + " stalled subscriber's queue <= max_queued",
                       r.value, r.baseline_value, false});
      }
    }
  }
  return out;
}

int print_targets(const std::vector<target>& targets) {
  int failed = 0;
  std::printf("\ntargets\n");
  for (const auto& t : targets) {
    if (!t.measured || std::isnan(*t.measured)) {
      std::printf("  SKIP  %-58s (not measured in this run)\n",
                  t.text.c_str());
      continue;
    }
    bool pass = t.at_least ? *t.measured >= t.limit : *t.measured <= t.limit;
    if (!pass) {
      ++failed;
    }
    std::printf("  %s  %-58s measured %.2f\n", pass ? "PASS" : "FAIL",
                t.text.c_str(), *t.measured);
  }
  return failed;
}

// -- plots --------------------------------------------------------------------

using series_files = std::map<std::pair<std::string, size_t>, std::string>;

// Writes one data file per system and payload (subscribers, deliveries/s)
// and returns their names.
series_files write_throughput_data(const std::string& dir,
                                   const std::vector<result>& rows) {
  std::map<std::pair<std::string, size_t>, std::vector<const result*>> series;
  for (const auto& r : rows) {
    if (r.group == "throughput" && r.channels == 1 && !r.skipped) {
      series[{r.system, r.payload}].push_back(&r);
    }
  }
  series_files files;
  for (auto& [key, points] : series) {
    std::sort(points.begin(), points.end(), [](auto* x, auto* y) {
      return x->subscribers < y->subscribers;
    });
    auto name = key.first;
    name.erase(std::remove_if(name.begin(), name.end(),
                              [](char ch) { return !std::isalnum(ch); }),
               name.end());
    auto file = "throughput-" + name + "-" + std::to_string(key.second)
                + ".dat";
    std::ofstream out{dir + "/" + file};
    for (auto* p : points) {
      out << p->subscribers << ' ' << number(p->value) << '\n';
    }
    files[key] = file;
  }
  return files;
}

// Writes latency.dat (system, p50, p99, p99.9). Returns false if no system
// has all three figures.
bool write_latency_data(const std::string& dir,
                        const std::vector<result>& rows) {
  std::ofstream out{dir + "/latency.dat"};
  out << "system p50 p99 p99.9\n";
  bool any = false;
  for (const std::string system :
       {"hiredis", "memory://", "caf://", "redis://"}) {
    auto p50 = find_row(rows, "latency", system, "p50 us", 1, 1, 32);
    auto p99 = find_row(rows, "latency", system, "p99 us", 1, 1, 32);
    auto p999 = find_row(rows, "latency", system, "p99.9 us", 1, 1, 32);
    if (p50 && p99 && p999) {
      out << '"' << system << "\" " << number(p50->value) << ' '
          << number(p99->value) << ' ' << number(p999->value) << '\n';
      any = true;
    }
  }
  return any;
}

void write_gnuplot_script(const std::string& path, const series_files& files,
                          bool with_latency) {
  std::set<size_t> payloads;
  for (const auto& entry : files) {
    payloads.insert(entry.first.second);
  }
  std::ofstream gp{path};
  gp << "set terminal pngcairo size 1400,560 font 'sans,11'\n"
        "set output 'throughput.png'\n"
        "set multiplot layout 1,"
     << std::max<size_t>(1, payloads.size())
     << " title 'Publish-to-delivery throughput, one channel'\n"
        "set logscale xy\n"
        "set xlabel 'subscribers'\n"
        "set ylabel 'deliveries per second'\n"
        "set xrange [0.7:1500]\n"
        "set grid\n"
        "set key left top\n"
        "set format y '%.0s%c'\n";
  for (auto payload : payloads) {
    gp << "set title '" << payload_text(payload) << " payload'\n";
    std::string separator = "plot ";
    for (const auto& [key, file] : files) {
      if (key.second != payload) {
        continue;
      }
      gp << separator << "'" << file << "' using 1:2 with linespoints lw 2 "
         << "pt 7 title '" << key.first << "'";
      separator = ", \\\n     ";
    }
    gp << "\n";
  }
  gp << "unset multiplot\n";
  if (!with_latency) {
    return;
  }
  gp << "reset\n"
        "set terminal pngcairo size 900,560 font 'sans,11'\n"
        "set output 'latency.png'\n"
        "set title 'Publish-to-delivery latency at a fixed rate, 32 B'\n"
        "set style data histograms\n"
        "set style histogram clustered gap 1\n"
        "set style fill solid 0.8 border -1\n"
        "set boxwidth 0.9\n"
        "set logscale y\n"
        "set ylabel 'microseconds'\n"
        "set grid ytics\n"
        "set key left top\n"
        "plot 'latency.dat' using 2:xtic(1) title columnheader(2), \\\n"
        "     '' using 3 title columnheader(3), \\\n"
        "     '' using 4 title columnheader(4)\n";
}

// Runs gnuplot on `script` inside `dir`, reporting a failure on stderr.
void run_gnuplot(const std::string& dir, const std::string& script) {
  auto pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) {
      _exit(126);
    }
    execlp("gnuplot", "gnuplot", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)
      || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr,
                 "gnuplot failed (exit status %d); install gnuplot-nox "
                 "(scripts/install-deps.sh) and run gnuplot %s in %s\n",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 script.c_str(), dir.c_str());
  }
}

void write_plots(const std::string& dir, const std::vector<result>& rows) {
  auto files = write_throughput_data(dir, rows);
  auto with_latency = write_latency_data(dir, rows);
  write_gnuplot_script(dir + "/plots.gp", files, with_latency);
  run_gnuplot(dir, "plots.gp");
}

} // namespace

void attach_baselines(std::vector<result>& rows) {
  for (auto& r : rows) {
    if (r.skipped || !r.baseline.empty()) {
      continue;
    }
    const result* base = nullptr;
    if (r.group == "throughput"
        && (r.system == "memory://" || r.system == "caf://")) {
      base = find_row(rows, "throughput", "caf group", r.metric,
                      r.subscribers, r.channels, r.payload);
      r.baseline = "caf group";
    } else if (r.group == "throughput" && r.system == "redis://") {
      base = find_row(rows, "throughput", "hiredis", r.metric, 1, 1,
                      r.payload);
      r.baseline = "hiredis pair";
    } else if (r.group == "latency" && r.system != "hiredis") {
      base = find_row(rows, "latency", "hiredis", r.metric, 1, 1, r.payload);
      r.baseline = "hiredis";
    }
    if (base != nullptr) {
      r.baseline_value = base->value;
    } else {
      r.baseline.clear();
    }
  }
}

int report(const options& opts, std::vector<result>& rows,
           const std::string& machine) {
  std::error_code ignored;
  std::filesystem::create_directories(opts.output_dir, ignored);
  print_table(rows);
  auto targets = evaluate_targets(rows);
  auto failed = print_targets(targets);
  auto csv = opts.output_dir + "/results.csv";
  write_csv(csv, rows);
  std::ofstream{opts.output_dir + "/machine.txt"} << machine;
  write_plots(opts.output_dir, rows);
  std::printf("\nwrote %s, %s/throughput.png, %s/latency.png\n", csv.c_str(),
              opts.output_dir.c_str(), opts.output_dir.c_str());
  return failed;
}

} // namespace bench
