#include <sstream>

#include <nlohmann/json.hpp>

#include "cli.hpp"

namespace broadcaster::cli {

namespace {

using json = nlohmann::ordered_json;

// Serializes with invalid UTF-8 replaced by U+FFFD, so the output is always
// valid JSON; set_text() keeps the exact bytes in a base64 field.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string base64(const std::string& bytes) {
  static constexpr char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16)
                 | (static_cast<uint8_t>(bytes[i + 1]) << 8)
                 | static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16)
                 | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// Sets the string field `name` of `obj`. Because dump() replaces invalid
// UTF-8 by U+FFFD, a value that is not valid UTF-8 also gets its exact
// bytes in the field `name`_base64.
void set_text(json& obj, const std::string& name, const std::string& text) {
  obj[name] = text;
  if (!is_utf8(text)) {
    obj[name + "_base64"] = base64(text);
  }
}

json event_object(const event& ev) {
  json obj;
  obj["type"] = "event";
  set_text(obj, "channel", ev.channel);
  set_text(obj, "message", ev.message);
  set_text(obj, "id", ev.id);
  set_text(obj, "pattern", ev.pattern);
  return obj;
}

} // namespace

bool is_utf8(const std::string& text) {
  size_t i = 0;
  auto n = text.size();
  while (i < n) {
    auto c = static_cast<uint8_t>(text[i]);
    size_t extra = 0;
    uint32_t min = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      min = 0x80;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      min = 0x800;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      min = 0x10000;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= n) {
      return false;
    }
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) {
        return false;
      }
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are
    // invalid.
    if (code < min || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string format_event(const event& ev, output_format format) {
  if (format == output_format::json) {
    return dump(event_object(ev));
  }
  return ev.channel + ": " + ev.message;
}

std::string format_history_event(const event& ev, output_format format) {
  if (format == output_format::json) {
    return dump(event_object(ev));
  }
  return "[" + ev.id + "] " + ev.channel + ": " + ev.message;
}

std::string format_status(const status_event& status, output_format format) {
  if (format == output_format::json) {
    json obj;
    obj["type"] = "status";
    obj["status"] = to_string(status.kind);
    set_text(obj, "channel", status.channel);
    obj["events_may_be_lost"] = status.events_may_be_lost;
    set_text(obj, "reason", status.reason);
    return dump(obj);
  }
  return "status: " + to_string(status.kind) + " channel=" + status.channel
         + " events_may_be_lost="
         + (status.events_may_be_lost ? "true" : "false")
         + " reason=" + status.reason;
}

std::string format_skipped(const events_skipped& skipped,
                           output_format format) {
  if (format == output_format::json) {
    json obj;
    obj["type"] = "skipped";
    set_text(obj, "channel", skipped.channel);
    obj["count"] = skipped.count;
    return dump(obj);
  }
  return "skipped: " + std::to_string(skipped.count) + " events on "
         + skipped.channel + " because this subscriber fell behind";
}

namespace {

struct totals {
  uint64_t subscribers = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t published = 0;
};

totals sum(const broadcast_stats& stats) {
  totals result;
  for (const auto& ch : stats.channels) {
    result.subscribers += ch.subscribers;
    result.delivered += ch.delivered;
    result.dropped += ch.dropped;
  }
  if (auto i = stats.backend_counters.find("published");
      i != stats.backend_counters.end()) {
    result.published = i->second;
  }
  return result;
}

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void metric(std::ostringstream& out, const std::string& name,
            const std::string& type, const std::string& help,
            uint64_t value) {
  out << "# HELP " << name << ' ' << help << '\n'
      << "# TYPE " << name << ' ' << type << '\n'
      << name << ' ' << value << '\n';
}

} // namespace

std::string format_stats(const broadcast_stats& stats, output_format format) {
  auto t = sum(stats);
  if (format == output_format::json) {
    json obj;
    set_text(obj, "backend", stats.backend);
    obj["subscriptions"] = stats.subscriptions;
    obj["channels"] = stats.channels.size();
    obj["subscribers"] = t.subscribers;
    obj["published"] = t.published;
    obj["delivered"] = t.delivered;
    obj["dropped"] = t.dropped;
    json channels = json::array();
    for (const auto& ch : stats.channels) {
      json c;
      set_text(c, "channel", ch.channel);
      c["pattern"] = ch.pattern;
      c["subscribers"] = ch.subscribers;
      c["received"] = ch.received;
      c["delivered"] = ch.delivered;
      c["dropped"] = ch.dropped;
      c["max_queued"] = ch.max_queued;
      channels.push_back(std::move(c));
    }
    obj["per_channel"] = std::move(channels);
    json counters = json::object();
    for (const auto& [name, value] : stats.backend_counters) {
      counters[name] = value;
    }
    obj["backend_counters"] = std::move(counters);
    return dump(obj) + "\n";
  }
  std::ostringstream out;
  out << "backend: " << stats.backend << '\n'
      << "subscriptions: " << stats.subscriptions << '\n'
      << "channels: " << stats.channels.size() << '\n'
      << "subscribers: " << t.subscribers << '\n'
      << "published: " << t.published << '\n'
      << "delivered: " << t.delivered << '\n'
      << "dropped: " << t.dropped << '\n';
  for (const auto& ch : stats.channels) {
    out << (ch.pattern ? "pattern " : "channel ") << ch.channel
        << ": subscribers=" << ch.subscribers << " received=" << ch.received
        << " delivered=" << ch.delivered << " dropped=" << ch.dropped
        << " max_queued=" << ch.max_queued << '\n';
  }
  for (const auto& [name, value] : stats.backend_counters) {
    out << "backend." << name << ": " << value << '\n';
  }
  return out.str();
}

std::string format_prometheus(const broadcast_stats& stats) {
  auto t = sum(stats);
  std::ostringstream out;
  metric(out, "broadcaster_channels", "gauge",
         "Channels and patterns that have local subscribers.",
         stats.channels.size());
  metric(out, "broadcaster_subscriptions", "gauge", "Active subscriptions.",
         stats.subscriptions);
  metric(out, "broadcaster_subscribers", "gauge",
         "Subscriber actors, summed over channels.", t.subscribers);
  metric(out, "broadcaster_published_total", "counter",
         "Messages the backend accepted since it started.", t.published);
  // Channel actors keep their own counters and take them along when they
  // close, so these sums can go down and are gauges, not counters.
  metric(out, "broadcaster_delivered", "gauge",
         "Events sent to subscribers, summed over the open channels.",
         t.delivered);
  metric(out, "broadcaster_dropped", "gauge",
         "Events discarded for slow subscribers, summed over the open "
         "channels.",
         t.dropped);
  out << "# HELP broadcaster_backend_counter Counters reported by the "
         "backend.\n"
      << "# TYPE broadcaster_backend_counter gauge\n";
  for (const auto& [name, value] : stats.backend_counters) {
    out << "broadcaster_backend_counter{name=\"" << escape_label(name)
        << "\"} " << value << '\n';
  }
  return out.str();
}

} // namespace broadcaster::cli
