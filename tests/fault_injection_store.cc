#include "fault_injection_store.h"

namespace baton {

const char* StoreOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kPut:
      return "Put";
    case StoreOp::kGet:
      return "Get";
    case StoreOp::kGetRange:
      return "GetRange";
    case StoreOp::kHead:
      return "Head";
    case StoreOp::kList:
      return "List";
    case StoreOp::kDelete:
      return "Delete";
    case StoreOp::kDeletePrefix:
      return "DeletePrefix";
    case StoreOp::kRename:
      return "RenamePrefix";
  }
  return "?";
}

FaultInjectionStore::FaultInjectionStore(Store* base) : base_(base) {}

void FaultInjectionStore::FailNth(StoreOp op, int64_t n) {
  fail_op_ = op;
  fail_index_ = n;
}

void FaultInjectionStore::FailNthCall(int64_t n) { fail_call_index_ = n; }

void FaultInjectionStore::CrashOnPut(int64_t n, std::optional<uint64_t> bytes) {
  crash_put_index_ = n;
  crash_bytes_ = bytes;
}

void FaultInjectionStore::Reset() {
  calls_ = {};
  total_calls_ = 0;
  fail_op_.reset();
  fail_index_ = fail_call_index_ = crash_put_index_ = -1;
  crash_bytes_.reset();
  crashed_ = fault_fired_ = false;
}

Status FaultInjectionStore::Enter(StoreOp op, const std::string& key) {
  int64_t index = calls_[static_cast<int>(op)]++;
  int64_t call = total_calls_++;
  if (crashed_)
    return IoError("fault injection: {} {}: the process has crashed", StoreOpName(op), key);
  if ((fail_op_ == op && index == fail_index_) || call == fail_call_index_) {
    fault_fired_ = true;
    return IoError("fault injection: {} #{} ({}) failed", StoreOpName(op), index, key);
  }
  return Status::Ok();
}

Status FaultInjectionStore::Put(const std::string& key, std::string_view data) {
  int64_t index = calls_[static_cast<int>(StoreOp::kPut)];
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kPut, key));
  if (index == crash_put_index_) {
    crashed_ = fault_fired_ = true;
    if (crash_bytes_.has_value()) {
      BATON_RETURN_IF_ERROR(
          base_->Put(key, data.substr(0, std::min<uint64_t>(*crash_bytes_, data.size()))));
    }
    return IoError("fault injection: crashed during Put #{} ({})", index, key);
  }
  return base_->Put(key, data);
}

Result<std::string> FaultInjectionStore::Get(const std::string& key) {
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kGet, key));
  return base_->Get(key);
}

Result<std::string> FaultInjectionStore::GetRange(const std::string& key, uint64_t offset,
                                                  uint64_t len) {
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kGetRange, key));
  return base_->GetRange(key, offset, len);
}

Result<uint64_t> FaultInjectionStore::Head(const std::string& key) {
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kHead, key));
  return base_->Head(key);
}

Result<std::vector<std::string>> FaultInjectionStore::List(const std::string& prefix) {
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kList, prefix));
  return base_->List(prefix);
}

Status FaultInjectionStore::Delete(const std::string& key) {
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kDelete, key));
  return base_->Delete(key);
}

Status FaultInjectionStore::DeletePrefix(const std::string& prefix) {
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kDeletePrefix, prefix));
  return base_->DeletePrefix(prefix);
}

Status FaultInjectionStore::RenamePrefix(const std::string& from, const std::string& to) {
  if (rename_disabled_) return Store::RenamePrefix(from, to);
  BATON_RETURN_IF_ERROR(Enter(StoreOp::kRename, from));
  return base_->RenamePrefix(from, to);
}

}  // namespace baton
