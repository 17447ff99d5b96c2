// FaultInjectionStore: wraps a Store and makes chosen calls fail, or emulates the process dying
// in the middle of a Put, so tests can drive the checkpoint protocol through every failure point
// (the habit of leveldb's fault_injection_test). Test-only; not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "store/store.h"

namespace baton {

enum class StoreOp { kPut, kGet, kGetRange, kHead, kList, kDelete, kDeletePrefix, kRename };
inline constexpr int kNumStoreOps = 8;
const char* StoreOpName(StoreOp op);

class FaultInjectionStore : public Store {
 public:
  // `base` must outlive this store.
  explicit FaultInjectionStore(Store* base);

  // The n-th call (0-based, counted from the last Reset) of `op` fails with IoError without
  // reaching the base store. Later calls succeed.
  void FailNth(StoreOp op, int64_t n);
  // The n-th call of any operation fails, as above.
  void FailNthCall(int64_t n);
  // The n-th Put writes only the first `bytes` bytes of its data (what a non-atomic store or a
  // mount would leave), or nothing when `bytes` is nullopt (a kill before the temp file was
  // renamed); then the store behaves as if the process had died: that call and every later one
  // fail with IoError.
  void CrashOnPut(int64_t n, std::optional<uint64_t> bytes);
  // Hides RenamePrefix, so the caller takes the object-store path (as on S3).
  void DisableRename() { rename_disabled_ = true; }
  // Forgets the counters and the planned faults (not DisableRename).
  void Reset();

  int64_t calls(StoreOp op) const { return calls_[static_cast<int>(op)]; }
  int64_t total_calls() const { return total_calls_; }
  bool crashed() const { return crashed_; }
  // Whether a planned fault has fired since the last Reset.
  bool fault_fired() const { return fault_fired_; }

  std::string Url() const override { return base_->Url(); }
  Status Put(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) override;
  Result<uint64_t> Head(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Status DeletePrefix(const std::string& prefix) override;
  bool SupportsRename() const override { return !rename_disabled_ && base_->SupportsRename(); }
  Status RenamePrefix(const std::string& from, const std::string& to) override;

 private:
  // Counts the call and says whether it must fail (and why).
  Status Enter(StoreOp op, const std::string& key);

  Store* base_;
  std::array<int64_t, kNumStoreOps> calls_{};
  int64_t total_calls_ = 0;
  std::optional<StoreOp> fail_op_;
  int64_t fail_index_ = -1;
  int64_t fail_call_index_ = -1;
  int64_t crash_put_index_ = -1;
  std::optional<uint64_t> crash_bytes_;
  bool rename_disabled_ = false;
  bool crashed_ = false;
  bool fault_fired_ = false;
};

}  // namespace baton
