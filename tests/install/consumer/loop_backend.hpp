#pragma once

// A user-defined backend written against the installed public headers
// only: it delivers each publish to the channel actors subscribed in this
// process, stores nothing and has no patterns.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <broadcaster/broadcast.hpp>

namespace loop {

struct loop_state {
  std::map<std::string, std::vector<broadcaster::sink_actor>> sinks;
  uint64_t published = 0;
};

inline broadcaster::backend_actor::behavior_type
loop_backend(broadcaster::backend_actor::stateful_pointer<loop_state> self,
             std::string name) {
  using namespace broadcaster;
  return {
    [self](bc_publish_atom, std::string& channel,
           std::string& message) -> caf::result<publish_ack> {
      auto& st = self->state;
      auto id = std::to_string(++st.published);
      auto& targets = st.sinks[channel];
      for (auto& sink : targets) {
        std::vector<event> batch{event{channel, message, id, {}}};
        self->send(sink, bc_events_atom::value, std::move(batch));
      }
      return publish_ack{id, static_cast<int64_t>(targets.size())};
    },
    [self, name](bc_subscribe_atom, std::string& key, bool pattern,
                 sink_actor& sink, uint64_t history,
                 uint64_t) -> caf::result<bc_ok_atom> {
      if (pattern) {
        return make_error(errc::unsupported, name + " has no patterns");
      }
      if (history > 0) {
        return make_error(errc::unsupported, name + " stores no history");
      }
      auto& targets = self->state.sinks[key];
      if (std::find(targets.begin(), targets.end(), sink) == targets.end()) {
        targets.push_back(sink);
      }
      return bc_ok_atom::value;
    },
    [self](bc_unsubscribe_atom, std::string& key, bool, sink_actor& sink) {
      auto& targets = self->state.sinks[key];
      targets.erase(std::remove(targets.begin(), targets.end(), sink),
                    targets.end());
    },
    [name](bc_history_atom, std::string&, std::string&,
           uint64_t) -> caf::result<history_page> {
      return make_error(errc::unsupported, name + " stores no history");
    },
    [self](bc_stats_atom) {
      return std::map<std::string, uint64_t>{
        {"published", self->state.published}};
    },
  };
}

/// Backend factory for the scheme table.
inline caf::expected<broadcaster::backend_actor>
make_loop_backend(caf::actor_system& sys, const broadcaster::url& source) {
  broadcaster::url_options opts{source, "loop://"};
  if (auto err = opts.finish()) {
    return err;
  }
  return sys.spawn(loop_backend, source.redacted());
}

} // namespace loop
