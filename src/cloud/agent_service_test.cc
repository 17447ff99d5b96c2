#include "cloud/agent_service.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <vector>

namespace baton {
namespace {

// Splits a systemd command line as systemd does for the cases the unit writer produces: words
// in double quotes with C escapes (\\ \" \xNN), "%%" for '%' and "$$" for '$'.
std::vector<std::string> SplitSystemdCommand(const std::string& line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    std::string w;
    bool quoted = line[i] == '"';
    if (quoted) ++i;
    for (; i < line.size() && (quoted ? line[i] != '"' : line[i] != ' '); ++i) {
      char c = line[i];
      if (c == '\\' && line[i + 1] == 'x') {
        w += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else if (c == '\\') {
        w += line[++i];
      } else if ((c == '%' || c == '$') && line[i + 1] == c) {
        w += line[++i];
      } else {
        EXPECT_TRUE(c != '%' && c != '$') << "unescaped " << c << " in " << line;
        w += c;
      }
    }
    if (quoted) ++i;
    words.push_back(w);
  }
  return words;
}

std::string LineOf(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key);
  if (at == std::string::npos) return "";
  at += 1 + key.size();
  return text.substr(at, text.find('\n', at) - at);
}

TEST(AgentService, SystemdUnitOrdersAfterNetworkAndRestartsOnFailure) {
  ServiceOptions o;
  o.job = "s3://bkt/jobs/it's.yaml";
  o.environment_file = "/etc/baton/env";
  Result<std::string> unit = SystemdUnit(o);
  ASSERT_TRUE(unit.ok()) << unit.status().ToString();
  for (const char* want :
       {"After=network-online.target", "Wants=network-online.target", "Restart=on-failure",
        "RestartPreventExitStatus=3", "KillSignal=SIGTERM", "TimeoutStopSec=100",
        "StandardOutput=journal", "EnvironmentFile=-/etc/baton/env",
        "ExecStart=\"/usr/local/bin/baton\" agent --job \"s3://bkt/jobs/it's.yaml\"",
        "Environment=\"BATON_CACHE_DIR=/var/lib/baton/cache\"", "WantedBy=multi-user.target"}) {
    EXPECT_NE(unit->find(want), std::string::npos) << want << "\n" << *unit;
  }
}

TEST(AgentService, HostileValuesAreQuotedOrRefusedNeverExtraLines) {
  ServiceOptions o;
  o.baton_path = "/opt/my tools/baton";
  o.job = "s3://bkt/j 1/\"100%\" $HOME \\ it's.yaml";
  o.work_dir = "/var/lib/baton 50%";
  Result<std::string> unit = SystemdUnit(o);
  ASSERT_TRUE(unit.ok()) << unit.status().ToString();
  EXPECT_EQ(SplitSystemdCommand(LineOf(*unit, "ExecStart=")),
            (std::vector<std::string>{o.baton_path, "agent", "--job", o.job}));
  EXPECT_EQ(LineOf(*unit, "WorkingDirectory="), "/var/lib/baton 50%%");
  EXPECT_EQ(LineOf(*unit, "Environment="), "\"BATON_CACHE_DIR=/var/lib/baton 50%%/cache\"");

  // A newline would make a line of its own ("ExecStartPre=/bin/sh -c evil"): refused, for every
  // option, before anything is written.
  auto with = [](auto set) {
    ServiceOptions bad;
    bad.job = "s3://bkt/job.yaml";
    set(bad);
    return bad;
  };
  const ServiceOptions refused[] = {
      with([](ServiceOptions& b) { b.job = "s3://b/j.yaml\nExecStartPre=/bin/sh -c evil"; }),
      with([](ServiceOptions& b) { b.job = "x\ry"; }),
      with([](ServiceOptions& b) { b.job = ""; }),
      with([](ServiceOptions& b) { b.baton_path = "/usr/bin/baton\n[Service]"; }),
      with([](ServiceOptions& b) { b.baton_path = "baton"; }),
      with([](ServiceOptions& b) { b.environment_file = "/etc/env\nUser=root"; }),
      with([](ServiceOptions& b) { b.environment_file = "relative/env"; }),
      with([](ServiceOptions& b) { b.work_dir = "/var/lib\tbaton"; }),
      with([](ServiceOptions& b) { b.user = "root\nUser=nobody"; }),
      with([](ServiceOptions& b) { b.user = "a b"; }),
  };
  for (const ServiceOptions& bad : refused) {
    Result<std::string> u = SystemdUnit(bad);
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument) << (u.ok() ? *u : "");
    EXPECT_EQ(u.status().message().find('\n'), std::string::npos) << u.status().message();
    EXPECT_FALSE(CloudInitUserData(bad, "https://example.com/baton").ok());
  }
  EXPECT_FALSE(CloudInitUserData(ServiceOptions{.job = "j"}, "https://x/b\nruncmd:").ok());
}

TEST(AgentService, CloudInitIsYamlThatWritesTheUnitAndStartsIt) {
  ServiceOptions o;
  o.job = "oss://bkt/jobs/demo.yaml";
  Result<std::string> text = CloudInitUserData(o, "https://example.com/baton?sig=a&b=c");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  ASSERT_EQ(text->rfind("#cloud-config\n", 0), 0u);
  YAML::Node doc = YAML::Load(*text);
  ASSERT_TRUE(doc["write_files"].IsSequence());
  EXPECT_EQ(doc["write_files"][0]["path"].as<std::string>(),
            "/etc/systemd/system/baton-agent.service");
  // The block scalar gives back the unit byte for byte (blank lines aside).
  std::string content = doc["write_files"][0]["content"].as<std::string>();
  EXPECT_NE(content.find("ExecStart=\"/usr/local/bin/baton\" agent --job "
                         "\"oss://bkt/jobs/demo.yaml\""),
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

TEST(AgentService, CloudInitKeepsEveryValueWhateverItHolds) {
  ServiceOptions o;
  o.baton_path = "/opt/it's baton: [x], #1";
  o.job = "s3://bkt/a b/'q' \"d\" #c: [x].yaml";
  o.work_dir = "/var/lib/baton, it's: [1] #2";
  const std::string url = "https://example.com/b?x='1'&y=\"2\"&z=[3]#frag";
  Result<std::string> text = CloudInitUserData(o, url);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  YAML::Node doc = YAML::Load(*text);
  std::vector<std::vector<std::string>> cmds;
  for (const YAML::Node& c : doc["runcmd"]) cmds.push_back(c.as<std::vector<std::string>>());
  ASSERT_EQ(cmds.size(), 5u) << *text;
  EXPECT_EQ(cmds[0], (std::vector<std::string>{"mkdir", "-p", o.work_dir}));
  EXPECT_EQ(cmds[1],
            (std::vector<std::string>{"curl", "-fsSL", "--retry", "5", "-o", o.baton_path, url}));
  EXPECT_EQ(cmds[2], (std::vector<std::string>{"chmod", "0755", o.baton_path}));
  std::string content = doc["write_files"][0]["content"].as<std::string>();
  EXPECT_EQ(SplitSystemdCommand(LineOf(content, "ExecStart=")),
            (std::vector<std::string>{o.baton_path, "agent", "--job", o.job}));
}

TEST(AgentService, HandoffLaunchAndAnImageThatHasBaton) {
  ServiceOptions o;
  o.job = "oss://bkt/run/fleet/job.yaml";
  o.handoff = true;
  std::string text = CloudInitUserData(o, "").value();
  YAML::Node doc = YAML::Load(text);
  std::string content = doc["write_files"][0]["content"].as<std::string>();
  EXPECT_NE(content.find("ExecStart=\"/usr/local/bin/baton\" agent --job "
                         "\"oss://bkt/run/fleet/job.yaml\" --handoff\n"),
            std::string::npos)
      << content;
  // No binary URL: the image has baton; nothing is downloaded.
  EXPECT_EQ(text.find("[curl,"), std::string::npos) << text;
  EXPECT_NE(text.find("systemctl, enable, --now"), std::string::npos) << text;
}

}  // namespace
}  // namespace baton
