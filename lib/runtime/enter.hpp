#pragma once

#include <string>
#include <vector>

#include "common/message.hpp"
#include "runtime/pods.hpp"

namespace crt::runtime {

/// Runs a command in a running app as the app itself runs: in its
/// namespaces, cgroup, root and working directory, with its environment,
/// user, groups, capabilities, no_new_privs and system call filter — so
/// entering is no way around the sandbox. Without a command, the image's
/// shell. With `terminal`, the command runs on a terminal of the pod's,
/// relayed to crt's; else its stdin, stdout and stderr are pipes to and from
/// crt's (never crt's own descriptors: the app could open those again
/// through /proc). Returns the command's status.
/// With `terminal`, a command run on the user's terminal gets its TERM when
/// the app has none. Warnings go to `messages`.
int enter_app(const PodEntry& pod, const std::string& app, std::vector<std::string> command, bool terminal = false,
              const MessageSink& messages = {});

}  // namespace crt::runtime
