#pragma once

#include <sys/types.h>

#include <cstddef>

namespace crt {

/// Sends the `size` bytes at `data` on the Unix socket `sock`, with `fd`
/// (unless -1) passed along (SCM_RIGHTS); `flags` as sendmsg() takes them
/// (MSG_NOSIGNAL …). What sendmsg() returns, EINTR retried. System calls
/// alone: a child forked from a process with threads may call it.
ssize_t send_with_fd(int sock, const void* data, size_t size, int fd, int flags) noexcept;

/// Receives up to `size` bytes into `data` from the Unix socket `sock`,
/// and the fd passed along with them, if any, into `fd` (close-on-exec;
/// -1 if none); `flags` as recvmsg() takes them. What recvmsg() returns,
/// EINTR retried. System calls alone, as send_with_fd().
ssize_t receive_with_fd(int sock, void* data, size_t size, int* fd, int flags) noexcept;

/// The PID (in the caller's namespace) of the process that connected the
/// Unix socket `conn` (SO_PEERCRED), or 0. A system call alone, as above.
pid_t peer_pid(int conn) noexcept;

}  // namespace crt
