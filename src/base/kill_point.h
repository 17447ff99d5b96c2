// Named kill points, so tests can kill a process at an exact step of a protocol (like rocksdb's
// sync_point): `KillPoint("ckpt.before_rename")` does nothing unless the environment variable
// BATON_KILL_AT names that point, in which case the process dies at once with `_exit(137)` (what
// a SIGKILL looks like to a parent shell), without flushing or unwinding anything.
//
// BATON_KILL_AT is a comma-separated list of `name` (die on the first hit) or `name:K` (die on
// the K-th hit, counting from 1, so a loop can be killed in its middle). The variable is read at
// every hit, so a forked child can set it after the parent already passed the same points.
// The only place in library code that ends the process: it is a test hook, inert in production.
#pragma once

#include <string_view>

namespace baton {

void KillPoint(std::string_view name);

// How many times `name` was hit in this process (counted only while BATON_KILL_AT is set).
int KillPointHits(std::string_view name);

}  // namespace baton
