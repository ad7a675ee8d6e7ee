// crt: a systemd-native pod manager (stage0).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "commands.hpp"
#include "common/ascii.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/state_dir.hpp"
#include "common/strings.hpp"
#include "common/subprocess.hpp"
#include "pod/run_args.hpp"
#include "runtime/images.hpp"
#include "runtime/output_writer.hpp"
#include "runtime/pods.hpp"
#include "runtime/run.hpp"
#include "runtime/signals.hpp"

namespace crt::cli {

void require_root(const std::string& what) {
  if (::geteuid() != 0) throw Error(quote(what) + " needs root privileges (run it as root or with sudo)");
}

std::filesystem::path data_dir() { return runtime::default_data_dir(); }

void print_message(std::string_view message) {
  std::string line = "crt: ";
  line.append(message).push_back('\n');
  runtime::write_stderr(line);
}

void print_error(std::string_view message) {
  std::string line = "crt: ";
  line.append(message).push_back('\n');
  runtime::write_stderr(line, runtime::Severity::kError);
}

void add_pod_ref(CLI::App* cmd, PodRef& ref) {
  cmd->add_option("POD", ref.pod, "The pod: its UUID, a unique prefix of it, or its name");
  cmd->add_option("--uuid-file", ref.uuid_file, "Read the pod's UUID from this file (see --uuid-file-save)");
}

CLI::Option* add_format_option(CLI::App* cmd, std::string& format, const std::string& text) {
  std::string other = text == "table" ? "text" : "table";
  return cmd->add_option("--format", format, text + " or json ('" + other + "' is the same as " + text + ")")
      ->transform([text, other](std::string s) { return s == other ? text : s; })
      ->check(CLI::IsMember({text, std::string("json")}));
}

void take_words_verbatim(CLI::App* cmd) {
  cmd->prefix_command();
  // A "--" right after the options (crt enter --uuid-file=F -- CMD, crt run
  // -- CMD) ends them only while a positional is still to come; otherwise
  // CLI11 hands it and all after it back to crt, which knows no such
  // arguments. This one is never filled (it takes no word), so "--" and
  // what follows stay the command's.
  cmd->validate_positionals();
  cmd->add_option("WORDS")
      ->check(CLI::Validator([](std::string&) { return std::string("taken verbatim"); }, ""))
      ->group("");
}

std::string pod_ref_string(const PodRef& ref) {
  if (!ref.uuid_file.empty()) {
    if (!ref.pod.empty()) throw Error("give either POD or --uuid-file, not both");
    // A UUID and a newline, as --uuid-file-save writes it: a few more bytes
    // are read, to say that there are more.
    constexpr size_t kMax = 256;
    std::string s = trim(with_context("reading the pod's UUID from --uuid-file",
                                      [&] { return crt::fs::read_file(ref.uuid_file, kMax + 1); }),
                         " \t\r\n");
    if (s.empty()) throw Error(quote(ref.uuid_file) + " holds no UUID");
    if (s.size() > kMax) throw Error(quote(ref.uuid_file) + " holds no UUID: it is longer than a line of one");
    if (s.find('\n') != std::string::npos)
      throw Error(quote(ref.uuid_file) + " holds no UUID: it has more than one line");
    // Not a prefix or a name, as POD may be: a file cut short (a script
    // killed as it wrote it) must not pick another pod.
    std::string uuid = ascii_lower(s);
    if (!runtime::is_pod_uuid(uuid))
      throw Error(quote(ref.uuid_file) + " holds no UUID: " + quote(s) + " is not a whole one (as --uuid-file-save " +
                  "writes it)");
    return uuid;
  }
  if (ref.pod.empty()) throw Error("no pod given (POD or --uuid-file)");
  return ref.pod;
}

Error no_pod_of_uuid_file(const std::string& file, const std::string& uuid) {
  return Error("no pod " + uuid + ", the UUID --uuid-file " + quote(file) +
               " holds: it was removed, or that file is of another --dir");
}

namespace {

/// The commands parsed so far, crt itself first.
std::vector<const CLI::App*> parsed_commands(const CLI::App& app) {
  std::vector<const CLI::App*> chain{&app};
  while (!chain.back()->get_subcommands().empty()) chain.push_back(chain.back()->get_subcommands().front());
  return chain;
}

std::string command_path(const std::vector<const CLI::App*>& chain, size_t upto) {
  std::string path = "crt";
  for (size_t i = 1; i <= upto && i < chain.size(); ++i) path += " " + chain[i]->get_name();
  return path;
}

/// What an unexpected word is called in a message.
std::string unexpected(const std::vector<std::string>& words) {
  if (words.size() == 1)
    return (words[0].size() > 1 && words[0][0] == '-' ? "unknown option " : "unexpected argument ") + quote(words[0]);
  std::string s = "unexpected arguments";
  for (const auto& w : words) s += " " + quote(w);
  return s;
}

/// The subcommand of `parent` named `name`, if any.
const CLI::App* find_command(const CLI::App& parent, const std::string& name) {
  for (const CLI::App* sub : const_cast<CLI::App&>(parent).get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  return nullptr;
}

/// Whether the command parsed only uses what a state directory holds
/// already (pods, images), and makes nothing there.
bool uses_only_existing_state(const CLI::App& app) {
  std::vector<const CLI::App*> chain = parsed_commands(app);
  if (chain.size() < 2) return false;
  const std::string& verb = chain[1]->get_name();
  if (verb == "image") {
    static const std::set<std::string> kImageVerbs = {"list", "inspect", "export", "rm", "prune"};
    return chain.size() > 2 && kImageVerbs.count(chain[2]->get_name()) > 0;
  }
  // A wait may begin before the crt run that makes the directory.
  if (verb == "status") return chain[1]->count("--wait") == 0 && chain[1]->count("--wait-ready") == 0;
  // Not gc or image gc: there is nothing to collect, as on a host where
  // crt-gc.timer runs before any pod did.
  static const std::set<std::string> kVerbs = {"list", "cat-manifest", "logs",  "inspect", "export",
                                               "stop", "rm",           "enter", "exec",    "run-prepared"};
  return kVerbs.count(verb) > 0;
}

}  // namespace

/// A command-line error in crt's one-line style: what is wrong, and which
/// --help to read (that of the command the wrong word was given to).
/// `args` are crt's arguments (argv without argv[0]).
std::string usage_error(const CLI::App& app, const CLI::ParseError& e, const std::vector<std::string>& args) {
  std::vector<const CLI::App*> chain = parsed_commands(app);
  size_t at = chain.size() - 1;
  std::string what = e.what();
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && what == "A subcommand is required") {
    std::vector<std::string> words = chain[at]->remaining();
    auto word = std::find_if(words.begin(), words.end(), [](const std::string& w) { return !w.empty() && w[0] != '-'; });
    std::string parent = at > 0 ? command_path(chain, at).substr(4) + " " : "";  // after "crt "
    what = word != words.end() ? "unknown command " + quote(parent + *word) : "a command is needed";
  } else if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    what = pod::argument_mismatch_text(what);
  } else if (dynamic_cast<const CLI::ValidationError*>(&e) != nullptr) {
    // "--dir: …": the help of the command the option belongs to.
    std::string option = what.substr(0, what.find(':'));
    for (size_t i = 0; i < chain.size(); ++i)
      if (chain[i]->get_option_no_throw(option) != nullptr) {
        at = i;
        break;
      }
  } else if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    // The first command that was given words it does not take.
    for (size_t i = 0; i < chain.size(); ++i) {
      std::vector<std::string> words = chain[i]->remaining(false);
      if (!words.empty() && !chain[i]->get_allow_extras()) {
        at = i;
        what = unexpected(words);
        // crt status --dir=X POD: an option of crt itself, given too late
        // (to a command: "crt" itself takes them).
        std::string path = command_path(chain, i);
        if (path.size() > 4)
          for (const auto& w : words) {
            if (w.rfind('-', 0) != 0) continue;
            auto given = std::find(args.rbegin(), args.rend(), w);  // the last is after the command
            std::string next = given != args.rend() && given != args.rbegin() ? *std::prev(given) : "";
            if (std::string hint = pod::global_option_hint(w, next, path.substr(4)); !hint.empty()) return hint;
          }
        break;
      }
    }
  }
  return what + " (see '" + command_path(chain, at) + " --help')";
}

/// CLI11 takes "--name=" with nothing after the '=' as "--name" alone, and
/// the next word as its value: '--pod-name=$UNSET busybox' would name the
/// pod "busybox". An option of the command it is given to with an empty
/// value is an error of its own, and so is '--dir "$UNSET"' (an empty
/// word as the value), but for an option whose value is a word of a
/// command line (kArgumentWord), which may be empty either way: for it,
/// "--name=" is given to CLI11 as "--name" and an empty word. Words after
/// "--" are the app's. Returns the words for CLI11.
std::vector<std::string> checked_words(const CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> out;
  const CLI::App* cur = &app;
  std::string path = "crt";
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") break;
    const CLI::Option* separate = word.size() > 1 && word[0] == '-' && word.find('=') == std::string::npos
                                      ? cur->get_option_no_throw(word)
                                      : nullptr;
    if (word.size() > 3 && word.rfind("--", 0) == 0 && word.find('=') == word.size() - 1) {
      std::string name = word.substr(0, word.size() - 1);
      if (const CLI::Option* o = cur->get_option_no_throw(name); o != nullptr && o->get_type_name() == kArgumentWord) {
        out.insert(out.end(), {name, ""});
        continue;
      } else if (o != nullptr) {
        throw Error("option " + quote(name) + " needs a value (see '" + path + " --help')");
      }
    } else if (separate != nullptr && separate->get_expected_min() > 0 && i + 1 < args.size() && args[i + 1].empty() &&
               separate->get_type_name() != kArgumentWord) {
      throw Error("option " + quote(word) + " needs a value (see '" + path + " --help')");
    } else if (!word.empty() && word[0] != '-') {
      if (const CLI::App* sub = find_command(*cur, word)) {
        cur = sub;
        path += " " + word;
      } else if (cur->get_prefix_command()) {
        break;  // the rest is a command's, or the app's (crt exec POD CMD …)
      }
    }
    out.push_back(word);
  }
  out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return out;
}

void add_help_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("help", "Show the help of crt or of one of its commands");
  cmd->prefix_command();
  cmd->allow_extras();
  cmd->formatter(std::make_shared<UsageFormatter>("[COMMAND...]"));
  cmd->footer("COMMAND is a command of crt, or one of its subcommands: 'crt help image import'.");
  cmd->callback([&app, cmd] {
    const CLI::App* cur = &app;
    std::string path = "crt";  // cur's
    for (const auto& word : cmd->remaining()) {
      const CLI::App* sub = find_command(*cur, word);
      if (sub == nullptr) throw Error("unknown command " + quote((path + " " + word).substr(4)) + " (see '" + path + " --help')");
      cur = sub;
      path += " " + word;
    }
    // Not cur->help(): on crt itself, that is help's own.
    std::fputs(cur->get_formatter()->make_help(cur, path, CLI::AppFormatMode::Normal).c_str(), stdout);
  });
}

}  // namespace crt::cli

int main(int argc, char** argv) {
  // A closed stdin, stdout or stderr would be taken by the next file crt
  // opens (a lock, a socket), and an app's input or output would go there.
  // A closed output stays one that takes nothing: what is written there
  // fails (EBADF) as it would, and crt says so as it does for a full disk,
  // rather than lose the apps' output silently into /dev/null.
  bool stderr_closed = false;
  for (int fd = 0; fd < 3; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      if (::open("/dev/null", O_RDONLY | O_NOCTTY) != fd) return crt::kErrorExitCode;
      stderr_closed = stderr_closed || fd == STDERR_FILENO;
    }
  // What crt says (its warnings, its error) would be lost: it goes where an
  // admin looks for what a command without a terminal said.
  if (stderr_closed) crt::runtime::send_stderr_to_journal();
  crt::ensure_system_path();
  // What crt makes (an image's directories a layer does not list, a pod's
  // files) is the same whoever starts it: an admin's umask 077 would make
  // /usr of an image 0700 and an app of another user fail, where the same
  // image under systemd (umask 022) works. Modes crt means are explicit;
  // an archive crt writes where the user said follows the user's umask.
  const mode_t callers_umask = ::umask(022);
  CLI::App app("crt: run pods of OCI-style images as sandboxed services of a small systemd, booted by "
               "systemd-nspawn.",
               "crt");
  app.require_subcommand(1);
  crt::cli::GlobalOptions g;
  g.callers_umask = callers_umask;
  // Paths of crt's state and configuration are taken from where crt was
  // started: the pod's parts run elsewhere (its mount namespace, its init).
  // A value that begins with '-' is an option given where the value was
  // left out: "crt --dir --debug run …" would otherwise make a state
  // directory named --debug where crt was started.
  auto absolute = [](std::string path) {
    if (path.rfind('-', 0) == 0)
      throw CLI::ValidationError(crt::quote(path) + " looks like an option, not a path (write ./" + path +
                                 " for a path that begins with '-')");
    return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
  };
  // The state directory by its real path (the default too): nspawn and the
  // kernel give the pod's paths resolved (its journal link, its mounts),
  // which crt matches with its own; a symlinked /var/lib/crt made them differ.
  auto real = [](const std::string& path) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
    return ec ? path : p.string();
  };
  app.add_option("--dir", g.dir, "Directory of crt's state: image store and pods")
      ->capture_default_str()
      ->transform(absolute)
      ->check([](const std::string& dir) {
        // Made when first needed; a file there would read as a state without pods.
        struct stat st {};
        return ::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode) ? crt::quote(dir) + " is not a directory"
                                                                     : std::string();
      });
  // Checked as given (a symlink of root's to it is an admin's choice)
  // before a command uses it, then taken by its real path. help and
  // pod-file have no use for it; a user other than root, whom every
  // command that does refuses, could not even look into it (a
  // state directory is root's alone), and is better told that.
  app.parse_complete_callback([&] {
    const std::vector<CLI::App*> used = app.get_subcommands();
    if (::geteuid() == 0 && (used.empty() || (used[0]->get_name() != "help" && used[0]->get_name() != "pod-file")))
      crt::check_state_dir(g.dir);
    // A typo in --dir would read as a state without pods or images (and
    // image list would make it). Not so the default: on a host where
    // nothing ran yet, crt list has no pods to list.
    if (app.count("--dir") > 0 && crt::cli::uses_only_existing_state(app) && !std::filesystem::exists(g.dir))
      throw crt::Error("no state directory at " + crt::quote(g.dir) + " (nothing was ever run with --dir=" + g.dir +
                       ")");
    g.dir = real(g.dir);
  });
  app.add_option("--config", g.config, "crt's configuration file (registries)")
      ->capture_default_str()
      ->transform(absolute)
      ->each([&g](const std::string&) { g.config_given = true; });
  app.add_option(
         "--local-config", g.local_config,
         "Directory of the local configuration: networks in net.d/, registries' CAs in certs.d/HOST[:PORT]/ca.crt")
      ->capture_default_str()
      ->transform(absolute);
  app.add_flag("--debug", g.debug, "Print more about what crt does");
  app.set_version_flag("--version", CRT_VERSION);
  int status = 0;
  crt::cli::add_run_command(app, g, status);
  crt::cli::add_prepare_commands(app, g, status);
  crt::cli::add_status_commands(app, g, status);
  crt::cli::add_stop_commands(app, g, status);
  crt::cli::add_logs_command(app, g, status);
  crt::cli::add_enter_commands(app, g, status);
  crt::cli::add_inspect_command(app, g, status);
  crt::cli::add_export_command(app, g, status);
  crt::cli::add_image_command(app, g, status);
  crt::cli::add_pod_file_command(app, g, status);
  crt::cli::add_help_command(app);
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  try {
    args = crt::cli::checked_words(app, args);
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes the last word first
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    crt::cli::print_error(crt::cli::usage_error(app, e, args));
    return crt::kErrorExitCode;
  } catch (const crt::runtime::Interrupted& e) {
    if (e.announce()) crt::cli::print_message(e.what());
    std::fflush(stdout);
    crt::runtime::die_of(e.signal());
  } catch (const crt::Error& e) {
    crt::cli::print_error(e.what());
    // An error a stop caused (a download cut short): crt ends by the stop.
    if (int sig = crt::pending_stop_signal(); sig != 0) {
      std::fflush(stdout);
      crt::runtime::die_of(sig);
    }
    return crt::kErrorExitCode;
  } catch (const std::exception& e) {
    crt::cli::print_error(std::string("internal error: ") + e.what());
    return crt::kErrorExitCode;
  }
  // What crt printed is lost on a full disk, say: that is an error, as for
  // any tool (a reader that went away ends crt by SIGPIPE first).
  // errno tells only about this flush: a write that failed earlier (its
  // buffer flushed as it filled) left only the stream's error flag.
  errno = 0;
  int flushed = std::fflush(stdout);
  int flush_errno = errno;
  if (flushed != 0 || std::ferror(stdout)) {
    crt::cli::print_error(std::string("writing to standard output: ") +
                          (flushed != 0 && flush_errno != 0 ? crt::runtime::output_error_text(flush_errno)
                                                            : "some of it could not be written"));
    return status == 0 ? crt::kErrorExitCode : status;
  }
  return status;
}
