#include "fake_ec2.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <set>

#include "aliyun_verifier.h"
#include "cloud/metadata_time.h"

namespace baton::testing {
namespace {

constexpr char kVersion[] = "2016-11-15";
constexpr char kNs[] = "http://ec2.amazonaws.com/doc/2016-11-15/";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

int StateCode(const std::string& state) {
  if (state == "pending") return 0;
  if (state == "running") return 16;
  if (state == "shutting-down") return 32;
  return 48;  // terminated
}

std::string StateXml(const char* element, const std::string& state) {
  return fmt::format("<{0}><code>{1}</code><name>{2}</name></{0}>", element, StateCode(state),
                     state);
}

// The N-indexed values of "Prefix.N" (InstanceId.1, ...), in N order.
std::vector<std::string> ListOf(const std::map<std::string, std::string>& p,
                                const std::string& prefix) {
  std::vector<std::string> out;
  for (int n = 1;; ++n) {
    auto it = p.find(fmt::format("{}.{}", prefix, n));
    if (it == p.end()) return out;
    out.push_back(it->second);
  }
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

struct FakeEc2::Instance {
  FakeEc2Instance snap;
  int64_t launch_ms = 0;
  int64_t running_at_ms = 0;
  int64_t interrupt_at_ms = 0;  // 0: no interruption
  std::unique_ptr<FakeVm> vm;
};

FakeEc2::FakeEc2(FakeEc2Options options)
    : o_(std::move(options)), verifier_(o_.keys, o_.region, "ec2") {
  o_.host.cloud = "aws";
  http_.Route("POST", "/", [this](const HttpServerRequest& r) { return Handle(r); });
}

FakeEc2::~FakeEc2() { Stop(); }

Status FakeEc2::Start() { return http_.Start(0); }

void FakeEc2::Stop() {
  http_.Stop();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& i : instances_) {
    if (i->vm) i->vm->PowerOff();
  }
}

void FakeEc2::SetSpotCapacity(const std::string& zone, bool available) {
  std::lock_guard<std::mutex> lock(mu_);
  spot_capacity_[zone] = available;
}

void FakeEc2::FailNext(const std::string& action, int count, const std::string& code,
                       int http_status) {
  std::lock_guard<std::mutex> lock(mu_);
  Answer a = Error(http_status, code, "injected by the test");
  fail_next_[action] = {count, a};
}

FakeEc2::Answer FakeEc2::Error(int status, const std::string& code, const std::string& message) {
  return {status, fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors>"
                              "<Error><Code>{}</Code><Message>{}</Message></Error></Errors>"
                              "<RequestID>fa4e0000-{:012x}</RequestID></Response>",
                              Esc(code), Esc(message), next_id_++)};
}

HttpServerResponse FakeEc2::Handle(const HttpServerRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  auto send = [](const Answer& a) {
    return HttpServerResponse::Text(a.status, a.body, "text/xml;charset=UTF-8");
  };
  std::string why = verifier_.Check(r);
  if (!why.empty()) {
    signature_failures_.push_back(why);
    std::string code = why.substr(0, why.find(':'));
    return send(Error(code == "AuthFailure" ? 401 : 403, code, why.substr(why.find(':') + 2)));
  }
  if (r.Header("content-type").find("application/x-www-form-urlencoded") != 0) {
    return send(Error(400, "InvalidParameterValue", "expected a form body"));
  }
  Params p;
  size_t start = 0;
  while (start < r.body.size()) {
    size_t end = r.body.find('&', start);
    if (end == std::string::npos) end = r.body.size();
    std::string part = r.body.substr(start, end - start);
    size_t eq = part.find('=');
    p[AcsPercentDecode(part.substr(0, eq))] =
        eq == std::string::npos ? "" : AcsPercentDecode(part.substr(eq + 1));
    start = end + 1;
  }
  const std::string action = p["Action"];
  ++calls_[action];
  if (p.count("NextToken")) ++calls_[action + "#NextToken"];
  if (p["Version"] != kVersion) {
    return send(Error(400, "InvalidAction", "version " + p["Version"] + " is not " + kVersion));
  }
  auto fail = fail_next_.find(action);
  if (fail != fail_next_.end() && fail->second.first > 0) {
    --fail->second.first;
    return send(fail->second.second);
  }
  Advance();
  p.erase("Action");
  p.erase("Version");
  return send(Dispatch(action, p));
}

FakeEc2::Answer FakeEc2::Dispatch(const std::string& action, const Params& p) {
  if (action == "RunInstances") return RunInstances(p);
  if (action == "DescribeInstances") return DescribeInstances(p);
  if (action == "TerminateInstances") return TerminateInstances(p);
  if (action == "DescribeSpotInstanceRequests") return DescribeSpotRequests(p);
  if (action == "DescribeAvailabilityZones") return DescribeZones(p);
  return Error(400, "InvalidAction", "the fake EC2 does not implement " + action);
}

FakeEc2::Answer FakeEc2::DescribeZones(const Params& p) const {
  if (!p.empty()) {
    return const_cast<FakeEc2*>(this)->Error(
        400, "UnknownParameter", "The parameter " + p.begin()->first + " is not recognized");
  }
  std::string items;
  for (const auto& [zone, subnet] : o_.subnets) {
    items += fmt::format(
        "<item><zoneName>{}</zoneName><zoneState>available</zoneState><regionName>{}</regionName>"
        "</item>",
        zone, o_.region);
  }
  return {200,
          fmt::format("<DescribeAvailabilityZonesResponse xmlns=\"{}\"><requestId>r</requestId>"
                      "<availabilityZoneInfo>{}</availabilityZoneInfo>"
                      "</DescribeAvailabilityZonesResponse>",
                      kNs, items)};
}

FakeEc2::Answer FakeEc2::RunInstances(const Params& p) {
  static const std::regex known(
      "MinCount|MaxCount|ImageId|InstanceType|SubnetId|SecurityGroupId\\.[0-9]+|"
      "IamInstanceProfile\\.(Name|Arn)|KeyName|UserData|ClientToken|"
      "InstanceMarketOptions\\.(MarketType|SpotOptions\\.(SpotInstanceType|"
      "InstanceInterruptionBehavior|MaxPrice))|"
      "TagSpecification\\.[0-9]+\\.(ResourceType|Tag\\.[0-9]+\\.(Key|Value))");
  for (const auto& [name, value] : p) {
    if (!std::regex_match(name, known)) {
      return Error(400, "UnknownParameter", "The parameter " + name + " is not recognized");
    }
  }
  auto get = [&](const std::string& k) {
    auto it = p.find(k);
    return it == p.end() ? std::string() : it->second;
  };
  if (get("MinCount") != "1" || get("MaxCount") != "1") {
    return Error(400, "InvalidParameterValue", "the fake launches MinCount = MaxCount = 1");
  }
  if (!get("ClientToken").empty()) {
    auto it = client_tokens_.find(get("ClientToken"));
    if (it != client_tokens_.end()) {
      Instance* i = Find(it->second);
      if (i->snap.params != p) {
        return Error(400, "IdempotentParameterMismatch",
                     "the client token was used with other parameters");
      }
      return {200, fmt::format("<RunInstancesResponse xmlns=\"{}\"><requestId>r</requestId>"
                               "<reservationId>r-{}</reservationId><instancesSet><item>{}</item>"
                               "</instancesSet></RunInstancesResponse>",
                               kNs, i->snap.id.substr(2), InstanceXml(*i))};
    }
  }
  if (!Contains(o_.image_ids, get("ImageId"))) {
    return Error(400, "InvalidAMIID.NotFound",
                 "The image id '[" + get("ImageId") + "]' does not exist");
  }
  if (get("InstanceType").empty()) {
    return Error(400, "MissingParameter", "The request must contain the parameter InstanceType");
  }
  std::string zone;
  for (const auto& [z, s] : o_.subnets) {
    if (s == get("SubnetId")) zone = z;
  }
  if (zone.empty()) {
    return Error(400, "InvalidSubnetID.NotFound",
                 "The subnet ID '" + get("SubnetId") + "' does not exist");
  }
  for (const std::string& g : ListOf(p, "SecurityGroupId")) {
    if (!Contains(o_.security_group_ids, g)) {
      return Error(400, "InvalidGroup.NotFound", "The security group '" + g + "' does not exist");
    }
  }
  if (p.count("IamInstanceProfile.Name") &&
      !Contains(o_.instance_profiles, get("IamInstanceProfile.Name"))) {
    return Error(400, "InvalidParameterValue",
                 "Value (" + get("IamInstanceProfile.Name") +
                     ") for parameter iamInstanceProfile.name is invalid");
  }
  const bool spot = p.count("InstanceMarketOptions.MarketType") > 0;
  if (spot) {
    if (get("InstanceMarketOptions.MarketType") != "spot" ||
        get("InstanceMarketOptions.SpotOptions.SpotInstanceType") != "one-time" ||
        get("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior") != "terminate") {
      return Error(400, "InvalidParameterValue",
                   "the fake runs spot as market spot, one-time, terminate");
    }
    auto cap = spot_capacity_.find(zone);
    if (cap != spot_capacity_.end() && !cap->second) {
      return Error(500, "InsufficientInstanceCapacity",
                   "There is no Spot capacity available that matches your request.");
    }
    if (p.count("InstanceMarketOptions.SpotOptions.MaxPrice")) {
      double max = 0;
      try {
        max = std::stod(get("InstanceMarketOptions.SpotOptions.MaxPrice"));
      } catch (...) {
        return Error(400, "InvalidParameterValue", "MaxPrice is not a price");
      }
      if (max < o_.spot_price) {
        return Error(400, "SpotMaxPriceTooLow",
                     fmt::format("Your Spot request price of {} is lower than the minimum "
                                 "required Spot request fulfillment price of {}.",
                                 max, o_.spot_price));
      }
    }
  }
  auto in = std::make_unique<Instance>();
  Instance& i = *in;
  i.snap.id = fmt::format("i-0fa4e{:012x}", next_id_++);
  i.snap.zone = zone;
  i.snap.subnet = get("SubnetId");
  i.snap.instance_type = get("InstanceType");
  i.snap.state = "pending";
  i.snap.spot = spot;
  if (spot) {
    i.snap.spot_request_id = fmt::format("sir-{:08x}", next_id_++);
    i.snap.spot_status = "fulfilled";
  }
  for (int n = 1;; ++n) {
    std::string spec = fmt::format("TagSpecification.{}.", n);
    if (!p.count(spec + "ResourceType")) break;
    auto& tags = get(spec + "ResourceType") == "volume" ? i.snap.volume_tags : i.snap.tags;
    for (int m = 1; p.count(fmt::format("{}Tag.{}.Key", spec, m)); ++m) {
      tags[get(fmt::format("{}Tag.{}.Key", spec, m))] = get(fmt::format("{}Tag.{}.Value", spec, m));
    }
  }
  i.snap.params = p;
  i.launch_ms = NowMs();
  i.running_at_ms = i.launch_ms + static_cast<int64_t>(o_.host.boot_seconds * 1000);
  std::string user_data;
  if (p.count("UserData")) {
    Result<std::string> decoded = DecodeBase64(get("UserData"));
    if (!decoded.ok())
      return Error(400, "InvalidParameterValue", "Invalid BASE64 encoding of user data");
    user_data = *decoded;
  }
  FakeVmSpec vm;
  vm.instance_id = i.snap.id;
  vm.user_data = user_data;
  vm.api_endpoint = http_.url();
  Result<std::unique_ptr<FakeVm>> booted = FakeVm::Boot(o_.host, vm);
  if (!booted.ok()) return Error(500, "InternalError", booted.status().ToString());
  i.vm = std::move(*booted);
  i.snap.agent_argv = i.vm->argv();
  if (!get("ClientToken").empty()) client_tokens_[get("ClientToken")] = i.snap.id;
  instances_.push_back(std::move(in));
  return {200, fmt::format("<RunInstancesResponse xmlns=\"{}\"><requestId>r</requestId>"
                           "<reservationId>r-{}</reservationId><instancesSet><item>{}</item>"
                           "</instancesSet></RunInstancesResponse>",
                           kNs, i.snap.id.substr(2), InstanceXml(i))};
}

std::string FakeEc2::InstanceXml(const Instance& i) const {
  std::string tags;
  for (const auto& [k, v] : i.snap.tags) {
    tags += "<item><key>" + Esc(k) + "</key><value>" + Esc(v) + "</value></item>";
  }
  return fmt::format(
      "<instanceId>{}</instanceId><imageId>{}</imageId>{}<instanceType>{}</instanceType>"
      "<launchTime>{}</launchTime><placement><availabilityZone>{}</availabilityZone></placement>"
      "<subnetId>{}</subnetId>{}<tagSet>{}</tagSet>",
      i.snap.id, Esc(i.snap.params.at("ImageId")), StateXml("instanceState", i.snap.state),
      Esc(i.snap.instance_type), FormatRfc3339(i.launch_ms), i.snap.zone, i.snap.subnet,
      i.snap.spot ? "<instanceLifecycle>spot</instanceLifecycle><spotInstanceRequestId>" +
                        i.snap.spot_request_id + "</spotInstanceRequestId>"
                  : "",
      tags);
}

FakeEc2::Answer FakeEc2::DescribeInstances(const Params& p) {
  static const std::regex known(
      "InstanceId\\.[0-9]+|MaxResults|NextToken|Filter\\.[0-9]+\\.(Name|Value\\.[0-9]+)");
  for (const auto& [name, value] : p) {
    if (!std::regex_match(name, known)) {
      return Error(400, "UnknownParameter", "The parameter " + name + " is not recognized");
    }
  }
  std::vector<std::string> ids = ListOf(p, "InstanceId");
  int max = 0;
  if (p.count("MaxResults")) {
    if (!ids.empty()) {
      return Error(400, "InvalidParameterCombination",
                   "The parameter instancesSet cannot be used with the parameter maxResults");
    }
    max = std::atoi(p.at("MaxResults").c_str());
    if (max < 5 || max > 1000) {
      return Error(400, "InvalidParameterValue",
                   "Value ( " + p.at("MaxResults") +
                       " ) for parameter maxResults is invalid. "
                       "Expecting a value between 5 and 1000.");
    }
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> filters;
  for (int n = 1; p.count(fmt::format("Filter.{}.Name", n)); ++n) {
    std::string name = p.at(fmt::format("Filter.{}.Name", n));
    if (!name.starts_with("tag:") && name != "instance-state-name" && name != "availability-zone") {
      return Error(400, "InvalidParameterValue", "The filter '" + name + "' is invalid");
    }
    filters.emplace_back(name, ListOf(p, fmt::format("Filter.{}.Value", n)));
  }
  for (const std::string& id : ids) {
    if (!Find(id)) {
      return Error(400, "InvalidInstanceID.NotFound",
                   "The instance ID '" + id + "' does not exist");
    }
  }
  std::vector<const Instance*> match;
  for (const auto& i : instances_) {
    if (!ids.empty() && !Contains(ids, i->snap.id)) continue;
    bool ok = true;
    for (const auto& [name, values] : filters) {
      std::string have = name == "instance-state-name" ? i->snap.state
                         : name == "availability-zone" ? i->snap.zone
                                                       : "";
      if (name.starts_with("tag:")) {
        auto t = i->snap.tags.find(name.substr(4));
        if (t == i->snap.tags.end()) {
          ok = false;
          continue;
        }
        have = t->second;
      }
      ok = ok && Contains(values, have);
    }
    if (ok) match.push_back(i.get());
  }
  size_t from = 0;
  if (p.count("NextToken")) {
    const std::string& token = p.at("NextToken");
    if (!token.starts_with("fake-page-") || token.size() > 30) {
      return Error(400, "InvalidParameterValue", "Invalid value '" + token + "' for nextToken");
    }
    from = std::stoul(token.substr(10));
  }
  size_t page =
      max > 0 ? static_cast<size_t>(std::min(max, o_.page_cap)) : static_cast<size_t>(o_.page_cap);
  if (!ids.empty()) page = match.size();
  std::string reservations;
  size_t to = std::min(match.size(), from + page);
  for (size_t k = from; k < to; ++k) {
    reservations += fmt::format(
        "<item><reservationId>r-{}</reservationId><ownerId>123456789012</ownerId><groupSet/>"
        "<instancesSet><item>{}</item></instancesSet></item>",
        match[k]->snap.id.substr(2), InstanceXml(*match[k]));
  }
  std::string next =
      to < match.size() ? fmt::format("<nextToken>fake-page-{}</nextToken>", to) : "";
  return {200, fmt::format("<DescribeInstancesResponse xmlns=\"{}\"><requestId>r</requestId>"
                           "<reservationSet>{}</reservationSet>{}</DescribeInstancesResponse>",
                           kNs, reservations, next)};
}

FakeEc2::Answer FakeEc2::TerminateInstances(const Params& p) {
  std::vector<std::string> ids = ListOf(p, "InstanceId");
  if (ids.empty() || ids.size() != p.size()) {
    return Error(400, "MissingParameter", "TerminateInstances takes InstanceId.N only");
  }
  for (const std::string& id : ids) {
    if (!Find(id)) {
      return Error(400, "InvalidInstanceID.NotFound",
                   "The instance ID '" + id + "' does not exist");
    }
  }
  std::string items;
  for (const std::string& id : ids) {
    Instance* i = Find(id);
    std::string before = i->snap.state;
    if (before != "terminated") PowerOff(i, /*by_call=*/true);
    items +=
        fmt::format("<item><instanceId>{}</instanceId>{}{}</item>", id,
                    StateXml("currentState", i->snap.state), StateXml("previousState", before));
  }
  return {200, fmt::format("<TerminateInstancesResponse xmlns=\"{}\"><requestId>r</requestId>"
                           "<instancesSet>{}</instancesSet></TerminateInstancesResponse>",
                           kNs, items)};
}

FakeEc2::Answer FakeEc2::DescribeSpotRequests(const Params& p) {
  std::vector<std::string> ids = ListOf(p, "SpotInstanceRequestId");
  if (ids.size() != p.size()) {
    return Error(400, "UnknownParameter", "the fake takes SpotInstanceRequestId.N only");
  }
  std::string items;
  for (const std::string& id : ids) {
    const Instance* found = nullptr;
    for (const auto& i : instances_) {
      if (i->snap.spot_request_id == id) found = i.get();
    }
    if (!found) {
      return Error(400, "InvalidSpotInstanceRequestID.NotFound",
                   "The spot instance request ID '" + id + "' does not exist");
    }
    const std::string state = found->snap.spot_status == "fulfilled" ||
                                      found->snap.spot_status == "marked-for-termination"
                                  ? "active"
                                  : "closed";
    items += fmt::format(
        "<item><spotInstanceRequestId>{}</spotInstanceRequestId><state>{}</state>"
        "<status><code>{}</code></status><instanceId>{}</instanceId></item>",
        id, state, found->snap.spot_status, found->snap.id);
  }
  return {200, fmt::format("<DescribeSpotInstanceRequestsResponse xmlns=\"{}\"><requestId>r"
                           "</requestId><spotInstanceRequestSet>{}</spotInstanceRequestSet>"
                           "</DescribeSpotInstanceRequestsResponse>",
                           kNs, items)};
}

void FakeEc2::PowerOff(Instance* i, bool by_call) {
  if (i->vm) i->vm->PowerOff();
  i->snap.state = "terminated";
  i->snap.terminated_by_call = by_call;
  if (i->snap.spot) {
    i->snap.spot_status =
        by_call ? "instance-terminated-by-user" : "instance-terminated-no-capacity";
  }
}

void FakeEc2::Advance() {
  const int64_t now = NowMs();
  for (auto& i : instances_) {
    if (i->snap.state == "terminated") continue;
    if (i->vm) i->vm->Reap();
    if (i->snap.state == "pending" && now >= i->running_at_ms) i->snap.state = "running";
    if (i->interrupt_at_ms > 0 && now >= i->interrupt_at_ms) PowerOff(i.get(), false);
  }
}

FakeEc2::Instance* FakeEc2::Find(const std::string& id) {
  for (auto& i : instances_) {
    if (i->snap.id == id) return i.get();
  }
  return nullptr;
}

Status FakeEc2::Interrupt(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Advance();
  Instance* i = Find(id);
  if (!i || i->snap.state == "terminated") return NotFound("no live instance {}", id);
  if (!i->snap.spot) return FailedPrecondition("{} is on-demand: EC2 interrupts spot only", id);
  i->interrupt_at_ms = NowMs() + static_cast<int64_t>(o_.host.notice_seconds * 1000);
  i->snap.spot_status = "marked-for-termination";
  i->vm->ScheduleTermination(i->interrupt_at_ms);
  return Status::Ok();
}

Status FakeEc2::Rebalance(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Instance* i = Find(id);
  if (!i || i->snap.state == "terminated") return NotFound("no live instance {}", id);
  i->vm->ScheduleRebalance();
  return Status::Ok();
}

Status FakeEc2::Pause(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Instance* i = Find(id);
  if (!i || !i->vm) return NotFound("no instance {}", id);
  return i->vm->Pause();
}

Status FakeEc2::Resume(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Instance* i = Find(id);
  if (!i || !i->vm) return NotFound("no instance {}", id);
  return i->vm->Resume();
}

std::vector<FakeEc2Instance> FakeEc2::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  Advance();
  std::vector<FakeEc2Instance> out;
  for (const auto& i : instances_) {
    FakeEc2Instance s = i->snap;
    s.process_alive = i->vm && i->vm->process_alive();
    if (i->vm && !i->vm->log_path().empty()) {
      Result<std::string> log = Env::Default()->ReadFile(i->vm->log_path());
      if (log.ok()) s.agent_log = *log;
    }
    out.push_back(std::move(s));
  }
  return out;
}

int FakeEc2::CallCount(const std::string& action) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(action);
  return it == calls_.end() ? 0 : it->second;
}

std::vector<std::string> FakeEc2::SignatureFailures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return signature_failures_;
}

}  // namespace baton::testing
