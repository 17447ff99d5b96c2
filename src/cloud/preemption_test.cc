#include "cloud/preemption.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "base/process_contract.h"
#include "cloud/fake_metadata_server.h"
#include "cloud/metadata_time.h"
#include "cloud/notice_monitor.h"
#include "loopback.h"
#include "net/http_server.h"

namespace baton {
namespace {

constexpr int64_t kDeadline = 1505722920000;  // 2017-09-18T08:22:00Z

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// The real Env with a clock the test moves by hand.
class ClockEnv : public ForwardingEnv {
 public:
  explicit ClockEnv(uint64_t now_micros) : now_(now_micros) {}
  void Advance(uint64_t ms) { now_ += ms * 1000; }

  uint64_t NowMicros() override { return now_; }
  void SleepMicros(uint64_t micros) override { now_ += micros; }

 private:
  std::atomic<uint64_t> now_;
};

class PreemptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = FakeMetadataServer::Start();
    ASSERT_TRUE(fake.ok()) << fake.status().ToString();
    fake_ = std::move(fake).value();
  }

  std::unique_ptr<PreemptionWatcher> Watcher(Cloud cloud, WatcherOptions options = {}) {
    auto w = PreemptionWatcher::Create(cloud, fake_->url(), options);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  // Polls once and expects a notice.
  Notice Expect(PreemptionWatcher& w) {
    auto polled = w.Poll();
    EXPECT_TRUE(polled.ok()) << polled.status().ToString();
    EXPECT_TRUE(polled.ok() && polled->has_value()) << CloudName(w.cloud());
    return polled.ok() && polled->has_value() ? **polled : Notice{};
  }

  std::unique_ptr<FakeMetadataServer> fake_;
};

TEST_F(PreemptionTest, ParsesCloudNamesAndKnowsDefaults) {
  EXPECT_EQ(*ParseCloud("alibaba"), Cloud::kAlibaba);
  EXPECT_EQ(*ParseCloud("Aliyun"), Cloud::kAlibaba);
  EXPECT_EQ(*ParseCloud("aws"), Cloud::kAws);
  EXPECT_EQ(*ParseCloud("GCP"), Cloud::kGcp);
  EXPECT_EQ(*ParseCloud("azure"), Cloud::kAzure);
  Result<Cloud> bad = ParseCloud("ibm");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ibm"), std::string::npos);
  for (Cloud c : kAllClouds) EXPECT_EQ(*ParseCloud(CloudName(c)), c);
  EXPECT_EQ(*ParseNoticeKind("rebalance"), NoticeKind::kRebalance);
  EXPECT_FALSE(ParseNoticeKind("soon").ok());

  EXPECT_EQ(DefaultMetadataUrl(Cloud::kAlibaba), "http://100.100.100.200");
  EXPECT_EQ(DefaultMetadataUrl(Cloud::kAws), "http://169.254.169.254");
  EXPECT_EQ(DefaultMetadataUrl(Cloud::kGcp), "http://metadata.google.internal");
  EXPECT_EQ(DefaultMetadataUrl(Cloud::kAzure), "http://169.254.169.254");

  std::optional<std::string> saved = GetEnvVar(EnvVar::kMetadataUrl);
  SetEnvVar(EnvVar::kMetadataUrl, std::nullopt);
  EXPECT_EQ(ResolveMetadataUrl(Cloud::kGcp), "http://metadata.google.internal");
  SetEnvVar(EnvVar::kMetadataUrl, "http://127.0.0.1:9");
  EXPECT_EQ(ResolveMetadataUrl(Cloud::kGcp), "http://127.0.0.1:9");
  auto w = PreemptionWatcher::Create(Cloud::kAws);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->base_url(), "http://127.0.0.1:9");
  SetEnvVar(EnvVar::kMetadataUrl, saved);

  EXPECT_FALSE(PreemptionWatcher::Create(Cloud::kAws, "169.254.169.254").ok());
  EXPECT_FALSE(PreemptionWatcher::Create(Cloud::kAws, "http://x", {.token_ttl_seconds = 0}).ok());
  auto slash = PreemptionWatcher::Create(Cloud::kAws, "http://x:1/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ((*slash)->base_url(), "http://x:1");
}

TEST_F(PreemptionTest, ParsesAndFormatsMetadataTimestamps) {
  EXPECT_EQ(*ParseRfc3339Ms("2015-01-05T18:02:00Z"), 1420480920000);
  EXPECT_EQ(*ParseRfc3339Ms("2015-01-05T18:02:00.250Z"), 1420480920250);
  EXPECT_EQ(*ParseRfc3339Ms("2015-01-06T02:02:00+08:00"), 1420480920000);
  EXPECT_EQ(*ParseRfc3339Ms("2015-01-05t18:02:00z"), 1420480920000);
  for (const char* bad : {"", "2015-01-05", "2015-01-05T18:02:00", "2015-02-30T00:00:00Z",
                          "2015-01-05T25:00:00Z", "2015-01-05T18:02:00Zjunk", "soon"}) {
    EXPECT_FALSE(ParseRfc3339Ms(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatRfc3339(1420480920999), "2015-01-05T18:02:00Z");

  EXPECT_EQ(*ParseRfc1123Ms("Mon, 19 Sep 2016 18:29:47 GMT"), 1474309787000);
  EXPECT_EQ(*ParseRfc1123Ms("19 Sep 2016 18:29:47 GMT"), 1474309787000);
  EXPECT_EQ(FormatRfc1123(1474309787000), "Mon, 19 Sep 2016 18:29:47 GMT");
  EXPECT_EQ(FormatRfc1123(1898553599000), "Thu, 28 Feb 2030 23:59:59 GMT");
  for (const char* bad : {"", "Mon, 19 Sept 2016 18:29:47 GMT", "Mon, 19 Sep 2016 18:29:47 PST",
                          "Mon, 31 Sep 2016 18:29:47 GMT", "2016-09-19T18:29:47Z"}) {
    EXPECT_FALSE(ParseRfc1123Ms(bad).ok()) << bad;
  }
}

TEST_F(PreemptionTest, NoNoticeWhileNothingIsScheduled) {
  for (Cloud cloud : kAllClouds) {
    auto w = Watcher(cloud);
    for (int i = 0; i < 2; ++i) {
      auto polled = w->Poll();
      ASSERT_TRUE(polled.ok()) << CloudName(cloud) << ": " << polled.status().ToString();
      EXPECT_FALSE(polled->has_value()) << CloudName(cloud);
    }
  }
}

TEST_F(PreemptionTest, AlibabaReportsTheTerminationTime) {
  auto w = Watcher(Cloud::kAlibaba);
  fake_->ScheduleNotice(Cloud::kAlibaba, NoticeKind::kTermination, kDeadline);
  Notice n = Expect(*w);
  EXPECT_EQ(n.cloud, Cloud::kAlibaba);
  EXPECT_EQ(n.kind, NoticeKind::kTermination);
  EXPECT_EQ(n.deadline_unix_ms, kDeadline);
  EXPECT_NE(n.detail.find("2017-09-18T08:22:00Z"), std::string::npos);
  // It asked in security hardening mode.
  EXPECT_EQ(fake_->CountOf("PUT", "/latest/api/token"), 1u);
  EXPECT_EQ(fake_->http().CountOfStatus(401), 0u);
}

TEST_F(PreemptionTest, AwsReportsTheInstanceAction) {
  auto w = Watcher(Cloud::kAws);
  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kTermination, kDeadline, "stop");
  Notice n = Expect(*w);
  EXPECT_EQ(n.cloud, Cloud::kAws);
  EXPECT_EQ(n.kind, NoticeKind::kTermination);
  EXPECT_EQ(n.deadline_unix_ms, kDeadline);
  EXPECT_NE(n.detail.find("stop"), std::string::npos);
  EXPECT_NE(DescribeNotice(n).find("aws termination notice, deadline 2017-09-18T08:22:00Z"),
            std::string::npos);
}

TEST_F(PreemptionTest, AwsRebalanceRecommendationIsAWeakerKind) {
  auto w = Watcher(Cloud::kAws);
  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kRebalance, 0);
  Notice n = Expect(*w);
  EXPECT_EQ(n.kind, NoticeKind::kRebalance);
  EXPECT_EQ(n.deadline_unix_ms, 0);
  EXPECT_NE(n.detail.find("noticeTime"), std::string::npos);
  // A termination notice wins over the recommendation.
  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kTermination, kDeadline);
  EXPECT_EQ(Expect(*w).kind, NoticeKind::kTermination);
}

TEST_F(PreemptionTest, GcpDeadlineIs30SecondsAfterPreemptedTurnsTrue) {
  ClockEnv clock(1000000ull * 1000000);  // 1e6 s after the epoch
  auto w = Watcher(Cloud::kGcp, {.env = &clock});
  fake_->ScheduleNotice(Cloud::kGcp, NoticeKind::kTermination, kDeadline);
  Notice n = Expect(*w);
  EXPECT_EQ(n.cloud, Cloud::kGcp);
  EXPECT_EQ(n.deadline_unix_ms, 1000000ll * 1000 + 30000);
  clock.Advance(5000);
  EXPECT_EQ(Expect(*w).deadline_unix_ms, 1000000ll * 1000 + 30000);  // from when it was first seen
}

TEST_F(PreemptionTest, AzurePreemptEventGivesNotBefore) {
  auto w = Watcher(Cloud::kAzure);
  fake_->ScheduleNotice(Cloud::kAzure, NoticeKind::kTermination, kDeadline);
  Notice n = Expect(*w);
  EXPECT_EQ(n.cloud, Cloud::kAzure);
  EXPECT_EQ(n.kind, NoticeKind::kTermination);
  EXPECT_EQ(n.deadline_unix_ms, kDeadline);
  EXPECT_NE(n.detail.find("Preempt"), std::string::npos);
  EXPECT_EQ(fake_->CountOf("GET", "/metadata/instance/compute/name"), 1u);  // looked up once
  Expect(*w);
  EXPECT_EQ(fake_->CountOf("GET", "/metadata/instance/compute/name"), 1u);
}

TEST_F(PreemptionTest, AzureIgnoresOtherEventsAndOtherVms) {
  HttpServer server;
  std::string events;
  std::mutex mu;
  server.Route("GET", "/metadata/instance/compute/name",
               [](const HttpServerRequest&) { return HttpServerResponse::Text(200, "me"); });
  server.Route("GET", "/metadata/scheduledevents", [&](const HttpServerRequest&) {
    std::lock_guard<std::mutex> lock(mu);
    return HttpServerResponse::Json(200, events);
  });
  ASSERT_TRUE(server.Start().ok());
  auto w = PreemptionWatcher::Create(Cloud::kAzure, server.url());
  ASSERT_TRUE(w.ok());
  auto set = [&](std::string doc) {
    std::lock_guard<std::mutex> lock(mu);
    events = std::move(doc);
  };
  set(R"({"DocumentIncarnation": 3, "Events": [
        {"EventId": "a", "EventType": "Reboot", "Resources": ["me"],
         "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT"},
        {"EventId": "b", "EventType": "Preempt", "Resources": ["someone-else"],
         "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT"}]})");
  auto polled = (*w)->Poll();
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  EXPECT_FALSE(polled->has_value());

  // A scale set deleting this VM is as final as a preemption; a started event has no NotBefore.
  set(R"({"DocumentIncarnation": 4, "Events": [
        {"EventId": "c", "EventType": "Terminate", "EventStatus": "Started",
         "Resources": ["me"], "NotBefore": ""}]})");
  polled = (*w)->Poll();
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  ASSERT_TRUE(polled->has_value());
  EXPECT_EQ((*polled)->deadline_unix_ms, 0);
  EXPECT_NE((*polled)->detail.find("Terminate"), std::string::npos);
}

TEST_F(PreemptionTest, AwsTokenIsReusedAndRefreshed) {
  ClockEnv clock(Env::Default()->NowMicros());
  auto w = Watcher(Cloud::kAws, {.token_ttl_seconds = 100, .env = &clock});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Poll().ok());
  EXPECT_EQ(fake_->CountOf("PUT", "/latest/api/token"), 1u);
  EXPECT_EQ(fake_->CountOf("GET", "/latest/meta-data/spot/instance-action"), 3u);
  EXPECT_EQ(fake_->http().CountOfStatus(401), 0u);

  // The service forgot the token (it expired, or the service restarted): one 401, a new token,
  // and the poll still succeeds.
  fake_->ExpireTokens();
  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kTermination, kDeadline);
  EXPECT_EQ(Expect(*w).deadline_unix_ms, kDeadline);
  EXPECT_EQ(fake_->http().CountOfStatus(401), 1u);
  EXPECT_EQ(fake_->CountOf("PUT", "/latest/api/token"), 2u);

  // Near the end of its TTL the token is replaced before it is refused.
  clock.Advance(91 * 1000);
  ASSERT_TRUE(w->Poll().ok());
  EXPECT_EQ(fake_->CountOf("PUT", "/latest/api/token"), 3u);
  EXPECT_EQ(fake_->http().CountOfStatus(401), 1u);
}

TEST_F(PreemptionTest, TokenlessGetsWhenTheTokenPutFails) {
  // HttpTokens=optional, and the PUT gets no answer (a container one hop too far): the watcher
  // reads without a token.
  auto optional = FakeMetadataServer::Start({.aws_require_token = false});
  ASSERT_TRUE(optional.ok());
  auto w = PreemptionWatcher::Create(Cloud::kAws, (*optional)->url());
  ASSERT_TRUE(w.ok());
  (*optional)->FailNextRequests(1, 0);
  auto polled = (*w)->Poll();
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  EXPECT_FALSE(polled->has_value());
  (*optional)->ScheduleNotice(Cloud::kAws, NoticeKind::kTermination, kDeadline);
  polled = (*w)->Poll();
  ASSERT_TRUE(polled.ok() && polled->has_value());
  EXPECT_EQ((*optional)->CountOf("PUT", "/latest/api/token"), 1u);  // not every poll

  // Where tokens are required, a 401 sends it back for a token.
  auto aws = Watcher(Cloud::kAws);
  fake_->FailNextRequests(1, 405);
  polled = aws->Poll();
  ASSERT_TRUE(polled.ok()) << polled.status().ToString();
  EXPECT_EQ(fake_->http().CountOfStatus(401), 1u);
  EXPECT_EQ(fake_->CountOf("PUT", "/latest/api/token"), 2u);
  ASSERT_TRUE(aws->Poll().ok());
  EXPECT_EQ(fake_->http().CountOfStatus(401), 1u);

  // And when no token can be had at all, the error says so.
  HttpServer server;
  server.Route("PUT", "/latest/api/token",
               [](const HttpServerRequest&) { return HttpServerResponse::Text(404, "no"); });
  server.Route("GET", "/latest/meta-data/spot/instance-action",
               [](const HttpServerRequest&) { return HttpServerResponse::Text(401, "no"); });
  ASSERT_TRUE(server.Start().ok());
  auto stuck = PreemptionWatcher::Create(Cloud::kAws, server.url());
  ASSERT_TRUE(stuck.ok());
  polled = (*stuck)->Poll();
  ASSERT_FALSE(polled.ok());
  EXPECT_NE(polled.status().message().find("/latest/api/token: HTTP 404"), std::string::npos)
      << polled.status().message();
}

TEST_F(PreemptionTest, MalformedAnswersAreErrorsNamingTheUrl) {
  HttpServer server;
  std::map<std::string, std::pair<int, std::string>> answers;
  std::mutex mu;
  auto serve = [&](const std::string& path) {
    server.Route("GET", path, [&, path](const HttpServerRequest&) {
      std::lock_guard<std::mutex> lock(mu);
      return HttpServerResponse::Text(answers[path].first, answers[path].second);
    });
  };
  server.Route("PUT", "/latest/api/token",
               [](const HttpServerRequest&) { return HttpServerResponse::Text(200, "tok"); });
  const std::string kAlibaba = "/latest/meta-data/instance/spot/termination-time";
  const std::string kAction = "/latest/meta-data/spot/instance-action";
  const std::string kGcp = "/computeMetadata/v1/instance/preempted";
  const std::string kAzure = "/metadata/scheduledevents";
  for (const auto& p : {kAlibaba, kAction, kGcp, kAzure}) serve(p);
  ASSERT_TRUE(server.Start().ok());

  struct Case {
    Cloud cloud;
    std::string path;
    int status;
    std::string body;
    StatusCode code;
  };
  std::vector<Case> cases = {
      {Cloud::kAlibaba, kAlibaba, 200, "in five minutes", StatusCode::kCorruption},
      {Cloud::kAws, kAction, 200, "{not json", StatusCode::kCorruption},
      {Cloud::kAws, kAction, 200, R"({"action": "terminate"})", StatusCode::kCorruption},
      {Cloud::kAws, kAction, 200, R"({"action": "stop", "time": "soon"})", StatusCode::kCorruption},
      {Cloud::kGcp, kGcp, 200, "MAYBE", StatusCode::kCorruption},
      {Cloud::kAzure, kAzure, 200, R"({"Events": 3})", StatusCode::kCorruption},
      {Cloud::kAzure, kAzure, 200,
       R"({"Events": [{"EventType": "Preempt", "NotBefore": "tomorrow"}]})",
       StatusCode::kCorruption},
      {Cloud::kGcp, kGcp, 500, "oops", StatusCode::kUnavailable},
      {Cloud::kGcp, kGcp, 403, "Missing Metadata-Flavor", StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    {
      std::lock_guard<std::mutex> lock(mu);
      answers[c.path] = {c.status, c.body};
    }
    auto w = PreemptionWatcher::Create(c.cloud, server.url());
    ASSERT_TRUE(w.ok());
    auto polled = (*w)->Poll();
    ASSERT_FALSE(polled.ok()) << CloudName(c.cloud) << " " << c.body;
    EXPECT_EQ(polled.status().code(), c.code) << polled.status().ToString();
    EXPECT_NE(polled.status().message().find(server.url() + c.path), std::string::npos)
        << polled.status().ToString();
  }
}

TEST_F(PreemptionTest, UnreachableServiceFailsFast) {
  // A port where nothing listens: refused at once.
  std::string url = "http://127.0.0.1:" + std::to_string(testing::ClosedLoopbackPort());
  for (Cloud cloud : kAllClouds) {
    auto w = PreemptionWatcher::Create(cloud, url);
    ASSERT_TRUE(w.ok());
    auto start = Clock::now();
    auto polled = (*w)->Poll();
    EXPECT_LT(MsSince(start), 1000);
    ASSERT_FALSE(polled.ok());
    EXPECT_EQ(polled.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(polled.status().message().find(url), std::string::npos) << polled.status().message();
  }

  // A service that takes connections into a full backlog and never answers (as a blackholed
  // link-local address does): the per-request timeout bounds the poll.
  int port = 0;
  int fd = testing::ListenOnLoopback(&port, 0);
  ASSERT_GT(port, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(c);
  }
  std::string hole = "http://127.0.0.1:" + std::to_string(port);
  auto w = PreemptionWatcher::Create(Cloud::kGcp, hole, {.request_timeout_ms = 500});
  ASSERT_TRUE(w.ok());
  auto start = Clock::now();
  auto polled = (*w)->Poll();
  int64_t took = MsSince(start);
  EXPECT_LT(took, 1500);
  ASSERT_FALSE(polled.ok());
  EXPECT_EQ(polled.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(polled.status().message().find(hole), std::string::npos) << polled.status().message();
  for (int c : fillers) close(c);
  close(fd);
}

// Records what a NoticeMonitor logs and reports.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> lines;
  std::vector<Notice> notices;

  NoticeMonitorOptions Options(int interval_ms) {
    NoticeMonitorOptions o;
    o.poll_interval_ms = interval_ms;
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(line);
    };
    o.on_notice = [this](const Notice& n) {
      std::lock_guard<std::mutex> lock(mu);
      notices.push_back(n);
    };
    return o;
  }
  int LinesWith(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& l : lines) n += l.find(what) != std::string::npos;
    return n;
  }
  size_t NoticeCount() {
    std::lock_guard<std::mutex> lock(mu);
    return notices.size();
  }
};

// Waits up to 5 s for `done`.
template <typename F>
bool WaitFor(F done) {
  auto start = Clock::now();
  while (!done()) {
    if (MsSince(start) > 5000) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST_F(PreemptionTest, MonitorRaisesItsFlagWithinTwoIntervals) {
  constexpr int kInterval = 200;
  Recorder rec;
  NoticeMonitor monitor(Watcher(Cloud::kAws), rec.Options(kInterval));
  ASSERT_TRUE(WaitFor([&] { return monitor.polls() >= 2; }));
  EXPECT_FALSE(monitor.stop_requested());
  EXPECT_FALSE(monitor.notice().has_value());

  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kTermination, kDeadline);
  auto start = Clock::now();
  ASSERT_TRUE(monitor.WaitForStop(5000));
  EXPECT_LE(MsSince(start), 2 * kInterval);
  ASSERT_TRUE(monitor.notice().has_value());
  EXPECT_EQ(monitor.notice()->deadline_unix_ms, kDeadline);
  EXPECT_EQ(rec.NoticeCount(), 1u);
  EXPECT_EQ(rec.LinesWith("aws termination notice"), 1);

  // It stops polling once told to stop the trainer.
  uint64_t polls = monitor.polls();
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kInterval));
  EXPECT_EQ(monitor.polls(), polls);
}

TEST_F(PreemptionTest, MonitorKeepsPollingThroughErrorsAndDowntime) {
  Recorder rec;
  NoticeMonitor monitor(Watcher(Cloud::kGcp), rec.Options(20));
  ASSERT_TRUE(WaitFor([&] { return monitor.polls() >= 1; }));

  // Transient 500s, then connections closed without an answer.
  fake_->FailNextRequests(3, 500);
  ASSERT_TRUE(WaitFor([&] { return monitor.failed_polls() >= 3; }));
  ASSERT_TRUE(WaitFor([&] { return rec.LinesWith("answers again") == 1; }));
  uint64_t failed = monitor.failed_polls();
  fake_->FailNextRequests(2, 0);
  ASSERT_TRUE(WaitFor([&] { return monitor.failed_polls() > failed; }));
  ASSERT_TRUE(WaitFor([&] { return rec.LinesWith("answers again") == 2; }));

  // The service goes away for a while and comes back.
  fake_->Stop();
  failed = monitor.failed_polls();
  ASSERT_TRUE(WaitFor([&] { return monitor.failed_polls() >= failed + 5; }));
  EXPECT_FALSE(monitor.stop_requested());
  fake_->ScheduleNotice(Cloud::kGcp, NoticeKind::kTermination, kDeadline);
  ASSERT_TRUE(fake_->Restart().ok());
  ASSERT_TRUE(monitor.WaitForStop(5000));
  EXPECT_EQ(monitor.notice()->cloud, Cloud::kGcp);

  // One line when each run of failures starts, one when it ends; not one per failed poll.
  EXPECT_EQ(rec.LinesWith("will keep polling"), 3);
  EXPECT_EQ(rec.LinesWith("answers again"), 3);
  EXPECT_GE(monitor.failed_polls(), 9u);
}

TEST_F(PreemptionTest, MonitorReportsRebalanceWithoutStopping) {
  Recorder rec;
  NoticeMonitor monitor(Watcher(Cloud::kAws), rec.Options(20));
  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kRebalance, 0);
  ASSERT_TRUE(WaitFor([&] { return rec.NoticeCount() == 1; }));
  uint64_t polls = monitor.polls();
  ASSERT_TRUE(WaitFor([&] { return monitor.polls() >= polls + 3; }));
  EXPECT_FALSE(monitor.stop_requested());
  ASSERT_TRUE(monitor.rebalance().has_value());
  EXPECT_EQ(rec.NoticeCount(), 1u);  // reported once, not on every poll

  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kTermination, kDeadline);
  ASSERT_TRUE(monitor.WaitForStop(5000));
  EXPECT_EQ(monitor.notice()->kind, NoticeKind::kTermination);
  EXPECT_EQ(rec.NoticeCount(), 2u);

  Recorder eager;
  NoticeMonitorOptions options = eager.Options(20);
  options.stop_on_rebalance = true;
  fake_->Clear();
  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kRebalance, 0);
  NoticeMonitor strict(Watcher(Cloud::kAws), options);
  ASSERT_TRUE(strict.WaitForStop(5000));
  EXPECT_EQ(strict.notice()->kind, NoticeKind::kRebalance);
}

TEST_F(PreemptionTest, MonitorStopsPromptly) {
  Recorder rec;
  auto monitor = std::make_unique<NoticeMonitor>(Watcher(Cloud::kAzure), rec.Options(60000));
  ASSERT_TRUE(WaitFor([&] { return monitor->polls() >= 1; }));
  auto start = Clock::now();
  monitor.reset();
  EXPECT_LT(MsSince(start), 500);
}

}  // namespace
}  // namespace baton
