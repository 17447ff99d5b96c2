// RPC parameter flattening (cloud/aliyun_params.h) and the error table (cloud/aliyun_errors.h).
#include "cloud/aliyun_params.h"

#include <gtest/gtest.h>

#include "cloud/aliyun_errors.h"

namespace baton {
namespace {

TEST(AliyunParamsTest, TypedBuilderFlattensListsStructsAndListsOfStructs) {
  RpcParams p;
  p.Set("RegionId", "cn-hangzhou")
      .Set("MinSize", 0)
      .Set("MaxSize", 3)
      .Set("AzBalance", true)
      .SetList("VSwitchIds", {"vsw-a", "vsw-b"})
      .SetStruct("CapacityOptions",
                 RpcParams().Set("SpotAutoReplaceOnDemand", true).Set("OnDemandBaseCapacity", 0))
      .SetStructList("Tag", {RpcParams().Set("Key", "run").Set("Value", "r1"),
                             RpcParams().Set("Key", "owner").Set("Value", "baton")})
      .SetStructList("LaunchTemplateOverride",
                     {RpcParams()
                          .Set("InstanceType", "ecs.gn7i-c8g1.2xlarge")
                          .SetStruct("Nested", RpcParams().SetList("Ids", {"x"}))});
  EXPECT_EQ(p.Get("VSwitchIds.1"), "vsw-a");
  EXPECT_EQ(p.Get("VSwitchIds.2"), "vsw-b");
  EXPECT_FALSE(p.Has("VSwitchIds.3"));
  EXPECT_EQ(p.Get("CapacityOptions.SpotAutoReplaceOnDemand"), "true");
  EXPECT_EQ(p.Get("CapacityOptions.OnDemandBaseCapacity"), "0");
  EXPECT_EQ(p.Get("Tag.1.Key"), "run");
  EXPECT_EQ(p.Get("Tag.2.Value"), "baton");
  EXPECT_EQ(p.Get("LaunchTemplateOverride.1.InstanceType"), "ecs.gn7i-c8g1.2xlarge");
  EXPECT_EQ(p.Get("LaunchTemplateOverride.1.Nested.Ids.1"), "x");
  EXPECT_EQ(p.Get("AzBalance"), "true");
  EXPECT_EQ(p.Get("MinSize"), "0");
  EXPECT_EQ(p.pairs().size(), 14u);
  p.Set("MaxSize", 5);  // replaces
  EXPECT_EQ(p.Get("MaxSize"), "5");
}

TEST(AliyunParamsTest, JsonFlattensTheSameWay) {
  Json j = Json::parse(R"({
    "RegionId": "cn-hangzhou", "MaxSize": 3, "SpotPrice": 0.5, "AzBalance": false,
    "VSwitchIds": ["vsw-a", "vsw-b"],
    "CapacityOptions": {"SpotAutoReplaceOnDemand": true},
    "Tag": [{"Key": "run", "Value": "r1"}, {"Key": "k2", "Value": "v2"}],
    "Skipped": null})");
  Result<RpcParams> p = RpcParams::FromJson(j);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Get("VSwitchIds.2"), "vsw-b");
  EXPECT_EQ(p->Get("CapacityOptions.SpotAutoReplaceOnDemand"), "true");
  EXPECT_EQ(p->Get("Tag.2.Key"), "k2");
  EXPECT_EQ(p->Get("MaxSize"), "3");
  EXPECT_EQ(p->Get("SpotPrice"), "0.5");
  EXPECT_EQ(p->Get("AzBalance"), "false");
  EXPECT_FALSE(p->Has("Skipped"));
  EXPECT_FALSE(RpcParams::FromJson(Json::array()).ok());
  // ECS's JSON-string parameters are set as text.
  RpcParams q;
  q.Set("InstanceIds", Json::array({"i-a", "i-b"}).dump());
  EXPECT_EQ(q.Get("InstanceIds"), R"(["i-a","i-b"])");
}

TEST(AliyunErrorsTest, ParsesBothSpellingsAndNonJson) {
  AliyunError e = ParseAliyunError(
      400, R"({"RequestId":"540CFF28","HostId":"ess.aliyuncs.com","Code":"Throttling.User",)"
           R"("Message":"Request was denied due to user flow control."})");
  EXPECT_EQ(e.code, "Throttling.User");
  EXPECT_EQ(e.request_id, "540CFF28");
  EXPECT_EQ(e.message, "Request was denied due to user flow control.");
  AliyunError lower =
      ParseAliyunError(404, R"({"code":"X.NotFound","message":"m","requestId":"r"})");
  EXPECT_EQ(lower.code, "X.NotFound");
  EXPECT_EQ(lower.request_id, "r");
  AliyunError html = ParseAliyunError(502, "<html>bad gateway</html>");
  EXPECT_EQ(html.code, "");
  EXPECT_EQ(html.http_status, 502);
}

TEST(AliyunErrorsTest, RetryClassificationTable) {
  struct Case {
    const char* code;
    long status;
    bool retry;
    AliyunErrorKind kind;
  };
  const Case cases[] = {
      {"Throttling", 400, true, AliyunErrorKind::kThrottled},
      {"Throttling.User", 400, true, AliyunErrorKind::kThrottled},
      {"Throttling.Api", 400, true, AliyunErrorKind::kThrottled},
      {"Rejected.Throttling", 400, true, AliyunErrorKind::kThrottled},
      {"ServiceUnavailable", 503, true, AliyunErrorKind::kServerError},
      {"ServiceUnavailable.RegionMaintaining", 503, true, AliyunErrorKind::kServerError},
      {"InternalError", 500, true, AliyunErrorKind::kServerError},
      {"OperationConflict", 409, true, AliyunErrorKind::kBusy},
      {"LastTokenProcessing", 403, true, AliyunErrorKind::kBusy},
      {"", 502, true, AliyunErrorKind::kServerError},
      {"", 429, true, AliyunErrorKind::kThrottled},
      {"", 0, true, AliyunErrorKind::kServerError},
      {"MissingParameter", 400, false, AliyunErrorKind::kInvalid},
      {"MissingParameter.RegionId", 400, false, AliyunErrorKind::kInvalid},
      {"InvalidParameter", 400, false, AliyunErrorKind::kInvalid},
      {"InvalidParameter.VSwitchIds", 400, false, AliyunErrorKind::kInvalid},
      {"IdempotentParameterMismatch", 400, false, AliyunErrorKind::kInvalid},
      {"Forbidden", 403, false, AliyunErrorKind::kPermission},
      {"Forbidden.RiskControl", 403, false, AliyunErrorKind::kPermission},
      {"Forbidden.Unsubscribed", 403, false, AliyunErrorKind::kPermission},
      {"SignatureDoesNotMatch", 403, false, AliyunErrorKind::kPermission},
      {"InvalidAccessKeyId.NotFound", 400, false, AliyunErrorKind::kPermission},
      {"InvalidScalingGroupId.NotFound", 404, false, AliyunErrorKind::kNotFound},
      {"OperationDenied.NoStock", 403, false, AliyunErrorKind::kNoCapacity},
      {"QuotaExceed.AfterpayInstance", 403, false, AliyunErrorKind::kNoCapacity},
      {"SomethingNew", 400, false, AliyunErrorKind::kUnknown},
  };
  for (const Case& c : cases) {
    AliyunErrorKind kind = ClassifyAliyunError(c.code, c.status);
    EXPECT_EQ(kind, c.kind) << c.code << " " << c.status << ": " << AliyunErrorKindName(kind);
    EXPECT_EQ(IsRetryable(kind), c.retry) << c.code << " " << c.status;
  }
}

TEST(AliyunErrorsTest, StatusNamesServiceActionCodeAndRequestId) {
  AliyunError e{400, "InvalidParameter.VSwitchIds", "The vswitch is bad.", "RID-1"};
  Status s = AliyunErrorStatus("ess", "CreateScalingGroup", e);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "ess CreateScalingGroup: InvalidParameter.VSwitchIds (HTTP 400): The vswitch is bad. "
            "[RequestId RID-1]");
  EXPECT_EQ(AliyunErrorStatus("ecs", "X", {400, "Throttling", "", ""}).code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(AliyunErrorStatus("ecs", "X", {404, "InvalidInstanceId.NotFound", "", ""}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(AliyunErrorStatus("ecs", "X", {403, "Forbidden", "", ""}).code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace baton
