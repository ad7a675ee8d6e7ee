#include "runtime/image_pull.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "config/crt_conf.hpp"
#include "registry/client.hpp"

namespace crt::runtime {

PullPolicy parse_pull_policy(const std::string& s) {
  if (s == "never") return PullPolicy::kNever;
  if (s == "missing") return PullPolicy::kMissing;
  if (s == "always") return PullPolicy::kAlways;
  throw Error("invalid pull policy " + quote(s) + " (never, missing or always)");
}

std::vector<registry::RemoteReference> remote_candidates(const std::string& ref, const ResolveOptions& opts) {
  if (auto r = registry::parse_remote_reference(ref)) return {*r};
  // Checks the syntax the same way as a full reference would be; the
  // message names the reference as the user gave it.
  std::string full = "localhost/" + ref;
  try {
    (void)registry::parse_remote_reference(full);
  } catch (const Error& e) {
    std::string what = e.what();
    if (size_t at = what.find(quote(full)); at != std::string::npos) what.replace(at, quote(full).size(), quote(ref));
    throw Error(what);
  }
  if (opts.default_registries.empty())
    throw Error(quote(ref) + " is a short name and no default registry is configured ([registries] default = … in " +
                quote(opts.config_file) + "): give the full name, such as 'registry.example.org/" + ref + "'");
  return registry::qualify_short_name(ref, opts.default_registries);
}

namespace {

/// --creds are the user's account with one registry: a short name that
/// several default registries are asked for would send them to each (and
/// to their token servers), so it needs the full name.
void check_creds_scope(const std::string& ref, const std::vector<registry::RemoteReference>& candidates,
                       const ResolveOptions& opts) {
  if (!opts.pull.credentials) return;
  std::vector<std::string> registries;
  for (const auto& c : candidates)
    if (std::find(registries.begin(), registries.end(), c.registry) == registries.end())
      registries.push_back(c.registry);
  if (registries.size() < 2) return;
  std::string list;
  for (const auto& r : registries) list += (list.empty() ? "" : ", ") + quote(r);
  throw Error("--creds needs the image's full name, such as " + quote(registries.front() + "/" + ref) +
              ": the short name " + quote(ref) + " would send the credentials to each of the " +
              std::to_string(registries.size()) + " default registries of " + quote(opts.config_file) + " (" + list +
              ")");
}

}  // namespace

store::Image pull(store::Store& store, const std::string& ref, const ResolveOptions& opts) {
  std::vector<registry::RemoteReference> candidates = remote_candidates(ref, opts);
  check_creds_scope(ref, candidates, opts);
  store::Progress none;
  store::Progress& progress = opts.progress != nullptr ? *opts.progress : none;
  std::string misses;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    try {
      store::Image im = registry::pull_image(store, c, opts.pull, progress);
      if (c.str() != ref && opts.notice) opts.notice("resolved " + quote(ref) + " to " + quote(c.str()));
      return im;
    } catch (const registry::NotFound& e) {
      // A short name's registry that lacks it, or refuses it as Docker Hub
      // refuses a repository it does not have (Denied), is passed for the
      // next; a registry that cannot be asked ends the pull.
      if (candidates.size() == 1) throw;
      misses += std::string(misses.empty() ? "" : "; ") + e.what();
    }
  }
  throw Error("no default registry has " + quote(ref) + ": " + misses);
}

}  // namespace crt::runtime
