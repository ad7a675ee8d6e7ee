#include "pod/rootfs_lookup.hpp"

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "test_support.hpp"

namespace crt::pod {
namespace {

namespace stdfs = std::filesystem;
using test::Scratch;
using test::write_text;

const char* const kPasswd =
    "root:x:0:0:root:/root:/bin/ash\n"
    "# a comment\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "broken line\n"
    "baduid:x:abc:1::/:/bin/sh\n"
    "toolong:x:4294967295:1::/:/bin/sh\n"
    ":x:5:5::/:/bin/sh\n"
    "nohome:x:1000:100:::\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin";  // no final newline

const char* const kGroup =
    "root:x:0:\n"
    "users:x:100:alice,bob\n"
    "bad:x:-1:\n"
    "nogroup:x:65534:";

TEST(ParseId, PlainNumbersOnly) {
  EXPECT_EQ(parse_id("0"), 0u);
  EXPECT_EQ(parse_id("65534"), 65534u);
  EXPECT_EQ(parse_id("4294967294"), 4294967294u);
  for (const char* bad : {"", "4294967295", "4294967296", "-1", "+1", " 1", "1 ", "1a", "0x10", "root"})
    EXPECT_FALSE(parse_id(bad)) << "'" << bad << "'";
}

TEST(ParsePasswd, SkipsCommentsBlankAndMalformedLines) {
  auto users = parse_passwd(kPasswd);
  ASSERT_EQ(users.size(), 4u);
  EXPECT_EQ(users[0].name, "root");
  EXPECT_EQ(users[0].uid, 0u);
  EXPECT_EQ(users[0].home, "/root");
  EXPECT_EQ(users[0].shell, "/bin/ash");
  EXPECT_EQ(users[1].name, "daemon");
  EXPECT_EQ(users[2].name, "nohome");
  EXPECT_EQ(users[2].gid, 100u);
  EXPECT_EQ(users[2].home, "");
  EXPECT_EQ(users[3].name, "nobody");
  EXPECT_EQ(users[3].uid, 65534u);
}

TEST(ParseGroup, SkipsMalformedLines) {
  auto groups = parse_group(kGroup);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[1].name, "users");
  EXPECT_EQ(groups[1].gid, 100u);
  EXPECT_EQ(groups[1].members, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_TRUE(groups[0].members.empty());
  EXPECT_EQ(groups[2].name, "nogroup");
}

const std::string* env(const AppManifest& a, const std::string& key) {
  for (const auto& [k, v] : a.env)
    if (k == key) return &v;
  return nullptr;
}

AppManifest app_as(std::string user, std::string group = "") {
  AppManifest a;
  a.user = std::move(user);
  a.group = std::move(group);
  return a;
}

// A name on a line the lookup skips as malformed (as glibc does) is told by
// that line: "not in the file" would send the user looking for a typo.
TEST(ResolveUser, ANameOnAMalformedLineIsToldByItsLine) {
  auto error = [](AppManifest a) { return test::error_of([&] { resolve_user(a, kPasswd, kGroup); }); };
  EXPECT_EQ(error(app_as("baduid")),
            "user 'baduid' is on line 6 of the image's /etc/passwd, which is malformed: its UID 'abc' is not a number "
            "from 0 to 4294967294");
  EXPECT_EQ(error(app_as("toolong")),
            "user 'toolong' is on line 7 of the image's /etc/passwd, which is malformed: its UID '4294967295' is not a "
            "number from 0 to 4294967294");
  EXPECT_EQ(error(app_as("broken line")),
            "user 'broken line' is on line 5 of the image's /etc/passwd, which is malformed: it has 1 field, not 7");
  EXPECT_EQ(error(app_as("0", "bad")),
            "group 'bad' is on line 3 of the image's /etc/group, which is malformed: its GID '-1' is not a number "
            "from 0 to 4294967294");
  EXPECT_EQ(error(app_as("nosuch")), "user 'nosuch' is not in the image's /etc/passwd");
}

TEST(ResolveUser, RootByNumber) {
  AppManifest a = app_as("0");
  resolve_user(a, kPasswd, kGroup);
  EXPECT_EQ(a.uid, 0u);
  EXPECT_EQ(a.gid, 0u);
  EXPECT_EQ(*env(a, "HOME"), "/root");
  EXPECT_EQ(*env(a, "USER"), "root");
  EXPECT_EQ(*env(a, "LOGNAME"), "root");
  EXPECT_EQ(*env(a, "SHELL"), "/bin/ash");
}

TEST(ResolveUser, ByNameWithPrimaryGroup) {
  AppManifest a = app_as("nobody");
  resolve_user(a, kPasswd, kGroup);
  EXPECT_EQ(a.uid, 65534u);
  EXPECT_EQ(a.gid, 65534u);
  EXPECT_EQ(*env(a, "HOME"), "/nonexistent");
  EXPECT_EQ(*env(a, "USER"), "nobody");
}

TEST(ResolveUser, SupplementaryGroupsFromTheImageOnlyWithoutAGroup) {
  const char* passwd = "alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:100::/:/bin/sh\n";
  const char* group =
      "alice:x:1000:\nadm:x:4:bob,alice\nstaff:x:50:bob\naudio:x:29:alice,carol\nffff:x:65535:alice,bob\n";
  AppManifest a = app_as("alice");
  a.supplementary_gids = {7, 29};
  resolve_user(a, passwd, group);
  EXPECT_EQ(a.supplementary_gids, (std::vector<uint32_t>{7, 29, 4}));
  AppManifest b = app_as("1001");
  resolve_user(b, passwd, group);
  EXPECT_EQ(b.supplementary_gids, (std::vector<uint32_t>{4, 50}));
  AppManifest c = app_as("alice", "50");
  resolve_user(c, passwd, group);
  EXPECT_TRUE(c.supplementary_gids.empty());
  AppManifest d = app_as("4242");  // not in passwd: no name to look for
  resolve_user(d, passwd, group);
  EXPECT_TRUE(d.supplementary_gids.empty());
  // Root, the default user, too.
  AppManifest r = app_as("0");
  resolve_user(r, "root:x:0:0:root:/root:/bin/sh\n", "root:x:0:\nwheel:x:10:root\n");
  EXPECT_EQ(r.supplementary_gids, (std::vector<uint32_t>{10}));
}

TEST(ResolveUser, GroupByNameOrNumber) {
  AppManifest a = app_as("daemon", "users");
  resolve_user(a, kPasswd, kGroup);
  EXPECT_EQ(a.uid, 1u);
  EXPECT_EQ(a.gid, 100u);
  AppManifest b = app_as("daemon", "4242");
  resolve_user(b, kPasswd, kGroup);
  EXPECT_EQ(b.gid, 4242u);
}

TEST(ResolveUser, UnknownNumericUserGetsGroupZeroAndDefaults) {
  AppManifest a = app_as("1234");
  resolve_user(a, kPasswd, kGroup);
  EXPECT_EQ(a.uid, 1234u);
  EXPECT_EQ(a.gid, 0u);
  EXPECT_EQ(*env(a, "HOME"), "/");
  EXPECT_EQ(*env(a, "USER"), "1234");
  EXPECT_EQ(*env(a, "SHELL"), "/bin/sh");
}

TEST(ResolveUser, EmptyHomeAndShellFallBack) {
  AppManifest a = app_as("nohome");
  resolve_user(a, kPasswd, kGroup);
  EXPECT_EQ(*env(a, "HOME"), "/");
  EXPECT_EQ(*env(a, "SHELL"), "/bin/sh");
}

TEST(ResolveUser, NoPasswdFileStillWorksForNumbers) {
  AppManifest a = app_as("0");
  resolve_user(a, "", "");
  EXPECT_EQ(a.uid, 0u);
  EXPECT_EQ(a.gid, 0u);
  EXPECT_EQ(*env(a, "HOME"), "/root");
}

TEST(ResolveUser, UnknownNamesAreErrors) {
  AppManifest a = app_as("alice");
  EXPECT_THROW(resolve_user(a, kPasswd, kGroup), Error);
  AppManifest b = app_as("root", "wheel");
  EXPECT_THROW(resolve_user(b, kPasswd, kGroup), Error);
}

TEST(ResolveUser, NumbersThatAreNoIdsAreErrorsNotNames) {
  for (const auto& [user, group] : {std::pair<std::string, std::string>{"4294967295", ""}, {"99999999999", ""},
                                    {"0", "4294967295"}}) {
    AppManifest a = app_as(user, group);
    try {
      resolve_user(a, kPasswd, kGroup);
      ADD_FAILURE() << user << ":" << group << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("IDs go from 0 to 4294967294"), std::string::npos) << e.what();
    }
  }
  AppManifest max = app_as("4294967294");
  resolve_user(max, kPasswd, kGroup);
  EXPECT_EQ(max.uid, 4294967294U);
}

TEST(ResolveUser, TheSixteenBitMinusOneIsRefusedWhereverItComesFrom) {
  constexpr std::string_view passwd = "root:x:0:0::/root:/bin/sh\nffff:x:65535:0::/:/bin/sh\nodd:x:1:65535::/:/bin/sh\n";
  constexpr std::string_view group = "root:x:0:\nffffg:x:65535:\n";
  auto refused = [&](AppManifest a, const std::string& says) {
    try {
      resolve_user(a, passwd, group);
      ADD_FAILURE() << a.user << ":" << a.group << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused(app_as("65535"), "user ID 65535 cannot run an app: systemd does not accept ID 65535 (the 16-bit -1)");
  refused(app_as("ffff"), "user 'ffff' (ID 65535) cannot run an app");
  refused(app_as("odd"), "the group of user 'odd' in the image's /etc/passwd (ID 65535) cannot run an app");
  refused(app_as("0", "65535"), "group ID 65535 cannot run an app");
  refused(app_as("0", "ffffg"), "group 'ffffg' (ID 65535) cannot run an app");
  AppManifest supplementary = app_as("0");
  supplementary.supplementary_gids = {5, 65535};
  refused(supplementary, "supplementary group ID 65535");
  // Its neighbours are fine.
  AppManifest nobody = app_as("65534", "65536");
  resolve_user(nobody, passwd, group);
  EXPECT_EQ(nobody.uid, 65534U);
  EXPECT_EQ(nobody.gid, 65536U);
}

// The pod's systemd takes time quadratic in the app's groups to start it
// (15,000 half a minute): past kMaxAppGroups, far below the kernel's 65,536,
// the app is refused up front, its user, the count and the bound named.
TEST(ResolveUser, NoMoreGroupsThanThePodsSystemdStartsAnAppWithInTime) {
  static_assert(kMaxAppGroups == 8192);
  auto refused = [](AppManifest a, std::string_view passwd, std::string_view group, const std::string& says) {
    try {
      resolve_user(a, passwd, group);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  AppManifest a = app_as("0");
  for (uint32_t g = 1; g <= kMaxAppGroups + 1; ++g) a.supplementary_gids.push_back(g == 65535 ? 70000 : g);
  refused(a, kPasswd, kGroup,
          "the app's user 'root' would be in 8193 supplementary groups; crt allows 8192: the pod's systemd takes "
          "longer to start an app the more groups it has");
  a.supplementary_gids.pop_back();
  resolve_user(a, kPasswd, kGroup);
  // The app's own group counts too, but for group 0.
  AppManifest b = app_as("0", "1");
  b.supplementary_gids = a.supplementary_gids;
  b.supplementary_gids.erase(b.supplementary_gids.begin());
  b.supplementary_gids.push_back(70001);
  refused(b, kPasswd, kGroup, "the app's user 'root' would be in 8193 groups (its own and 8192 supplementary ones)");
  b.supplementary_gids.pop_back();
  resolve_user(b, kPasswd, kGroup);
  // Its own group again counts again (systemd keeps repeats).
  b.supplementary_gids.push_back(1);
  EXPECT_THROW(resolve_user(b, kPasswd, kGroup), Error);
  // A user of the image in that many of its groups: --group leaves them out.
  std::string group = "u:x:1000:\n";
  for (uint32_t g = 0; g < kMaxAppGroups; ++g)
    group += "g" + std::to_string(g) + ":x:" + std::to_string(2000 + g) + ":u\n";
  const std::string passwd = "u:x:1000:1000::/:/bin/sh\n";
  refused(app_as("u"), passwd, group,
          "the app's user 'u' would be in 8193 groups (its own and 8192 supplementary ones); crt allows 8192");
  refused(app_as("u"), passwd, group, "; --group leaves out the groups the image's /etc/group lists the user in");
  AppManifest own = app_as("u", "1000");
  resolve_user(own, passwd, group);
  EXPECT_TRUE(own.supplementary_gids.empty());
  group.erase(group.rfind("g8191:"));
  AppManifest u = app_as("u");
  resolve_user(u, passwd, group);
  EXPECT_EQ(u.supplementary_gids.size(), kMaxAppGroups - 1);
  // A user by ID alone is named so.
  AppManifest by_id = app_as("4321");
  by_id.supplementary_gids = a.supplementary_gids;
  by_id.supplementary_gids.push_back(70002);
  refused(by_id, "", "", "the app's user ID 4321 would be in 8193 supplementary groups");
}

TEST(ResolveUser, ExistingEnvironmentWins) {
  AppManifest a = app_as("0");
  a.env = {{"HOME", "/custom"}, {"USER", "me"}};
  resolve_user(a, kPasswd, kGroup);
  EXPECT_EQ(*env(a, "HOME"), "/custom");
  EXPECT_EQ(*env(a, "USER"), "me");
  EXPECT_EQ(*env(a, "LOGNAME"), "root");
}

/// An image rootfs in a temp dir, opened the way crt opens a mounted one.
class Rootfs : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(root() / "bin" / "busybox", "#!", 0755);
    stdfs::create_symlink("busybox", root() / "bin" / "sh");
    stdfs::create_symlink("/bin/busybox", root() / "bin" / "abs-sh");
    write_text(root() / "usr" / "bin" / "data", "not a program", 0644);
    stdfs::create_directories(root() / "usr" / "bin" / "dir");
    write_text(root() / "app" / "run.sh", "#!", 0755);
    write_text(root() / "etc" / "passwd", "root:x:0:0:root:/root:/bin/sh\n");
    write_text(s_ / "outside" / "tool", "#!", 0755);
    write_text(s_ / "outside" / "secret", "host secret");
    fd_ = fs::open_fd(root(), O_RDONLY | O_DIRECTORY);
  }
  [[nodiscard]] stdfs::path root() const { return s_ / "root"; }
  AppManifest app(std::string argv0, std::string path = "/usr/bin:/bin") {
    AppManifest a;
    a.argv = {std::move(argv0)};
    a.env = {{"PATH", std::move(path)}};
    return a;
  }
  std::string resolved(AppManifest a) {
    resolve_exec(a, fd_.get(), "the rootfs of image 'test'");
    return a.exec_path;
  }
  std::string error(AppManifest a) {
    try {
      resolve_exec(a, fd_.get(), "the rootfs of image 'test'");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  Scratch s_;
  UniqueFd fd_;
};

TEST_F(Rootfs, ReadInRoot) {
  EXPECT_EQ(read_in_root(fd_.get(), "/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(read_in_root(fd_.get(), "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(read_in_root(fd_.get(), "/etc/group"), "") << "missing is empty";
}

TEST_F(Rootfs, ReadInRootReadsOnlyARegularFile) {
  // A FIFO would block for ever.
  ASSERT_EQ(::mkfifo((root() / "etc" / "group").c_str(), 0644), 0);
  stdfs::create_directories(root() / "etc" / "dir");
  std::vector<std::string> paths = {"/etc/group", "/etc/dir"};
  // A device's open would act on the host's device (here /dev/null's).
  if (::mknod((root() / "etc" / "passwd-dev").c_str(), S_IFCHR | 0644, makedev(1, 3)) == 0)
    paths.emplace_back("/etc/passwd-dev");
  for (const auto& path : paths) {
    try {
      read_in_root(fd_.get(), path);
      ADD_FAILURE() << path << " was read";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "'" + path + "' in the rootfs is not a regular file");
    }
  }
}

TEST_F(Rootfs, ReadInRootRefusesAFileOfMoreThan16MiB) {
  // Sparse: its size alone counts.
  ASSERT_EQ(::truncate((root() / "etc" / "passwd").c_str(), (16 << 20) + 1), 0);
  try {
    read_in_root(fd_.get(), "/etc/passwd");
    ADD_FAILURE() << "read";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "'/etc/passwd' in the rootfs is larger than 16 MiB");
  }
  ASSERT_EQ(::truncate((root() / "etc" / "passwd").c_str(), 16 << 20), 0);
  EXPECT_EQ(read_in_root(fd_.get(), "/etc/passwd").size(), 16u << 20);
}

TEST_F(Rootfs, ReadInRootNeverReadsAHostFile) {
  stdfs::create_symlink(s_ / "outside" / "secret", root() / "etc" / "group");
  EXPECT_EQ(read_in_root(fd_.get(), "/etc/group"), "");
  stdfs::create_symlink("../../../../../../../../" + (s_ / "outside" / "secret").string(), root() / "etc" / "shadow");
  EXPECT_EQ(read_in_root(fd_.get(), "/etc/shadow"), "");
  EXPECT_EQ(read_in_root(fd_.get(), "/../../../../" + (s_ / "outside" / "secret").string()), "");
}

TEST_F(Rootfs, AbsoluteCommand) {
  EXPECT_EQ(resolved(app("/bin/busybox")), "/bin/busybox");
  EXPECT_EQ(resolved(app("/bin/sh")), "/bin/sh") << "the symlink is kept as the path to run";
  EXPECT_EQ(resolved(app("/bin/abs-sh")), "/bin/abs-sh") << "an absolute link resolves inside the rootfs";
}

TEST_F(Rootfs, PathSearchInOrderSkippingNonExecutables) {
  EXPECT_EQ(resolved(app("busybox")), "/bin/busybox");
  write_text(root() / "usr" / "bin" / "busybox", "#!", 0755);
  EXPECT_EQ(resolved(app("busybox")), "/usr/bin/busybox");
  write_text(root() / "bin" / "data", "#!", 0755);
  EXPECT_EQ(resolved(app("data")), "/bin/data") << "a non-executable earlier in PATH is skipped";
  write_text(root() / "bin" / "dir", "#!", 0755);
  EXPECT_EQ(resolved(app("dir")), "/bin/dir") << "a directory earlier in PATH is skipped";
}

TEST_F(Rootfs, RelativePathEntriesAreIgnored) {
  EXPECT_EQ(resolved(app("busybox", "bin:.::/bin")), "/bin/busybox");
  EXPECT_NE(error(app("busybox", "bin:.")), "(no error)");
}

TEST_F(Rootfs, CommandWithSlashIsRelativeToTheWorkingDirectory) {
  AppManifest a = app("./run.sh");
  a.working_dir = "/app";
  EXPECT_EQ(resolved(a), "/app/./run.sh");
}

TEST_F(Rootfs, Errors) {
  EXPECT_EQ(error(app("/bin/none")),
            "the binary '/bin/none' does not exist in the rootfs of image 'test'");
  EXPECT_EQ(error(app("/usr/bin/dir")),
            "'/usr/bin/dir' is a directory, not a binary in the rootfs of image 'test'");
  EXPECT_EQ(error(app("/usr/bin/data")),
            "'/usr/bin/data' is not an executable file in the rootfs of image 'test'");
  EXPECT_EQ(error(app("none")),
            "no binary 'none' in $PATH (/usr/bin:/bin) in the rootfs of image 'test'");
  EXPECT_EQ(error(app("data")),
            "no binary 'data' in $PATH (/usr/bin:/bin): '/usr/bin/data' is not an executable file in the rootfs "
            "of image 'test'")
      << "what was found and could not run is named";
  EXPECT_EQ(error(app("dir")),
            "no binary 'dir' in $PATH (/usr/bin:/bin): '/usr/bin/dir' is a directory, not a binary in the rootfs "
            "of image 'test'");
  // A symlink that never ends is no binary, as for execvp; other failures
  // of the file system end the search with what they were.
  stdfs::create_symlink("loop", root() / "usr" / "bin" / "loop");
  EXPECT_EQ(error(app("loop")), "no binary 'loop' in $PATH (/usr/bin:/bin) in the rootfs of image 'test'");
  EXPECT_EQ(error(app("/usr/bin/loop")),
            "checking '/usr/bin/loop': Too many levels of symbolic links in the rootfs of image 'test'");
  std::string long_dir = "/" + std::string(5000, 'd');
  std::string too_long = error(app("busybox", long_dir + ":/bin"));
  EXPECT_NE(too_long.find("/busybox': File name too long in the rootfs of image 'test'"), std::string::npos)
      << "not taken for 'not there': " << too_long.substr(too_long.size() - 80);
  AppManifest no_path;
  no_path.argv = {"busybox"};
  EXPECT_NE(error(no_path), "(no error)");
}

TEST_F(Rootfs, NeverFindsAHostBinary) {
  std::string host_tool = (s_ / "outside" / "tool").string();
  EXPECT_NE(error(app(host_tool)), "(no error)");
  EXPECT_NE(error(app("../../../../../../../.." + host_tool)), "(no error)");
  stdfs::create_symlink(host_tool, root() / "bin" / "escape");
  EXPECT_NE(error(app("/bin/escape")), "(no error)");
  EXPECT_NE(error(app("escape")), "(no error)");
  EXPECT_NE(error(app("tool", (s_ / "outside").string())), "(no error)");
}

/// An ELF executable's first bytes: its header and one program header, a
/// PT_INTERP naming `loader` ("" for none, as in a static binary).
std::string elf_file(bool is64, bool big_endian, const std::string& loader) {
  std::string out;
  auto put = [&](uint64_t v, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      size_t shift = 8 * (big_endian ? size - 1 - i : i);
      out.push_back(static_cast<char>((v >> shift) & 0xff));
    }
  };
  size_t word = is64 ? 8 : 4;
  size_t ehdr = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  size_t phdr = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  out = std::string(ELFMAG, SELFMAG);
  out.push_back(is64 ? ELFCLASS64 : ELFCLASS32);
  out.push_back(big_endian ? ELFDATA2MSB : ELFDATA2LSB);
  out.push_back(EV_CURRENT);
  out.resize(EI_NIDENT, '\0');
  put(ET_EXEC, 2);                 // e_type
  put(EM_X86_64, 2);               // e_machine
  put(EV_CURRENT, 4);              // e_version
  put(0, word);                    // e_entry
  put(ehdr, word);                 // e_phoff
  put(0, word);                    // e_shoff
  put(0, 4);                       // e_flags
  put(ehdr, 2);                    // e_ehsize
  put(phdr, 2);                    // e_phentsize
  put(loader.empty() ? 0 : 1, 2);  // e_phnum
  put(0, 2);                       // e_shentsize
  put(0, 2);                       // e_shnum
  put(0, 2);                       // e_shstrndx
  if (loader.empty()) return out;
  uint64_t offset = ehdr + phdr;
  put(PT_INTERP, 4);
  if (is64) put(0, 4);           // p_flags comes second in a 64-bit entry
  put(offset, word);             // p_offset
  put(0, word);                  // p_vaddr
  put(0, word);                  // p_paddr
  put(loader.size() + 1, word);  // p_filesz
  put(loader.size() + 1, word);  // p_memsz
  if (!is64) put(0, 4);          // p_flags
  put(1, word);                  // p_align
  return out + loader + std::string(1, '\0');
}

// A binary whose interpreter is missing fails with ENOENT, which systemd
// words as if the binary were not there: said before the pod starts.
TEST_F(Rootfs, AnInterpreterThatIsNotThereIsNamed) {
  write_text(root() / "bin" / "script", "#!/bin/nothere -x\necho hi\n", 0755);
  EXPECT_EQ(error(app("/bin/script")),
            "'/bin/script' is a script for '/bin/nothere' (its #! line), which does not exist in the rootfs of image "
            "'test'");
  EXPECT_EQ(error(app("script")),
            "'/bin/script' is a script for '/bin/nothere' (its #! line), which does not exist in the rootfs of image "
            "'test'")
      << "found in $PATH, it is named by where it was found";
  write_text(root() / "bin" / "spaced", "#! \t/bin/sh -e\n", 0755);
  EXPECT_EQ(resolved(app("/bin/spaced")), "/bin/spaced") << "through the link /bin/sh";
  write_text(root() / "bin" / "relative", "#!busybox\n", 0755);
  EXPECT_EQ(resolved(app("/bin/relative")), "/bin/relative") << "relative to the working directory: not judged";
  write_text(root() / "bin" / "unended", "#!/bin/nothere", 0755);
  EXPECT_EQ(resolved(app("/bin/unended")), "/bin/unended") << "no whole #! line: not judged";

  // The host's loader is no loader of the rootfs's.
  const std::string loader = "/lib64/ld-linux-x86-64.so.2";
  for (bool is64 : {true, false})
    for (bool big_endian : {false, true}) {
      SCOPED_TRACE(std::string(is64 ? "64" : "32") + "-bit, " + (big_endian ? "big" : "little") + " endian");
      write_text(root() / "bin" / "dynamic", elf_file(is64, big_endian, loader), 0755);
      EXPECT_EQ(error(app("/bin/dynamic")),
                "'/bin/dynamic' needs the dynamic loader '/lib64/ld-linux-x86-64.so.2', which does not exist in the "
                "rootfs of image 'test'");
      write_text(root() / "bin" / "static", elf_file(is64, big_endian, ""), 0755);
      EXPECT_EQ(resolved(app("/bin/static")), "/bin/static");
    }
  // There, through an absolute link (resolved inside the rootfs).
  write_text(root() / "lib" / "ld.so", "", 0755);
  stdfs::create_directories(root() / "lib64");
  stdfs::create_symlink("/lib/ld.so", root() / "lib64" / "ld-linux-x86-64.so.2");
  EXPECT_EQ(resolved(app("/bin/dynamic")), "/bin/dynamic");
  // A script for it: followed, as the kernel follows it.
  write_text(root() / "bin" / "for-dynamic", "#!/bin/dynamic\n", 0755);
  EXPECT_EQ(resolved(app("/bin/for-dynamic")), "/bin/for-dynamic");
  // A real one: the host's own dynamically linked /bin/true (on x86-64).
  if (stdfs::exists(loader)) {
    stdfs::copy_file("/bin/true", root() / "bin" / "true");
    EXPECT_EQ(resolved(app("/bin/true")), "/bin/true");
  }
  stdfs::remove(root() / "lib64" / "ld-linux-x86-64.so.2");
  if (stdfs::exists(loader)) {
    EXPECT_EQ(error(app("/bin/true")),
              "'/bin/true' needs the dynamic loader '/lib64/ld-linux-x86-64.so.2', which does not exist in the rootfs "
              "of image 'test'");
  }
  EXPECT_EQ(error(app("/bin/for-dynamic")),
            "'/bin/for-dynamic' is a script for '/bin/dynamic' (its #! line), which needs the dynamic loader "
            "'/lib64/ld-linux-x86-64.so.2', which does not exist in the rootfs of image 'test'");
  // A script saved with Windows line endings names "/bin/sh\r" (shown escaped).
  write_text(root() / "bin" / "crlf", "#!/bin/sh\r\necho hi\r\n", 0755);
  EXPECT_EQ(error(app("/bin/crlf")),
            "'/bin/crlf' is a script for '/bin/sh\\x0d' (its #! line), which does not exist in the rootfs of image "
            "'test' (the line ends in a carriage return: Windows line endings?)");
}

}  // namespace
}  // namespace crt::pod
