#pragma once

#include <string>
#include <vector>

#include "common/message.hpp"
#include "runtime/pods.hpp"

namespace crt::runtime {

/// How a command run in an app (enter_app()) is given crt's stdin.
enum class EnterInput {
  /// Not at all: its stdin is /dev/null, and crt reads nothing of its own
  /// (crt exec without -i: `while read x; do crt exec POD CMD; done <FILE`
  /// leaves FILE's lines to the loop, as docker exec does).
  kNone,
  /// Through a pipe crt copies its whole stdin to, as long as the command
  /// runs (crt enter, crt exec -i).
  kPiped,
  /// A terminal of the pod's own for its stdin, stdout and stderr, relayed
  /// to crt's (-t, and crt enter on a terminal).
  kTerminal,
};

/// Runs a command in a running app as the app itself runs: in its
/// namespaces, cgroup, root and working directory, with its environment,
/// user, groups, capabilities, no_new_privs and system call filter — so
/// entering is no way around the sandbox. Without a command, the image's
/// shell. With EnterInput::kTerminal, the command runs on a terminal of the
/// pod's, relayed to crt's; else its stdout and stderr are pipes to crt's,
/// and its stdin as `input` says (never crt's own descriptors: the app
/// could open those again through /proc). Returns the command's status.
/// On a terminal, a command gets the user's TERM when the app has none.
/// Warnings go to `messages`.
int enter_app(const PodEntry& pod, const std::string& app, std::vector<std::string> command,
              EnterInput input = EnterInput::kPiped, const MessageSink& messages = {});

}  // namespace crt::runtime
