#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace crt::runtime {

/// What starts a stream to journald's stdout socket for `app`'s output, as
/// the pod's systemd writes it for StandardOutput=journal: the identifier
/// (SyslogIdentifier=, the app's name), its unit, priority (daemon.info),
/// level prefixes parsed, no forwarding.
std::string journal_stream_header(const std::string& app);

/// A stream into the journald of the pod whose init is `leader` (a host
/// PID), non-blocking, for send_as(); its first bytes are to be
/// journal_stream_header().
///
/// journald refuses a stream whose peer is outside its PID namespace (and,
/// in systemd 252, stops taking streams at all after one): a child of
/// crt's joins the pod's, connects, and is reaped before this returns.
UniqueFd open_journal_stream(pid_t leader);

/// What open_journal_stream() does with a socket of the caller's, in
/// system calls alone (for a child forked from a process with threads):
/// 0, or an errno (ECHILD: a helper process died).
int connect_journal_stream(int sock, pid_t leader) noexcept;

/// The process journald is to take a stream's bytes as written by: its
/// host PID, and its user and group (_UID=, _GID=).
struct JournalSender {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// Sends journal_stream_header() for `app` on `stream`, as the pod's init
/// (`leader`): journald takes the unit from the header only from root, as
/// from the pod's systemd, which connects an app's stream before the app
/// drops its privileges. What follows is sent as its writer (send_as()):
/// journald takes a stream's new sender whenever its PID changes.
void send_journal_stream_header(int stream, const std::string& app, pid_t leader);

/// Sends what it can of `data` on `stream` as written by `sender`, without
/// blocking: what was sent, or -1 with errno (EAGAIN: journald is behind;
/// ESRCH: `sender` is gone).
///
/// journald attributes a stream's lines to the process that sent them
/// (_PID, _COMM, _SYSTEMD_UNIT from its cgroup …): crt, root, tells it
/// (SCM_CREDENTIALS) the app's process, as if that had written them, as it
/// did.
ssize_t send_as(int stream, std::string_view data, const JournalSender& sender);

/// The most bytes a send on `stream` takes whole or not at all: the
/// kernel queues a send on a Unix stream socket in buffers of at most this
/// much (half the send buffer, at most 32 KiB and a page) and stops at
/// the first that does not fit.
size_t whole_send_size(int stream);

/// What of `data` to send next so that a send taken only in part does not
/// end within a line: all of it if it fits in `whole` bytes, else up to the
/// last newline within them, else (a longer line, which the kernel may take
/// in part anyway) up to its end. journald ends a line where its sender
/// changes: were a part of a line sent as the app's when its process ends,
/// the rest, sent as its unit's flush request, would be a line of its own.
std::string_view next_send(std::string_view data, size_t whole);

}  // namespace crt::runtime
