// FakeAliyun: see fake_aliyun.h; the ECS actions are in fake_ecs.cc, the ESS ones in fake_ess.cc.
// The error body and common codes follow shared/notes/cloud-apis.md section 2.1.
#include "fake_aliyun.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace baton::testing {
namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit((unsigned char)c); });
}

// Turns every object whose keys are all list indices into an array ordered by index.
Status ListsFromIndices(Json* node, const std::string& path) {
  if (!node->is_object()) return Status::Ok();
  for (auto& [key, child] : node->items()) {
    BATON_RETURN_IF_ERROR(ListsFromIndices(&child, path.empty() ? key : path + "." + key));
  }
  if (node->empty()) return Status::Ok();
  size_t indices = 0;
  for (auto& [key, child] : node->items()) {
    if (!AllDigits(key)) continue;
    if (key[0] == '0' || key.size() > 9) {
      return InvalidArgument("parameter '{}.{}': list indices run from 1", path, key);
    }
    ++indices;
  }
  if (indices == 0) return Status::Ok();
  if (indices != node->size()) {
    return InvalidArgument("parameter '{}' has both list indices and named members", path);
  }
  Json list = Json::array();
  for (size_t i = 1; i <= node->size(); ++i) {
    auto it = node->find(std::to_string(i));
    if (it == node->end()) {
      return InvalidArgument("parameter '{}' has list indices that do not run 1..{}", path,
                             node->size());
    }
    list.push_back(std::move(*it));
  }
  *node = std::move(list);
  return Status::Ok();
}

std::string NewRequestId(uint64_t n) { return fmt::format("5A1E0000-FA4E-4000-8000-{:012X}", n); }

}  // namespace

std::vector<std::pair<std::string, std::string>> SplitRpcPairs(std::string_view text,
                                                               bool form_encoded) {
  std::vector<std::pair<std::string, std::string>> pairs;
  auto decode = [form_encoded](std::string_view s) {
    std::string t(s);
    if (form_encoded) std::replace(t.begin(), t.end(), '+', ' ');
    return AcsPercentDecode(t);
  };
  size_t start = 0;
  while (start <= text.size()) {
    size_t amp = text.find('&', start);
    std::string_view item =
        text.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!item.empty()) {
      size_t eq = item.find('=');
      pairs.emplace_back(decode(item.substr(0, eq)),
                         eq == std::string_view::npos ? "" : decode(item.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return pairs;
}

Result<Json> ParseRpcParameters(const std::vector<std::pair<std::string, std::string>>& pairs) {
  Json root = Json::object();
  for (const auto& [name, value] : pairs) {
    std::vector<std::string> segments;
    size_t start = 0;
    while (true) {
      size_t dot = name.find('.', start);
      segments.push_back(name.substr(start, dot == std::string::npos ? dot : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    Json* node = &root;
    for (size_t i = 0; i < segments.size(); ++i) {
      const std::string& seg = segments[i];
      if (seg.empty()) return InvalidArgument("parameter name '{}' has an empty segment", name);
      bool last = i + 1 == segments.size();
      auto it = node->find(seg);
      if (last) {
        if (it != node->end()) {
          return InvalidArgument("parameter '{}' is given twice or is also a prefix", name);
        }
        (*node)[seg] = value;
      } else {
        if (it != node->end() && !it->is_object()) {
          return InvalidArgument("parameter '{}' is also given as a plain value", name);
        }
        if (it == node->end()) (*node)[seg] = Json::object();
        node = &(*node)[seg];
      }
    }
  }
  BATON_RETURN_IF_ERROR(ListsFromIndices(&root, ""));
  return root;
}

// --- FakeAliyun ----------------------------------------------------------------------------------

FakeAliyun::FakeAliyun(FakeAliyunOptions options)
    : options_(std::move(options)), verifier_(options_.now_seconds) {
  for (const auto& c : options_.credentials) verifier_.AddCredential(c);
  // An agent on an instance with a RAM role may call the API with the role's keys.
  if (!options_.host.ram_role_keys.access_key_id.empty()) {
    verifier_.AddCredential(options_.host.ram_role_keys);
  }
  auto ecs = std::make_unique<FakeEcs>(FakeEcs::Config{options_.regions, options_.image_ids,
                                                       options_.security_group_ids, options_.host});
  ecs_ = ecs.get();
  services_.push_back(std::move(ecs));
  auto ess = std::make_unique<FakeEss>(ecs_);
  ess_ = ess.get();
  services_.push_back(std::move(ess));
  server_.SetInterceptor([this](const HttpServerRequest& r) { return Handle(r); });
}

FakeAliyun::~FakeAliyun() { Stop(); }

Status FakeAliyun::Start() {
  if (!options_.host.baton_binary.empty() && options_.host.work_dir.empty()) {
    return InvalidArgument("fake Alibaba Cloud: host.baton_binary needs host.work_dir");
  }
  std::map<std::string, std::string> zone_of;
  for (const auto& r : options_.regions) {
    for (const auto& z : r.zones) {
      for (const auto& v : z.vswitch_ids) {
        if (!zone_of.emplace(v, z.zone_id).second) {
          return InvalidArgument("fake Alibaba Cloud: vSwitch {} is in two zones", v);
        }
      }
    }
  }
  BATON_RETURN_IF_ERROR(server_.Start(0));
  std::lock_guard<std::mutex> lock(mu_);
  ecs_->set_endpoint_host(fmt::format("127.0.0.1:{}", server_.port()));
  if (!clock_) {
    clock_ = std::make_unique<PeriodicThread>(
        0.05,
        [this] {
          std::lock_guard<std::mutex> lock(mu_);
          ecs_->Advance();
          ess_->Advance();
          return true;
        },
        /*tick_first=*/false);
  }
  return Status::Ok();
}

void FakeAliyun::Stop() {
  server_.Stop();
  clock_.reset();  // stops its thread; not under mu_, which its tick takes
  std::lock_guard<std::mutex> lock(mu_);
  ecs_->PowerOffAll();
}

void FakeAliyun::SetStock(const std::string& zone_id, bool spot, bool available) {
  std::lock_guard<std::mutex> lock(mu_);
  ecs_->SetStock(zone_id, spot, available);
}

void FakeAliyun::SetSpotPrice(const std::string& zone_id, const std::string& instance_type,
                              int64_t unix_ms, double price) {
  std::lock_guard<std::mutex> lock(mu_);
  ecs_->SetSpotPrice(zone_id, instance_type, unix_ms, price);
}

Status FakeAliyun::Reclaim(const std::string& instance_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = ecs_->Reclaim(instance_id);
  if (s.ok()) ess_->Advance();  // SpotInstanceRemedy replaces it now, not a tick later
  return s;
}

Status FakeAliyun::PauseInstance(const std::string& instance_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return ecs_->Signal(instance_id, /*pause=*/true);
}

Status FakeAliyun::ResumeInstance(const std::string& instance_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return ecs_->Signal(instance_id, /*pause=*/false);
}

std::vector<FakeInstanceSnapshot> FakeAliyun::InstancesSnapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  return ecs_->Snapshot();
}

void FakeAliyun::FailNext(const std::string& action, int count, FakeAliyunFault fault) {
  if (fault == FakeAliyunFault::kThrottling) {
    FailNextWith(action, count, 400, "Throttling.User",
                 "Request was denied due to user flow control.");
  } else {
    FailNextWith(action, count, 503, "ServiceUnavailable",
                 "The request has failed due to a temporary failure of the server.");
  }
}

void FakeAliyun::FailNextWith(const std::string& action, int count, int http_status,
                              const std::string& code, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.insert_or_assign(action, std::pair{count, RpcAnswer::Error(http_status, code, message)});
}

std::vector<FakeAliyunCall> FakeAliyun::Calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::vector<Json> FakeAliyun::SuccessfulParams(const std::string& action) const {
  std::vector<Json> out;
  for (const auto& c : Calls()) {
    if (c.action == action && c.http_status == 200) out.push_back(c.params);
  }
  return out;
}

HttpServerResponse FakeAliyun::Answer(const std::string& host, FakeAliyunCall call,
                                      RpcAnswer answer) {
  // Called with mu_ held.
  std::string request_id = NewRequestId(next_request_id_++);
  answer.body["RequestId"] = request_id;
  if (answer.http_status != 200) answer.body["HostId"] = host;
  call.http_status = answer.http_status;
  call.code = answer.body.value("Code", "");
  calls_.push_back(std::move(call));
  HttpServerResponse r = HttpServerResponse::Json(answer.http_status, answer.body.dump());
  r.headers = {{"Content-Type", "application/json;charset=utf-8"},
               {"x-acs-request-id", request_id}};
  return r;
}

HttpServerResponse FakeAliyun::Handle(const HttpServerRequest& request) {
  AliyunWireRequest wire = AliyunWireRequest::FromHttp(request);
  std::string host = request.Header("host");
  FakeAliyunCall call;
  call.action = request.Header("x-acs-action");

  AliyunVerdict verdict = verifier_.Verify(wire);
  if (verdict.ok()) call.access_key_id = verdict.access_key_id;
  std::lock_guard<std::mutex> lock(mu_);
  if (!verdict.ok()) {
    return Answer(host, std::move(call),
                  RpcAnswer::Error(verdict.http_status, verdict.code, verdict.message));
  }
  if (request.path != "/" || (request.method != "POST" && request.method != "GET")) {
    return Answer(host, std::move(call),
                  RpcAnswer::Error(404, "InvalidAction.NotFound",
                                   "RPC-style APIs are served at POST or GET /, not " +
                                       request.method + " " + request.path));
  }
  if (call.action.empty()) {
    return Answer(host, std::move(call),
                  RpcAnswer::Error(400, "MissingParameter", "the x-acs-action header is missing"));
  }
  std::string version = request.Header("x-acs-version");
  FakeAliyunService* service = nullptr;
  for (auto& s : services_) {
    if (s->version() == version) service = s.get();
  }
  if (service == nullptr) {
    return Answer(host, std::move(call),
                  RpcAnswer::Error(400, "NoSuchVersion",
                                   "Specified api version '" + version +
                                       "' is not valid (ECS 2014-05-26, ESS 2014-08-28)"));
  }
  call.service = service->name();

  auto pairs = SplitRpcPairs(request.raw_query, /*form_encoded=*/false);
  std::string content_type = request.Header("content-type");
  if (!request.body.empty() && content_type.rfind("application/x-www-form-urlencoded", 0) == 0) {
    auto form = SplitRpcPairs(request.body, /*form_encoded=*/true);
    pairs.insert(pairs.end(), form.begin(), form.end());
  }
  Result<Json> params = ParseRpcParameters(pairs);
  if (!params.ok()) {
    return Answer(host, std::move(call),
                  RpcAnswer::Error(400, "InvalidParameter", params.status().message()));
  }
  call.params = *params;

  auto fault = faults_.find(call.action);
  if (fault != faults_.end() && fault->second.first > 0) {
    RpcAnswer answer = fault->second.second;
    if (--fault->second.first == 0) faults_.erase(fault);
    return Answer(host, std::move(call), std::move(answer));
  }

  std::optional<RpcAnswer> answer = service->Handle(call.action, call.params);
  if (!answer) {
    answer = RpcAnswer::Error(404, "InvalidAction.NotFound",
                              "Specified api is not found: " + service->name() + " " + call.action +
                                  " is not implemented by this fake yet");
  }
  return Answer(host, std::move(call), std::move(*answer));
}

}  // namespace baton::testing
