#include "cli/agent_job.h"

#include <unistd.h>

#include "base/env.h"
#include "data/dataset_spec.h"
#include "store/cache.h"
#include "store/store.h"

namespace baton::cli {
namespace {

// A dataset entry is a path (maybe with "#N") or a built-in name; only existing paths move.
std::string AbsoluteDataset(const std::string& spec) {
  auto [path, count] = SplitSampleSuffix(spec);
  return Env::Default()->FileExists(path) ? Absolute(path) + count : spec;
}

}  // namespace

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "baton";
}

std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/' || IsRemoteUrl(path)) return path;
  char cwd[4096];
  if (!getcwd(cwd, sizeof(cwd))) return path;
  std::string p = path;
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  return JoinPath(cwd, p);
}

Result<Json> AgentJobDocument(const std::string& text, const std::string& source,
                              const JobSpec& job, const std::string& store_url,
                              const std::string& cloud) {
  BATON_ASSIGN_OR_RETURN(Json doc, JobSpecDocument(text, source));
  doc["name"] = job.name;
  doc["store"] = store_url;
  if (doc.contains("model")) doc["model"] = Absolute(job.train.model);
  if (doc.contains("datasets")) {
    Json list = Json::array();
    for (const std::string& d : job.train.dataset) list.push_back(AbsoluteDataset(d));
    doc["datasets"] = list;
  }
  Json& agent = doc["agent"];
  if (!agent.is_object()) agent = Json::object();
  agent["cloud"] = cloud;
  return doc;
}

}  // namespace baton::cli
