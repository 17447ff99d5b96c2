// The demo's story (examples/demo.yaml, as `baton run` plays it) told by a fast agent and by a
// slow one: the controller and the local provider drive a stand-in agent that trains one step
// every `step_seconds`. Its market is keyed to the run's progress, so both meet the same events
// and the run ends the same way: preempted with notice, killed without one, both zones' spot
// out -> on-demand, spot back -> a spot instance takes over make-before-break and completes.
// (e2e.fleet_run tells the same story with the real agent, at this machine's speed.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fleet/controller.h"
#include "fleet/local_provider.h"
#include "test_util.h"

namespace baton::fleet {
namespace {

// A stand-in for `baton agent`: loads for $LOAD_SECONDS; a hand-off one then waits on stand-by
// while another agent trains (a fresh "training" heartbeat); it resumes from the newest
// "checkpoint" (a step number in $STORE/fake-checkpoint), trains a step every $STEP_SECONDS with
// a heartbeat each, saves every 10 steps, and saves and exits 0 on SIGTERM or a termination
// notice on its metadata server. At $MAX_STEPS it completes the run.
constexpr char kAgent[] = R"sh(#!/bin/bash
store="$STORE"; id="${!ID_VAR}"; ckpt="$store/fake-checkpoint"; step=0; resumed=
mkdir -p "$store/agents"
beat() {
  local progress=""
  [ -n "$resumed" ] && progress=",\"global_step\":$step,\"max_steps\":$MAX_STEPS,\"resumed_step\":$resumed"
  printf '{"format":"baton-heartbeat","version":1,"instance":"%s","state":"%s","updated_unix_ms":0%s}' \
    "$id" "$1" "$progress" >"$store/agents/$id.json.tmp" && mv "$store/agents/$id.json.tmp" "$store/agents/$id.json"
}
save() { echo "$step" >"$ckpt.tmp" && mv "$ckpt.tmp" "$ckpt"; }
stop() { [ -n "$resumed" ] && save; beat stopped; exit 0; }
others_train() {
  for f in "$store"/agents/*.json; do
    [ "$f" = "$store/agents/$id.json" ] && continue
    grep -q '"state":"training"' "$f" 2>/dev/null && [ -n "$(find "$f" -newermt '2 seconds ago')" ] && return 0
  done
  return 1
}
trap stop TERM
beat loading
sleep "$LOAD_SECONDS"
if [ "${!HANDOFF_VAR}" = 1 ]; then
  beat standby
  while others_train; do sleep 0.05; done
fi
step=$(cat "$ckpt" 2>/dev/null || echo 0); resumed=$step
beat training
while true; do
  curl -sf "${!METADATA_VAR}/latest/meta-data/instance/spot/termination-time" >/dev/null && stop
  sleep "$STEP_SECONDS"
  step=$((step + 1))
  [ $((step % 10)) = 0 ] && save
  if [ "$step" -ge "$MAX_STEPS" ]; then beat complete; : >"$store/COMPLETE"; exit 0; fi
  beat training
done
)sh";

class LocalStoryTest : public ::testing::TestWithParam<double> {};

TEST_P(LocalStoryTest, TheDemoTellsItsWholeStory) {
  testing::ScopedTempDir tmp;
  Env* env = Env::Default();
  std::string agent = tmp.Sub("agent.sh");
  ASSERT_TRUE(env->WriteFileAtomic(agent, kAgent).ok());
  chmod(agent.c_str(), 0755);
  ASSERT_TRUE(env->CreateDirs(tmp.Sub("store")).ok());

  const std::string path = BATON_SOURCE_DIR "/examples/demo.yaml";
  Result<std::string> text = env->ReadFile(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  Result<SpecNode> job = SpecNode::Parse(*text, path);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  Result<FleetSpec> spec = ParseFleetSpec(job->Get("fleet"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  Result<int64_t> max_steps = job->Get("train").Int("max_steps", 0);
  ASSERT_TRUE(max_steps.ok() && *max_steps > 0);
  Result<std::unique_ptr<Market>> market = MakeMarket(*spec, BATON_SOURCE_DIR "/examples");
  ASSERT_TRUE(market.ok()) << market.status().ToString();

  testing::ScopedEnv vars;
  vars.Set("STORE", tmp.Sub("store"));
  vars.Set("STEP_SECONDS", fmt::format("{}", GetParam()));
  vars.Set("LOAD_SECONDS", "0.3");
  vars.Set("MAX_STEPS", std::to_string(*max_steps));
  // The script reads the variables of the process contract by name (bash's ${!NAME}).
  vars.Set("ID_VAR", EnvVarName(EnvVar::kInstanceId));
  vars.Set("METADATA_VAR", EnvVarName(EnvVar::kMetadataUrl));
  vars.Set("HANDOFF_VAR", EnvVarName(EnvVar::kHandoff));
  std::string log;
  LocalProviderOptions o;
  o.baton_binary = agent;
  o.job_path = "unused.yaml";
  o.store_url = tmp.Sub("store");
  o.work_dir = tmp.Sub("work");
  o.print = [&log](const std::string& line) { log += line + "\n"; };
  Result<std::unique_ptr<LocalProvider>> provider =
      LocalProvider::Open(*spec, std::move(*market), o);
  ASSERT_TRUE(provider.ok()) << provider.status().ToString();

  ControllerOptions co;
  co.tick_seconds = spec->time_scale;       // about a real second, as `baton run`
  co.max_seconds = 300 * spec->time_scale;  // 5 real minutes
  co.print = o.print;
  Controller controller(*spec, provider->get(), co);
  Result<FleetReport> report = controller.Run();
  if (!report.ok()) (*provider)->Shutdown(5);
  ASSERT_TRUE(report.ok()) << report.status().ToString() << "\n" << log;

  std::vector<std::string> story;
  for (const Instance& i : (*provider)->Instances()) {
    story.push_back(fmt::format("{} {}", BillingName(spec->offers[i.offer].billing),
                                EndReasonName(i.end_reason)));
  }
  EXPECT_EQ(story, (std::vector<std::string>{"spot preempted", "spot killed", "spot preempted",
                                             "on-demand stopped", "spot completed"}))
      << log;
  EXPECT_TRUE(report->complete);
  EXPECT_EQ(report->interruptions_without_notice, 1);
  if (story.size() == 5) {
    const Instance last = (*provider)->Instances()[4];
    EXPECT_TRUE(last.handoff) << "the spot instance took over make-before-break\n" << log;
    EXPECT_LT(last.start_work, static_cast<double>(*max_steps) * 0.75)
        << "the hand-off left the spot instance a good part of the run\n"
        << log;
  }
}

// 20 steps a second and 5 (the tiny model trains 1 to 5 a second on 2 cores).
INSTANTIATE_TEST_SUITE_P(Speeds, LocalStoryTest, ::testing::Values(0.05, 0.2),
                         [](const ::testing::TestParamInfo<double>& info) {
                           return info.param < 0.1 ? std::string("Fast") : std::string("Slow");
                         });

}  // namespace
}  // namespace baton::fleet
