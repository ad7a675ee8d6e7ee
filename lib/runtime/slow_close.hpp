#pragma once

// Closing the last reference to an inotify descriptor waits for the kernel
// to retire its watches: an SRCU grace period, 5-15 ms here, for each one.
// These move that wait off the paths a user waits on.

#include <sys/types.h>

#include <vector>

#include "common/fd.hpp"

namespace crt::runtime {

/// Forks a child that holds copies of `fds` until the returned descriptor is
/// closed (or this process ends), and then ends: where nothing else holds
/// them any more, their last close happens there. The child leaves this
/// process's mount namespace for the original one, so that it keeps no
/// mounts of a pod alive, and is reaped when this process ends. Invalid (and
/// nothing held) where there are no fds or the fork failed.
UniqueFd hold_in_child(const std::vector<int>& fds);

/// Copies (pidfd_getfd) of process `pid`'s inotify descriptors. The pod's
/// systemd has three; holding them elsewhere spares the end of every pod
/// their grace periods (about 20 ms in all), for which the kernel would hold
/// up the end of the pod's other processes. Empty where the kernel does not
/// allow it (no pidfd_getfd, a ptrace policy).
std::vector<UniqueFd> copy_inotify_fds(pid_t pid);

}  // namespace crt::runtime
