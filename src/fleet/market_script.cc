#include "fleet/market_script.h"

#include <algorithm>

namespace baton::fleet {

ZoneScript::ZoneScript(const std::vector<ScriptEntry>& entries) {
  for (const ScriptEntry& e : entries) {
    Entry entry{e, e.at, std::nullopt, std::nullopt};
    if (entry.begin && e.seconds) entry.end = *entry.begin + *e.seconds;
    entries_.push_back(entry);
  }
}

bool ZoneScript::KeyedToProgress() const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [](const Entry& e) { return e.spec.KeyedToProgress(); });
}

bool ZoneScript::ReportProgress(double t, double done) {
  bool changed = false;
  for (Entry& e : entries_) {
    const ScriptEntry& s = e.spec;
    if (!e.begin && s.at_step && done >= *s.at_step) {
      e.begin = t;
      if (s.seconds) e.end = t + *s.seconds;
      changed = true;
    }
    if (s.kind != ScriptEntry::Kind::kOutage || !s.steps || !e.begin || *e.begin > t) continue;
    if (!e.begin_done) {
      e.begin_done = done;
      changed = true;
    } else if (!e.end && done >= *e.begin_done + *s.steps) {
      e.end = t;
      changed = true;
    }
  }
  return changed;
}

std::vector<RawEvent> ZoneScript::Raw() const {
  std::vector<RawEvent> raw;
  for (const Entry& e : entries_) {
    if (!e.begin) continue;
    if (e.spec.kind == ScriptEntry::Kind::kReclaim) {
      raw.push_back({*e.begin, RawEvent::Kind::kReclaim, e.spec.notice});
      continue;
    }
    raw.push_back({*e.begin, RawEvent::Kind::kOutageBegin, e.spec.notice});
    if (e.end) raw.push_back({*e.end, RawEvent::Kind::kOutageEnd, true});
  }
  return raw;
}

}  // namespace baton::fleet
