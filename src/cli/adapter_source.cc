#include "cli/adapter_source.h"

#include "run/layout.h"
#include "store/cache.h"

namespace baton::cli {

Result<ModelAndAdapter> ResolveModelAndAdapter(const std::string& model,
                                               const std::string& adapters, Env* env) {
  ModelAndAdapter out;
  std::string model_url = model;
  if (!adapters.empty()) {
    // Store URLs (s3://, oss://) are fetched into the local cache once.
    BATON_ASSIGN_OR_RETURN(out.adapter_dir, FetchToCache(adapters, {}, env));
    BATON_ASSIGN_OR_RETURN(out.args, ReadSwiftArgs(env, out.adapter_dir));
    if (model_url.empty() && out.args && !out.args->model.empty()) model_url = out.args->model;
  }
  if (model_url.empty()) {
    return InvalidArgument("--model is required{}",
                           adapters.empty() ? std::string()
                                            : fmt::format(": {} has no {} naming the base model",
                                                          adapters, kSwiftArgsFile));
  }
  BATON_ASSIGN_OR_RETURN(out.model_dir, FetchToCache(model_url, {}, env));
  return out;
}

}  // namespace baton::cli
