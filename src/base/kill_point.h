// Named kill points, so tests can kill a process at an exact step of a protocol (like rocksdb's
// sync_point): `KillPoint("ckpt.before_rename")` does nothing unless the environment variable
// EnvVar::kKillAt names that point, in which case the process dies at once with `_exit(137)` (what
// a SIGKILL looks like to a parent shell), without flushing or unwinding anything.
//
// EnvVar::kKillAt is a comma-separated list of `name` (die on the first hit) or `name:K` (die on
// the K-th hit, counting from 1, so a loop can be killed in its middle). The variable is read at
// every hit, so a forked child can set it after the parent already passed the same points.
// The only place in library code that ends the process: it is a test hook, inert in production.
//
// In-process tests can also act at a point without dying (rocksdb's sync point callbacks): a hook
// set with SetKillPointHook runs at every hit, on the thread that hits it, and may block it, e.g.
// to deliver a preemption notice while a checkpoint is half written.
#pragma once

#include <functional>
#include <string_view>

namespace baton {

void KillPoint(std::string_view name);

// Runs `hook(name)` at every kill point hit from now on (before EnvVar::kKillAt is looked at);
// null removes it. Set it while no other thread can hit a kill point.
void SetKillPointHook(std::function<void(std::string_view name)> hook);

// How many times `name` was hit in this process (counted only while EnvVar::kKillAt is set).
int KillPointHits(std::string_view name);

}  // namespace baton
