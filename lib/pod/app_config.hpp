#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/message.hpp"
#include "pod/manifest.hpp"
#include "pod/run_args.hpp"
#include "store/image.hpp"

namespace crt::pod {

/// Whether `ref` is an image ID as crt run takes one: "sha256:" and hex
/// digits, or 4 to 64 hex digits alone.
bool is_image_id(const std::string& ref);

/// The default app name for an image reference: its base name, lowercased,
/// with characters an app name cannot hold replaced by '-'; for an image ID
/// ("sha256:…") its first 12 hex digits.
std::string default_app_name(const std::string& image_ref);

/// The command an app runs, OCI-style: Entrypoint + Cmd; arguments after "--"
/// replace Cmd; --exec replaces both (the arguments follow it).
std::vector<std::string> app_command(const AppFlags& flags, const std::vector<std::string>& args, bool args_given,
                                     const store::RunConfig& image);

/// The user and group an app runs as: `user` (--user: USER, or USER:GROUP
/// as an image's User) and `group` (--group) over the image's User
/// (`image_user`, "" for none: root). Throws crt::Error for what they cannot
/// mean together (a group given twice, an empty user or group).
std::pair<std::string, std::string> app_user(const std::optional<std::string>& user,
                                             const std::optional<std::string>& group, const std::string& image_user);

/// Checks `user` as an OCI image's User may be: USER or UID, alone or with
/// ":GROUP" or ":GID", neither part empty. The error names `source`
/// ("--user").
void check_image_user(const std::string& user, const std::string& source);

/// Checks `kv`, an environment variable as a flag or an image gives it:
/// NAME=VALUE, NAME of letters, digits and '_', not starting with a digit.
/// The error names `source` ("--set-env", "image environment variable").
void check_assignment(const std::string& kv, const std::string& source);

/// Throws if two of app `app`'s mounts have one target.
void check_mount_targets(const std::string& app, const std::vector<VolumeMount>& mounts);

/// Builds an app's manifest from the request and its image. Validates every
/// value (name, environment, limits, seccomp, capabilities); the user, group
/// and binary are resolved later, inside the mounted rootfs.
AppManifest make_app_manifest(const AppRequest& req, const PodFlags& pod, const store::Image& image);

/// Checks what of an app's flags needs no image (its name, limits,
/// filters, mounts, user syntax …), as make_app_manifest would: a typo is
/// an error before an image is looked up or pulled.
void check_app_flags(const AppRequest& req);

/// Reads the files of --set-env-file into pod.set_env_file_texts, each at
/// most 1 MiB. To be called before the store is locked and signals are
/// taken: a FIFO nobody writes blocks until ^C, as it would for cat.
void read_env_files(PodFlags& pod);

/// Checks the pod's own environment flags (--set-env, --set-env-file) once,
/// before any image is looked up: an error there is the pod's, not its first
/// app's, and needs no pull first.
void validate_pod_env(const PodFlags& pod);

/// Adds the pod's volumes (--volume specs, and an empty volume for each
/// path an image declares and no --mount covers) and checks every mount.
/// An image's volume no mount can be made for (a relative path, the root,
/// below what the pod mounts for every app) is left out, with a warning to
/// `messages`.
void plan_volumes(PodManifest& m, const std::vector<std::string>& volume_specs, const MessageSink& messages = {});

/// The signal name systemd's KillSignal= takes ("SIGQUIT") for an image's
/// StopSignal ("SIGQUIT", "QUIT" or "3"). Throws on an unknown signal.
std::string normalize_stop_signal(const std::string& s);

/// --supplementary-gids, --oom-score-adj, --cpu-shares and --pids-limit
/// (also pod files' keys for them): parsed and range-checked; throw
/// crt::Error saying what is allowed.
std::vector<uint32_t> parse_supplementary_gids(const std::string& s);
int parse_oom_score_adj(const std::string& s);
uint64_t parse_cpu_shares(const std::string& s);
uint64_t parse_pids_limit(const std::string& s);

/// Checks what concerns several apps together (unique names).
void validate_apps(const std::vector<AppManifest>& apps);

}  // namespace crt::pod
