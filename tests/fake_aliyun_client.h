// The tests of the fake Alibaba Cloud's services through the real client (fake_ecs_test.cc,
// fake_ess_test.cc): a FakeAliyun, an AliyunClient that signs with its first credential, and
// the check of an error answer's code, HTTP status and the parameter its message names.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cloud/aliyun_api.h"
#include "fake_aliyun.h"

namespace baton::testing {

class FakeAliyunClientTest : public ::testing::Test {
 protected:
  // Starts the fake and a client for `region` (two attempts, 1 ms apart: faults show at once).
  void StartFake(FakeAliyunOptions options, const std::string& region = "cn-hangzhou") {
    ASSERT_FALSE(options.credentials.empty());
    const AliyunCredential keys = options.credentials.front();
    fake_ = std::make_unique<FakeAliyun>(std::move(options));
    ASSERT_TRUE(fake_->Start().ok());
    AliyunClientOptions c;
    c.region = region;
    c.endpoint = fake_->endpoint();
    c.credentials = [keys]() -> Result<SigV4Credentials> {
      return SigV4Credentials{keys.access_key_id, keys.access_key_secret, keys.security_token};
    };
    c.max_attempts = 2;
    c.base_backoff_ms = 1;
    client_ = std::make_unique<AliyunClient>(c);
  }

  // The answer, or an error whose code and HTTP status land in error_.
  Result<Json> Call(AliyunService service, const std::string& action, const RpcParams& params) {
    error_ = {};
    return client_->Call(service, action, params, &error_);
  }

  // The last call's answer was the error `code` with `http_status`; its message names the
  // parameter `names` (in quotes) when one is given.
  void ExpectError(const Result<Json>& r, const std::string& code, long http_status,
                   const std::string& names = "") {
    ASSERT_FALSE(r.ok()) << r->dump();
    EXPECT_EQ(error_.code, code) << error_.message;
    EXPECT_EQ(error_.http_status, http_status) << error_.code;
    if (!names.empty()) {
      EXPECT_NE(error_.message.find("\"" + names + "\""), std::string::npos) << error_.message;
    }
  }

  std::optional<FakeInstanceSnapshot> Snapshot(const std::string& id) {
    for (auto& s : fake_->InstancesSnapshot()) {
      if (s.instance_id == id) return s;
    }
    return std::nullopt;
  }

  std::unique_ptr<FakeAliyun> fake_;
  std::unique_ptr<AliyunClient> client_;
  AliyunError error_;
};

}  // namespace baton::testing
