#include "cloud/agent_service.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace baton {
namespace {

TEST(AgentService, SystemdUnitOrdersAfterNetworkAndRestartsOnFailure) {
  ServiceOptions o;
  o.job = "s3://bkt/jobs/it's.yaml";
  o.environment_file = "/etc/baton/env";
  std::string unit = SystemdUnit(o);
  for (const char* want :
       {"After=network-online.target", "Wants=network-online.target", "Restart=on-failure",
        "RestartPreventExitStatus=3", "KillSignal=SIGTERM", "TimeoutStopSec=100",
        "StandardOutput=journal", "EnvironmentFile=-/etc/baton/env",
        "ExecStart=/usr/local/bin/baton agent --job 's3://bkt/jobs/it'\\''s.yaml'",
        "WantedBy=multi-user.target"}) {
    EXPECT_NE(unit.find(want), std::string::npos) << want << "\n" << unit;
  }
}

TEST(AgentService, CloudInitIsYamlThatWritesTheUnitAndStartsIt) {
  ServiceOptions o;
  o.job = "oss://bkt/jobs/demo.yaml";
  std::string text = CloudInitUserData(o, "https://example.com/baton?sig=a&b=c");
  ASSERT_EQ(text.rfind("#cloud-config\n", 0), 0u);
  YAML::Node doc = YAML::Load(text);
  ASSERT_TRUE(doc["write_files"].IsSequence());
  EXPECT_EQ(doc["write_files"][0]["path"].as<std::string>(),
            "/etc/systemd/system/baton-agent.service");
  // The block scalar gives back the unit byte for byte (blank lines aside).
  std::string content = doc["write_files"][0]["content"].as<std::string>();
  EXPECT_NE(content.find("ExecStart=/usr/local/bin/baton agent --job 'oss://bkt/jobs/demo.yaml'"),
            std::string::npos)
      << content;
  std::string cmds;
  for (const YAML::Node& c : doc["runcmd"]) {
    for (const YAML::Node& w : c) cmds += w.as<std::string>() + " ";
    cmds += "\n";
  }
  EXPECT_NE(cmds.find("systemctl enable --now baton-agent.service"), std::string::npos) << cmds;
  EXPECT_NE(cmds.find("https://example.com/baton?sig=a&b=c"), std::string::npos) << cmds;
}

TEST(AgentService, HandoffLaunchAndAnImageThatHasBaton) {
  ServiceOptions o;
  o.job = "oss://bkt/run/fleet/job.yaml";
  o.handoff = true;
  std::string text = CloudInitUserData(o, "");
  YAML::Node doc = YAML::Load(text);
  std::string content = doc["write_files"][0]["content"].as<std::string>();
  EXPECT_NE(content.find("ExecStart=/usr/local/bin/baton agent --job "
                         "'oss://bkt/run/fleet/job.yaml' --handoff\n"),
            std::string::npos)
      << content;
  // No binary URL: the image has baton; nothing is downloaded.
  EXPECT_EQ(text.find("[curl,"), std::string::npos) << text;
  EXPECT_NE(text.find("systemctl, enable, --now"), std::string::npos) << text;
}

}  // namespace
}  // namespace baton
