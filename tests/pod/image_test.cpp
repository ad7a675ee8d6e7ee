// crt image import, list and rm with real rootfs directories and tarballs.

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../support/oci_builder.hpp"
#include "common/json_text.hpp"
#include "common/lock.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace stdfs = std::filesystem;

class ImageTest : public PodTest {
 protected:
  std::string make_rootfs(const std::string& name) {
    std::string root = dir_ + "/" + name;
    stdfs::create_directories(root + "/bin");
    stdfs::copy_file("/bin/busybox", root + "/bin/busybox");
    stdfs::create_symlink("busybox", root + "/bin/sh");
    stdfs::create_symlink("busybox", root + "/bin/cat");
    return root;
  }
  size_t count(const std::string& dir) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator(); ++it) ++n;
    return n;
  }
};

/// Options of a run whose standard input is `input`.
RunOptions fed(std::string input) {
  RunOptions o;
  o.input = std::move(input);
  return o;
}

TEST_F(ImageTest, ImportListRunRemove) {
  std::string root = make_rootfs("rootfs");
  {
    std::ofstream(root + "/hello.txt") << "from the image\n";
  }
  Result r = crt({"image", "import", root, "mine:v1", "--cmd=/bin/cat", "--cmd=/hello.txt"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("sha256:[0-9a-f]{64}\n"));
  r = crt({"image", "list"});
  EXPECT_THAT(r.out, ::testing::ContainsRegex("mine +v1 +[0-9a-f]{12}"));
  r = crt({"run", "--uuid-file-save=" + dir_ + "/uuid", "mine:v1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "from the image\n");
  r = crt({"image", "list", "--format=json"});
  auto rows = crt::json_text::parse(r.out);
  auto mine = std::find_if(rows.begin(), rows.end(), [](const auto& row) { return row["name"] == "mine"; });
  ASSERT_NE(mine, rows.end()) << r.out;
  EXPECT_EQ((*mine)["tag"], "v1");
  EXPECT_EQ((*mine)["id"].get<std::string>().rfind("sha256:", 0), 0u);
  EXPECT_GT((*mine)["size"].get<uint64_t>(), 0u);
  EXPECT_FALSE((*mine)["created"].get<std::string>().empty());
  std::string uuid = wait_uuid(dir_ + "/uuid");
  r = crt({"image", "rm", "mine:v1"});
  EXPECT_EQ(r.status, 254) << "the exited pod's rootfs is made of the image";
  EXPECT_THAT(r.err, HasSubstr("image 'mine:v1' is used by pod " + uuid + " (exited); remove it with 'crt rm " +
                               uuid + "' (or use --force)"));
  // Of many pods, five are named.
  std::vector<std::string> more = {uuid};
  for (int i = 0; i < 5; ++i) {
    r = crt({"prepare", "--quiet", "--net=none", "mine:v1"});
    ASSERT_EQ(r.status, 0) << r.err;
    more.push_back(r.out.substr(0, 36));
  }
  r = crt({"image", "rm", "mine:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err,
              ::testing::MatchesRegex("crt: image 'mine:v1' is used by 6 pods, 0 of them running \\(([0-9a-f-]{36} "
                                      "\\((exited|prepared)\\), ){4}[0-9a-f-]{36} \\((exited|prepared)\\) and 1 "
                                      "more: 'crt list' shows them\\); remove them with 'crt rm' \\(or use "
                                      "--force\\)\n"));
  for (const auto& u : more) ASSERT_EQ(crt({"rm", u}).status, 0);
  r = crt({"image", "rm", "mine:v1"});
  EXPECT_EQ(r.status, 0) << r.err;
  r = crt({"image", "list"});
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("mine")));
  r = crt({"run", "mine:v1"});
  EXPECT_EQ(r.status, 254);
}

// A rootfs's configuration is checked as crt run would check it from the
// image, at each start; a layout or archive brings its own, which the
// rootfs's options would not change.
TEST_F(ImageTest, AnImportRefusesAConfigurationNoRunWouldTake) {
  std::string root = make_rootfs("rootfs");
  struct Case {
    std::vector<std::string> options;
    std::string error;
  };
  for (const auto& c : std::vector<Case>{
           {{"--env=NOEQ"}, "crt: invalid --env 'NOEQ': expected NAME=VALUE\n"},
           {{"--env=A=1", "--env=1BAD=x"}, "crt: invalid --env '1BAD=x': a variable name cannot start with a digit\n"},
           {{"--env=A B=c"}, "crt: invalid --env 'A B=c': a variable name holds letters, digits and '_'\n"},
           {{"--workdir=rel"}, "crt: --workdir 'rel': the working directory must be an absolute path\n"},
           {{"--user=:"}, "crt: --user ':': the user before ':' is empty\n"},
           {{"--user=:wheel"}, "crt: --user ':wheel': the user before ':' is empty\n"},
           {{"--user=app:"}, "crt: --user 'app:': the group after ':' is empty\n"},
           {{"--user=a:b:c"}, "crt: --user 'a:b:c': expected USER, UID, USER:GROUP or UID:GID, with one ':' at most\n"},
           {{"--volume=/data", "--volume=rel"},
            "crt: --volume 'rel': the path of a volume must be an absolute path\n"}}) {
    std::vector<std::string> args = {"image", "import", root, "conf:1"};
    args.insert(args.end(), c.options.begin(), c.options.end());
    Result r = crt(args);
    EXPECT_EQ(r.status, 254) << c.options[0];
    EXPECT_EQ(r.err, c.error);
  }
  ASSERT_EQ(crt({"image", "export", "busybox", dir_ + "/bb.tar"}).status, 0);
  Result r = crt({"image", "import", dir_ + "/bb.tar", "conf:2", "--cmd=/bin/echo"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: importing '" + dir_ +
                       "/bb.tar' (oci-archive): --cmd, --entrypoint, --env, --workdir, --user and --volume configure "
                       "a rootfs; an image of a layout or archive has its configuration\n");
  EXPECT_THAT(crt({"image", "list"}).out, ::testing::Not(HasSubstr("conf")));
}

// A rootfs with a web app's manifest.json first in its tarball, or an
// oci-layout file in its directory, is imported as the rootfs it is.
TEST_F(ImageTest, ARootfsHoldingFilesNamedAsAnImageArchivesIsARootfs) {
  std::string root = make_rootfs("r4");
  std::ofstream(root + "/manifest.json") << "{\"name\":\"My PWA\"}\n";
  ASSERT_EQ(run({"tar", "-C", root, "-cf", dir_ + "/r4.tar", "manifest.json", "bin"}).status, 0);
  Result r = crt({"image", "import", dir_ + "/r4.tar", "pwa:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "pwa:1", "--", "/bin/cat", "/manifest.json"});
  EXPECT_EQ(r.out, "{\"name\":\"My PWA\"}\n") << r.err;
  std::ofstream(root + "/oci-layout") << "{\"imageLayoutVersion\":\"1.0.0\"}\n";
  r = crt({"image", "import", root, "pwa:2"});
  EXPECT_EQ(r.status, 0) << r.err;
}

// An import of a host's / keeps the mount points of the kernel's file
// systems (/proc, /sys…) but not what the kernel shows in them.
TEST_F(ImageTest, AnImportLeavesOutWhatTheKernelShowsInProcAndSys) {
  std::string root = make_rootfs("host");
  stdfs::create_directories(root + "/proc");
  stdfs::create_directories(root + "/sys");
  std::ofstream(root + "/kept") << "kept\n";
  // Mounted in a mount namespace of the import's own: no other test's pod
  // takes a copy of them.
  std::vector<std::string> argv = {
      "unshare", "--mount", "--propagation=private",
      "sh",      "-c",      "mount -t proc proc \"$0/proc\" && mount -t sysfs sysfs \"$0/sys\" && exec \"$@\"",
      root};
  for (auto& a : crt_argv({"image", "import", root, "host:1"})) argv.push_back(a);
  Result r = run(argv);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("leaving out what the kernel shows in '" + root + "/proc' (proc)"));
  EXPECT_THAT(r.err, HasSubstr("leaving out what the kernel shows in '" + root + "/sys' (sysfs)"));
  r = crt({"run", "--net=none", "host:1", "--", "/bin/sh", "-c", "cat /kept; ls -d /proc /sys"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "kept\n/proc\n/sys\n");
  // The layer's tree: the two directories, empty.
  int trees = 0;
  for (const auto& t : stdfs::directory_iterator(dir_ + "/store/trees")) {
    if (!stdfs::exists(t.path() / "kept")) continue;
    ++trees;
    EXPECT_TRUE(stdfs::is_empty(t.path() / "proc"));
    EXPECT_TRUE(stdfs::is_empty(t.path() / "sys"));
  }
  EXPECT_EQ(trees, 1);
}

// Each form of an image's User that the OCI image spec names is taken; a
// --user with an empty user or group, or a relative --volume, is refused
// rather than stored (a run took ":" for root, and skipped the volume).
TEST_F(ImageTest, AnImportTakesTheUserFormsOfTheImageSpecAndAbsoluteVolumes) {
  std::string root = make_rootfs("rootfs");
  int n = 0;
  for (const char* user : {"app", "1000", "app:staff", "1000:1000", "app:1000", "1000:staff"}) {
    std::string name = "user:" + std::to_string(++n);
    Result r = crt({"image", "import", root, name, std::string("--user=") + user, "--volume=/data"});
    ASSERT_EQ(r.status, 0) << user << ": " << r.err;
    nlohmann::json config = json_text::parse(crt({"image", "inspect", name}).out)[0]["config"];
    EXPECT_EQ(config["user"], user);
    EXPECT_EQ(config["volumes"], nlohmann::json::array({"/data"}));
  }
}

// image rm and image inspect go on past an image they cannot find, as crt
// rm goes on past a pod: each failure on a line of its own, status 254.
TEST_F(ImageTest, RmAndInspectGoOnPastAnImageNotFound) {
  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(crt({"image", "import", root, "first:1"}).status, 0);
  ASSERT_EQ(crt({"image", "import", root, "second:1", "--cmd=/bin/sh"}).status, 0);
  Result r = crt({"image", "inspect", "first:1", "nosuch", "second:1", "alsono"});
  EXPECT_EQ(r.status, 254);
  nlohmann::json shown = json_text::parse(r.out);
  ASSERT_EQ(shown.size(), 2u) << r.out;
  EXPECT_EQ(shown[0]["names"], nlohmann::json::array({"first:1"}));
  EXPECT_EQ(shown[1]["names"], nlohmann::json::array({"second:1"}));
  EXPECT_THAT(r.err, ::testing::MatchesRegex("crt: no image 'nosuch' in the store[^\n]*\n"
                                             "crt: no image 'alsono' in the store[^\n]*\n"));
  r = crt({"image", "inspect", "nosuch"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.out, "");
  r = crt({"image", "rm", "first:1", "nosuch", "second:1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.out, "removed first:1\nremoved second:1\n");
  EXPECT_THAT(r.err, ::testing::MatchesRegex("crt: no image 'nosuch' in the store[^\n]*\n"));
  r = crt({"image", "list"});
  EXPECT_THAT(r.out, Not(HasSubstr("first")));
  EXPECT_THAT(r.out, Not(HasSubstr("second")));
}

// An import given a NAME names the image as a pull would: "docker.io/x"
// is "docker.io/library/x:latest", a registry's host is lowercased; each
// spelling finds it.
TEST_F(ImageTest, AnImportNamesItsImageAsAPullWould) {
  std::string root = make_rootfs("rootfs");
  for (const char* name : {"docker.io/app", "Registry.Example.ORG:5000/team/abc:1"}) {
    Result r = crt({"image", "import", "-q", root, name, "--cmd=/bin/busybox", "--cmd=true"});
    ASSERT_EQ(r.status, 0) << name << ": " << r.err;
  }
  std::string list = crt({"image", "list"}).out;
  EXPECT_THAT(list, ::testing::ContainsRegex("docker.io/library/app +latest "));
  EXPECT_THAT(list, ::testing::ContainsRegex("registry.example.org:5000/team/abc +1 "));
  // Columns are as wide as their widest cell: each tag stands under TAG.
  ASSERT_EQ(crt({"image", "import", "-q", root, "registry.example.org/a-rather-long-team-name/and-its-app:v2"}).status,
            0);
  list = crt({"image", "list"}).out;
  size_t tag = list.find("TAG");
  std::istringstream rows(list);
  int checked = 0;
  for (std::string row; std::getline(rows, row); ++checked)
    EXPECT_TRUE(row.size() > tag && row[tag - 1] == ' ' && row[tag - 2] == ' ' && row[tag] != ' ') << list;
  EXPECT_EQ(checked, 5) << list;  // the header, busybox and the three imported here
  ASSERT_EQ(crt({"image", "rm", "registry.example.org/a-rather-long-team-name/and-its-app:v2"}).status, 0);
  for (const char* ref : {"docker.io/app", "docker.io/library/app", "docker.io/library/app:latest",
                          "Registry.Example.ORG:5000/team/abc:1", "registry.example.org:5000/team/abc:1"}) {
    Result r = crt({"run", "--net=none", "--pull-policy=never", ref});
    EXPECT_EQ(r.status, 0) << ref << ": " << r.err;
  }
  Result r = crt({"image", "rm", "--force", "Registry.Example.ORG:5000/team/abc:1"});  // exited pods use it
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("registry.example.org")));
}

// --pull-policy=always pulls anew; an imported image with a short name and
// no default registry to pull it from is no missing image: crt says it is
// in the store and which policy takes it.
TEST_F(ImageTest, PullPolicyAlwaysSaysWhyAnImageInTheStoreIsNotTaken) {
  ASSERT_EQ(crt({"image", "import", "-q", make_rootfs("rootfs"), "app:1"}).status, 0);
  std::ofstream(dir_ + "/crt.conf") << "";
  Result r = crt({"--config=" + dir_ + "/crt.conf", "run", "--net=none", "--pull-policy=always", "app:1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("image 'app:1' is in the store, but the pull policy 'always' pulls it anew"));
  EXPECT_THAT(r.err, HasSubstr("--pull-policy=missing (PullPolicy=missing in a pod file) takes the store's"));
  r = crt({"--config=" + dir_ + "/crt.conf", "run", "--net=none", "--pull-policy=always", "other:1"});
  EXPECT_THAT(r.err, HasSubstr("no image 'other:1' in the store"));
  EXPECT_EQ(crt({"run", "--net=none", "--pull-policy=missing", "app:1", "--", "/bin/sh", "-c", "true"}).status, 0);
}

// A path given to crt image pull: the error points at crt image import.
TEST_F(ImageTest, PullOfAPathPointsAtImport) {
  std::string root = make_rootfs("rootfs");
  Result r = crt({"image", "pull", root});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err,
              HasSubstr("(a directory or archive on this machine is imported: crt image import '" + root + "' NAME)"));
  std::ofstream(dir_ + "/crt.conf") << "";  // no default registry
  r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "busybox:no-such-tag"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, Not(HasSubstr("crt image import '")));
}

// A word of a command may be empty ('sh -c CMD ""'): --cmd "" is one, and
// so is --cmd=, where an empty value of other options is refused as an
// unset variable's.
TEST_F(ImageTest, AnEmptyCommandWordIsAWordOfItsOwn) {
  std::string root = make_rootfs("rootfs");
  Result r = crt(
      {"image", "import", root, "words:1", "--cmd=/bin/busybox", "--cmd=echo", "--cmd", "", "--cmd=", "--cmd", "b"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", "words:1"}).out)[0]["config"]["cmd"],
            nlohmann::json({"/bin/busybox", "echo", "", "", "b"}));
  r = crt({"run", "--net=none", "words:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "  b\n");
  r = crt({"image", "import", root, "words:2", "--workdir", ""});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: option '--workdir' needs a value (see 'crt image import --help')\n");
  r = crt({"image", "import", root, "words:2", "--workdir=", "--cmd=/bin/true"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: option '--workdir' needs a value (see 'crt image import --help')\n");
}

// The names a layout records are named as a pull names them, also where a
// NAME given picks one of its images by them.
TEST_F(ImageTest, ALayoutsRefNamesAreNamedAsAPullWould) {
  OciLayout layout(dir_ + "/layout");
  layout.write_index({{layout.add_image({make_layer({file("one", "1\n")})}), "docker.io/one:1"},
                      {layout.add_image({make_layer({file("two", "2\n")})}), "docker.io/two:1"}});
  Result r = crt({"image", "import", "-q", layout.dir().string(), "docker.io/two:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string list = crt({"image", "list"}).out;
  EXPECT_THAT(list, ::testing::ContainsRegex("docker.io/library/two +1 "));
  EXPECT_THAT(list, Not(HasSubstr("one")));
  ASSERT_EQ(crt({"image", "import", "-q", layout.dir().string()}).status, 0);
  list = crt({"image", "list"}).out;
  EXPECT_THAT(list, ::testing::ContainsRegex("docker.io/library/one +1 "));
  EXPECT_THAT(list, Not(HasSubstr("docker.io/one"))) << list;
}

// docker.io/one:1 and docker.io/library/one:1 are one name in the store: two
// images of an archive so named are refused, and nothing is imported.
TEST_F(ImageTest, TwoImagesOfAnArchiveUnderOneNameAreRefused) {
  OciLayout layout(dir_ + "/layout");
  layout.write_index({{layout.add_image({make_layer({file("one", "1\n")})}), "docker.io/one:1"},
                      {layout.add_image({make_layer({file("two", "2\n")})}), "docker.io/library/one:1"}});
  std::string before = crt({"image", "list"}).out;
  Result r = crt({"image", "import", "-q", layout.dir().string()});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("entries 1 and 2 of its index.json are different images with one name, "
                               "'docker.io/library/one:1' (as a pull spells the names they record)"));
  EXPECT_EQ(crt({"image", "list"}).out, before);
}

TEST_F(ImageTest, RemovingANameOrTheImageSaysWhichNamesWent) {
  OciLayout layout(dir_ + "/layout");
  nlohmann::json image = layout.add_image({make_layer({file("x", "#!/x\n", 0755)})});
  layout.write_index({{image, "multi:1"}, {image, "multi:2"}, {image, "multi:3"}});
  Result r = crt({"image", "import", layout.dir().string()});
  ASSERT_EQ(r.status, 0) << r.err;
  // A pod uses the image: one of its names may still go, the image stays.
  r = crt({"prepare", "--net=none", "multi:2", "--exec=/x"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  r = crt({"image", "rm", "multi:1"});
  EXPECT_EQ(r.out, "removed the name multi:1 (the image keeps its other names)\n") << r.err;
  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  std::string id = crt::json_text::parse(crt({"image", "list", "--format=json"}).out)[0]["id"];
  // Too short an ID prefix finds nothing, and says what would do.
  std::string short_prefix = id.substr(7, 3);
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"image", "rm", short_prefix}, {"image", "inspect", short_prefix}, {"run", short_prefix}}) {
    r = crt(cmd);
    EXPECT_EQ(r.status, 254) << cmd[1];
    EXPECT_THAT(r.err, HasSubstr("no image '" + short_prefix +
                                 "' in the store (an image ID prefix needs at least 4 hex "
                                 "digits, as in '"))
        << cmd[1];
  }
  r = crt({"image", "rm", id.substr(7, 12)});
  EXPECT_EQ(r.out, "removed multi:2, multi:3\n") << r.err;
  // Names a registry would refuse are refused here too.
  std::string root = make_rootfs("rootfs");
  for (const char* bad : {"x:tag:tag", "a/../../b:1", "a//b:1", "sha256:abcd", "a/b:.tag"}) {
    r = crt({"image", "import", root, bad});
    EXPECT_EQ(r.status, 254) << bad;
    EXPECT_THAT(r.err, HasSubstr("invalid image name")) << bad;
  }
}

// An OCI layout's image named by a tag alone is named after the layout,
// however its path is written.
TEST_F(ImageTest, ALayoutsImageNamedByATagAloneIsNamedAfterTheLayout) {
  OciLayout layout(dir_ + "/My-Layout");
  layout.write_index({{layout.add_image({make_layer({file("x", "x")})}), "v2"}});
  Result r = crt({"image", "import", "-q", layout.dir().string() + "/"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", "my-layout:v2"}).out)[0]["id"], r.out.substr(0, 71));
  // An archive of it: after the file's name without its extensions.
  ASSERT_EQ(crt({"image", "rm", "my-layout:v2"}).status, 0);
  ASSERT_EQ(test::run({"tar", "-C", layout.dir().string(), "-cf", dir_ + "/My-Archive.oci.tar", "."}).status, 0);
  r = crt({"image", "import", "-q", dir_ + "/My-Archive.oci.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", "my-archive:v2"}).out)[0]["id"], r.out.substr(0, 71));
  // A directory name that is no image name: the error says what to do.
  OciLayout odd(dir_ + "/odd name");
  odd.write_index({{odd.add_image({make_layer({file("x", "y")})}), "v1"}});
  r = crt({"image", "import", odd.dir().string()});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("its image is named by the tag 'v1' alone, and 'odd name' is no name for it"));
  EXPECT_THAT(r.err, HasSubstr("give the image's name (crt image import PATH NAME)"));
  EXPECT_EQ(crt({"image", "import", "-q", odd.dir().string(), "odd:v1"}).status, 0);
}

// One image whose configuration is damaged: list shows the others and
// warns, rm removes it by its name, importing it again repairs it.
TEST_F(ImageTest, ADamagedConfigurationHidesNoOtherImageAndIsRemovedOrRepaired) {
  OciLayout layout(dir_ + "/layout");
  nlohmann::json damaged = layout.add_image({make_layer({file("d", "d")})});
  std::string id = layout.last_config();
  layout.write_index({{damaged, "damaged:1"}, {layout.add_image({make_layer({file("i", "i")})}), "intact:1"}});
  ASSERT_EQ(crt({"image", "import", "-q", layout.dir().string()}).status, 0);
  std::string blob = dir_ + "/store/blobs/sha256/" + id.substr(7);
  auto damage = [&] { std::ofstream(blob, std::ios::trunc) << "{}"; };
  damage();
  Result r = crt({"image", "list"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("intact +1 "));
  EXPECT_THAT(r.err, HasSubstr("warning: image " + id + " (damaged:1) is damaged"));
  ASSERT_EQ(crt({"image", "import", "-q", layout.dir().string()}).status, 0);
  r = crt({"image", "inspect", "damaged:1"});
  EXPECT_EQ(r.status, 0) << "importing again repairs it: " << r.err;
  damage();
  r = crt({"image", "rm", "damaged:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "removed damaged:1\n");
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("damaged")));
}

// docker save (Docker 25 and later) writes an OCI layout whose ref name is
// the tag alone, the full name in containerd's annotation: the image gets
// that name, also from standard input.
TEST_F(ImageTest, DockerSavesOciLayoutGivesTheImageItsFullName) {
  OciLayout layout(dir_ + "/saved");
  nlohmann::json d = layout.add_image({make_layer({file("x", "x")})});
  d["annotations"]["io.containerd.image.name"] = "docker.io/library/hello:latest";
  layout.write_index({{d, "latest"}});
  Result r = crt({"image", "import", "-q", layout.dir().string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", "docker.io/hello"}).out)[0]["id"], r.out.substr(0, 71));
  EXPECT_EQ(crt({"image", "rm", "docker.io/library/hello:latest"}).status, 0);
  ASSERT_EQ(run({"tar", "-C", layout.dir().string(), "-cf", dir_ + "/saved.tar", "."}).status, 0);
  r = crt({"image", "import", "-q", "-"}, fed(read_file(dir_ + "/saved.tar")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(crt({"image", "list"}).out, HasSubstr("docker.io/library/hello"));
}

// The built-in busybox is there for inspect and export as for a pod, in a
// store that never ran one.
TEST_F(ImageTest, TheBuiltInImageIsThereBeforeAnyPod) {
  Result r = crt({"image", "list", "--format=json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(r.out).at(0)["name"], "busybox") << r.out;
  r = crt({"image", "inspect", "busybox"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(r.out)[0]["names"][0], "busybox:latest");
  EXPECT_EQ(crt({"image", "export", "busybox", dir_ + "/bb.tar"}).status, 0);
  EXPECT_THAT(crt({"image", "inspect", "nosuch"}).err, HasSubstr("no image 'nosuch' in the store"));
  // Removed, it is said to come back.
  r = crt({"image", "rm", "busybox"});
  EXPECT_EQ(
      r.out,
      "removed busybox:latest\n(busybox:latest is built in: its next use, or crt image list, imports it again)\n");
  EXPECT_THAT(crt({"image", "list"}).out, HasSubstr("busybox "));
}

TEST_F(ImageTest, APodNamesItsImageAsTheUserDid) {
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);  // the built-in, imported
  ASSERT_EQ(crt({"image", "export", "busybox", dir_ + "/bb.tar"}).status, 0);
  Result r = crt({"image", "import", dir_ + "/bb.tar", "other:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "--uuid-file-save=" + dir_ + "/uuid", "other:1", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = read_file(dir_ + "/uuid");
  uuid.erase(uuid.find_last_not_of('\n') + 1);
  auto manifest = crt::json_text::parse(crt({"cat-manifest", uuid}).out);
  EXPECT_EQ(manifest["apps"][0]["image"]["name"], "other:1") << "not the image's first name, busybox:latest";
  EXPECT_THAT(crt({"list"}).out, HasSubstr("other:1"));
  // By its ID, with or without 'sha256:', in full or a prefix: its first
  // name, which names the app too.
  std::string id = crt::json_text::parse(crt({"image", "inspect", "other:1"}).out)[0]["id"];
  for (const std::string& ref : {id, id.substr(7), id.substr(7, 12)}) {
    r = crt({"run", "--net=none", "--uuid-file-save=" + dir_ + "/uuid", ref, "--", "/bin/true"});
    ASSERT_EQ(r.status, 0) << ref << ": " << r.err;
    uuid = read_file(dir_ + "/uuid");
    uuid.erase(uuid.find_last_not_of('\n') + 1);
    auto apps = crt::json_text::parse(crt({"cat-manifest", uuid}).out)["apps"];
    EXPECT_EQ(apps[0]["image"]["name"], "busybox:latest") << ref;
    EXPECT_EQ(apps[0]["name"], "busybox") << ref;
  }
}

TEST_F(ImageTest, ASocketInARootfsIsLeftOut) {
  std::string root = make_rootfs("rootfs");
  std::filesystem::create_directories(root + "/run");
  make_socket(root + "/run/app.sock");
  Result r = crt({"image", "import", root, "withsocket:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "withsocket:1", "--", "/bin/sh", "-c", "test -e /run/app.sock || echo left out"});
  EXPECT_EQ(r.out, "left out\n") << r.err;
}

TEST_F(ImageTest, AnInterruptedImportLeavesNothingBehind) {
  std::string root = make_rootfs("rootfs");
  // Not zeros, which the layer makes holes of, and its digest skips.
  ASSERT_EQ(run({"sh", "-c", "yes | head -c 400000000 > " + root + "/big"}).status, 0);
  ASSERT_EQ(run({"tar", "-C", root, "-cf", dir_ + "/rootfs.tar", "."}).status, 0);
  ASSERT_EQ(crt({"image", "list"}).status, 0);  // the store exists
  // Under way: the big file is being written. (Not another file: the
  // directory's order, which a tar of it follows too, may put the big one
  // first, and the rest of the import then takes no time at all.)
  auto importing = [&] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      for (const auto& e : stdfs::directory_iterator(dir_ + "/store/tmp")) {
        std::error_code ec;
        auto size = stdfs::file_size(e.path() / "tree" / "big", ec);
        if (e.path().filename().string().find("import") == 0 && !ec && size < 400000000) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  };
  for (const std::string& source : {root, dir_ + "/rootfs.tar"}) {
    for (int sig : {SIGINT, SIGTERM}) {
      SCOPED_TRACE(source + " " + sigabbrev_np(sig));
      Process p(crt_argv({"image", "import", source, "big:1"}),
                {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
      ASSERT_TRUE(importing());
      p.signal(sig);
      Result r = p.wait();
      // 400 MB take far longer to unpack than the signal to come.
      EXPECT_EQ(r.status, 128 + sig) << r.err;
      for (const auto& e : stdfs::directory_iterator(dir_ + "/store/tmp")) ADD_FAILURE() << "left behind: " << e.path();
      EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("big")));
    }
  }
}

// While another crt removes images (holding the store's lock), an import
// or a pod's start says it waits, and Ctrl-C or SIGTERM still ends it.
TEST_F(ImageTest, AWaitForTheStoreSaysSoAndEndsAtASignal) {
  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(crt({"image", "list"}).status, 0);  // the store exists
  auto hold = std::make_unique<FileLock>(FileLock::acquire(dir_ + "/store/lock", FileLock::Mode::kExclusive));
  RunOptions opts{.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = true};
  const std::string waiting = "crt: waiting for another crt removing images from the store\n";
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sigabbrev_np(sig));
    Process import(crt_argv({"image", "import", root, "waited:1"}), opts);
    Process run(crt_argv({"run", "--net=none", "busybox", "--", "/bin/true"}), opts);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    import.signal(sig);
    run.signal(sig);
    Result r = import.wait();
    EXPECT_EQ(r.status, 128 + sig) << r.err;
    EXPECT_THAT(r.err, HasSubstr(waiting));
    r = run.wait();
    EXPECT_EQ(r.status, 128 + sig) << r.err;
    EXPECT_THAT(r.err, HasSubstr(waiting));
  }
  EXPECT_THAT(pods_in_any_state(), ::testing::IsEmpty());
  // Once the lock is let go, the wait ends in the import.
  Process import(crt_argv({"image", "import", root, "waited:1"}), opts);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  hold.reset();
  Result r = import.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr(waiting));
  EXPECT_THAT(crt({"image", "list"}).out, HasSubstr("waited"));
  // And crt image gc, while the store is in use, says what it waits for.
  hold = std::make_unique<FileLock>(FileLock::acquire(dir_ + "/store/lock", FileLock::Mode::kShared));
  Process gc(crt_argv({"image", "gc"}), opts);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  hold.reset();
  r = gc.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: waiting for other crt commands using the store to finish\n");
}

// crt image list and inspect read the store under its lock: while another
// crt removes an image (holding the lock) they wait, and then show the
// store as the removal left it, never an image half gone.
TEST_F(ImageTest, ListAndInspectWaitForARemovalAndShowWhatItLeft) {
  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(crt({"image", "list"}).status, 0);  // the built-in images are there
  ASSERT_EQ(crt({"image", "import", root, "kept:1"}).status, 0);
  Result r = crt({"image", "import", root, "doomed:1", "--cmd=/bin/doomed"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string id = r.out.substr(0, r.out.find('\n'));
  auto hold = std::make_unique<FileLock>(FileLock::acquire(dir_ + "/store/lock", FileLock::Mode::kExclusive));
  Process list(crt_argv({"image", "list", "--format=json"}));
  Process inspect(crt_argv({"image", "inspect", "doomed:1"}));
  // Long enough for both to reach the lock also on a machine under load.
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  // What crt image rm does under the lock: the image leaves the index, then
  // its configuration blob goes.
  std::string index_path = dir_ + "/store/index.json";
  nlohmann::json index = json_text::parse(read_file(index_path));
  auto& images = index["images"];
  auto doomed = std::find_if(images.begin(), images.end(), [&](const auto& im) { return im["id"] == id; });
  ASSERT_NE(doomed, images.end()) << index.dump();
  images.erase(doomed);
  std::ofstream(index_path + ".new") << index.dump(2);
  stdfs::rename(index_path + ".new", index_path);
  ASSERT_TRUE(stdfs::remove(dir_ + "/store/blobs/sha256/" + id.substr(7)));
  hold.reset();
  r = list.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crt: waiting for another crt removing images from the store\n"));
  EXPECT_THAT(r.out, HasSubstr("\"kept\""));
  EXPECT_THAT(r.out, Not(HasSubstr("doomed")));
  r = inspect.wait();
  EXPECT_EQ(r.status, 254) << r.out;
  EXPECT_THAT(r.err, HasSubstr("no image 'doomed:1' in the store"));
  EXPECT_THAT(r.err, Not(HasSubstr("is not in the store")));
}

// crt image rm lets go of the store once the image is out of the index and
// its layer trees out of trees/: the removal of their files, long for a
// tree of many, keeps no other crt waiting. Each time a tree is seen being
// removed with the store's lock free, the remover is stopped there, and
// crt image list (which takes the lock) must end meanwhile.
TEST_F(ImageTest, OtherCommandsDoNotWaitForTheFilesOfARemovedLayerToGo) {
  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(run({"sh", "-c", "mkdir " + root + "/many && cd " + root + "/many && seq 30000 | xargs touch"}).status, 0);
  ASSERT_EQ(crt({"image", "import", "-q", root, "many:1"}).status, 0);
  ASSERT_EQ(crt({"image", "list"}).status, 0);  // the built-in images are imported
  std::string tmp = dir_ + "/store/tmp";
  auto being_removed = [&] {
    std::error_code ec;
    for (auto it = stdfs::directory_iterator(tmp, ec); !ec && it != stdfs::directory_iterator(); ++it)
      if (it->path().filename().string().rfind("rm-", 0) == 0 && it->is_directory() &&
          stdfs::exists(it->path() / "many"))
        return true;
    return false;
  };
  Process rm(crt_argv({"image", "rm", "many:1"}));
  auto ended = [&] {  // a zombie, not yet reaped
    std::string stat = read_file("/proc/" + std::to_string(rm.pid()) + "/stat");
    return stat.substr(stat.rfind(')') + 2, 1) == "Z";
  };
  bool listed = false;
  while (!listed && !ended()) {
    if (!being_removed()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    rm.signal(SIGSTOP);
    bool free = FileLock::try_acquire(dir_ + "/store/lock", FileLock::Mode::kExclusive).valid();
    if (free && being_removed()) {
      RunOptions briefly;
      briefly.timeout = std::chrono::seconds(20);
      Result r = crt({"image", "list"}, briefly);
      EXPECT_FALSE(r.timed_out);
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_THAT(r.out, Not(HasSubstr("many")));
      listed = true;
    }
    rm.signal(SIGCONT);
  }
  Result r = rm.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(listed) << "the tree was never seen being removed with the store's lock free";
  EXPECT_EQ(count(tmp), 0u) << "nothing of it is left";
}

// A ".wh..wh..opq" at a layer's root hides all that the layers below it
// hold, as the OCI image spec says, though overlayfs ignores an opaque
// lower root.
TEST_F(ImageTest, ALayerWhoseRootIsOpaqueHidesTheLowerLayers) {
  std::string busybox = read_file("/bin/busybox");
  OciLayout layout(dir_ + "/layout");
  nlohmann::json image = layout.add_image(
      {make_layer({file("bin/busybox", busybox, 0755), file("old.txt", "old\n"), file("etc/old.conf", "old\n")}),
       make_layer({file(".wh..wh..opq", ""), file("bin/busybox", busybox, 0755), file("new.txt", "new\n")})});
  layout.write_index({{image, "opaque:1"}});
  Result r = crt({"image", "import", layout.dir().string()});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "opaque:1", "--", "/bin/busybox", "ls", "-a", "/", "/etc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("new.txt"));
  EXPECT_THAT(r.out, Not(HasSubstr("old.txt")));
  EXPECT_THAT(r.out, Not(HasSubstr("old.conf")));
}

// `crt image import -`: an archive piped in imports as the same file does,
// a rootfs tarball too; a Ctrl-C while it is still coming leaves nothing;
// a terminal or nothing at all is refused.
TEST_F(ImageTest, AnArchiveImportsFromStandardInput) {
  ASSERT_EQ(crt({"image", "export", "busybox", dir_ + "/bb.tar"}).status, 0);
  Result from_file = crt({"image", "import", dir_ + "/bb.tar", "filed:1"});
  ASSERT_EQ(from_file.status, 0) << from_file.err;
  Result r = crt({"image", "import", "-", "piped:1"}, fed(read_file(dir_ + "/bb.tar")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, from_file.out);
  r = crt({"run", "--net=none", "piped:1", "--", "/bin/echo", "piped"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "piped\n");

  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(run({"tar", "-C", root, "-czf", dir_ + "/rootfs.tar.gz", "."}).status, 0);
  std::string tarball = read_file(dir_ + "/rootfs.tar.gz");
  r = crt({"image", "import", "-"}, fed(tarball));
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: importing a rootfs from standard input: give the image a NAME\n");
  r = crt({"image", "import", "-", "rootfs:piped"}, fed(tarball));
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "rootfs:piped", "--exec=/bin/sh", "--", "-c", "echo ok"});
  EXPECT_EQ(r.out, "ok\n") << r.err;

  r = crt({"image", "import", "-", "empty:1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: standard input is empty: pipe an archive in\n");
  Result t = run_on_terminal(crt_argv({"image", "import", "-", "tty:1"}));
  EXPECT_EQ(t.status, 254);
  EXPECT_THAT(t.out, HasSubstr("not reading an archive from a terminal"));

  // Ctrl-C at the terminal reaches the whole pipeline, crt's copy ends.
  std::vector<std::string> argv = {"sh", "-c", "sleep 30 | \"$@\"", "sh"};
  for (const auto& a : crt_argv({"image", "import", "-", "stopped:1"})) argv.push_back(a);
  RunOptions session;
  session.new_session = true;
  Process piped(argv, session);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(-piped.pid(), SIGINT);
  r = piped.wait();
  EXPECT_EQ(r.status, 130) << r.err;
  EXPECT_EQ(count(dir_ + "/store/tmp"), 0U);
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("stopped")));
}

TEST_F(ImageTest, CompressedTarballImports) {
  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(run({"tar", "-C", root, "-czf", dir_ + "/rootfs.tar.gz", "."}).status, 0);
  Result r = crt({"image", "import", dir_ + "/rootfs.tar.gz", "fromtar"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "fromtar", "--", "/bin/sh", "-c", "echo ok"});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  // The image goes out again as it came in (its layer is its tree's).
  r = crt({"image", "export", "fromtar", dir_ + "/out.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
  r = crt({"image", "import", dir_ + "/out.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
}

// What a rootfs import cannot restore of a file (an xattr the file system
// refuses) does not end it, but crt says so, naming the file.
TEST_F(ImageTest, WhatARootfsImportCannotRestoreIsAWarning) {
  LayerEntry f = file("f", "f\n");
  f.xattrs = {{"nonamespace.x", "v"}};
  { std::ofstream(dir_ + "/rootfs.tar") << make_layer({f, file("g", "g\n")}, Compression::kNone); }
  Result r = crt({"image", "import", dir_ + "/rootfs.tar", "warned:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crt: warning: ignored while extracting 'f': "));
  EXPECT_THAT(r.err, Not(HasSubstr("'g'")));
}

// A later entry of a rootfs tarball replaces an earlier one of its name, as
// tar, docker and an OCI layer take it: a directory (with all it holds) by
// a symlink or a file, a file by a directory; each with its own mode.
TEST_F(ImageTest, ALaterEntryOfARootfsTarballReplacesAnEarlierOneOfItsName) {
  std::vector<LayerEntry> entries = {file("bin/busybox", read_file("/bin/busybox"), 0755),
                                     symlink("bin/sh", "busybox"),
                                     dir("usr/share/conf"),
                                     file("usr/share/conf/x", "x\n"),
                                     dir("etc/conf.d", 0700),
                                     file("etc/conf.d/old", "old\n"),
                                     dir("etc/conf.d/deeper"),
                                     symlink("etc/conf.d", "/usr/share/conf"),
                                     dir("empty", 0700),
                                     file("empty", "now a file\n", 0604),
                                     file("data", "a file first\n"),
                                     dir("data", 0750),
                                     file("data/inside", "inside\n")};
  { std::ofstream(dir_ + "/rootfs.tar") << make_layer(entries, Compression::kNone); }
  Result r = crt({"image", "import", dir_ + "/rootfs.tar", "replaced:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "replaced:1", "--", "/bin/busybox", "sh", "-c",
           "/bin/busybox readlink /etc/conf.d; /bin/busybox ls /etc/conf.d/; /bin/busybox cat /empty; "
           "/bin/busybox stat -c %a /empty /data; /bin/busybox cat /data/inside"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/usr/share/conf\nx\nnow a file\n604\n750\ninside\n") << r.err;
}

TEST_F(ImageTest, DanglingSymlinksWhereThePodPutsItsFilesAreFollowedInsideTheImage) {
  // As in an image made with systemd-resolved.
  std::string root = make_rootfs("rootfs");
  stdfs::create_directories(root + "/etc");
  stdfs::create_symlink("../run/systemd/resolve/stub-resolv.conf", root + "/etc/resolv.conf");
  stdfs::create_symlink("/etc/hostname.real", root + "/etc/hostname");
  // A volume's mount point too, a directory.
  stdfs::create_symlink("/srv/data", root + "/data");
  stdfs::create_directories(dir_ + "/volume");
  ASSERT_EQ(crt({"image", "import", root, "resolved"}).status, 0);
  Result r = crt({"run", "--net=none", "--hostname=named", "--volume=v,kind=host,source=" + dir_ + "/volume",
                  "resolved", "--mount=volume=v,target=/data", "--", "/bin/sh", "-c",
                  "cat /etc/hostname /run/systemd/resolve/stub-resolv.conf; echo in-volume > /srv/data/f"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("named\n"));
  EXPECT_THAT(r.out, HasSubstr("Generated by crt"));
  EXPECT_EQ(read_file(dir_ + "/volume/f"), "in-volume\n");
}

// A working directory reached through a symlink of the image (/app ->
// /opt/app, absolute) is the app's, and its end is noticed: systemd also
// changes there, from the pod's root, for crt's command at the app's end,
// which hung the pod where the link was followed outside the image.
TEST_F(ImageTest, AWorkingDirectoryThroughASymlinkOfTheImageWorks) {
  std::string root = make_rootfs("rootfs");
  stdfs::create_directories(root + "/opt/app");
  stdfs::create_directories(root + "/srv");
  stdfs::create_symlink("/opt/app", root + "/app");
  stdfs::create_symlink("../../opt", root + "/srv/up");
  ASSERT_EQ(crt({"image", "import", root, "linked-wd", "--workdir=/app", "--cmd=/bin/busybox", "--cmd=pwd"}).status, 0);
  Result r = crt({"run", "--net=none", "linked-wd"},
                 {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = false});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/opt/app\n");
  r = crt({"run", "--net=none", "--uuid-file-save=" + dir_ + "/uuid", "linked-wd", "--working-dir=/srv/up/app/new"},
          {.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = false});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/opt/app/new\n");
  EXPECT_FALSE(stdfs::exists(root + "/opt/app/new")) << "made in the pod's layer, not the image's source";
  // The unit names the directory itself, not the link (busybox's pwd
  // prints where it is either way).
  std::string uuid = read_file(dir_ + "/uuid").substr(0, 36);
  nlohmann::json manifest = crt::json_text::parse(read_file(dir_ + "/pods/run/" + uuid + "/pod.json"));
  EXPECT_EQ(manifest["apps"][0]["working_dir"], "/opt/app/new") << manifest["apps"][0].dump();
}

TEST_F(ImageTest, AnImagesSymlinksCannotPutMountsOnStage1sPathsOrAnotherApps) {
  // The pod's /etc files are mounted after stage1's /proc and
  // /run/systemd/notify are bound into the app, and stage1's mounts are
  // shared: followed inside the image, these links lead into those binds.
  std::string root = make_rootfs("rootfs");
  stdfs::create_directories(root + "/etc");
  stdfs::create_symlink("/proc/version", root + "/etc/hosts");
  stdfs::create_symlink("/run/systemd/notify", root + "/etc/hostname");
  ASSERT_EQ(crt({"image", "import", root, "linked"}).status, 0);
  Result r = crt({"run", "--net=none", "linked", "--", "/bin/sh", "-c", "sleep 2", "---", "busybox", "--", "/bin/sh",
                  "-c", "sleep 1; cat /proc/version; test -S /run/systemd/notify && echo notify is a socket"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Linux version"));
  EXPECT_THAT(r.out, Not(HasSubstr("localhost")));
  EXPECT_THAT(r.out, HasSubstr("notify is a socket"));
}

TEST_F(ImageTest, AnAppTheKernelCannotExecuteSaysWhyOnStderr) {
  std::string root = make_rootfs("rootfs");
  std::ofstream(root + "/bin/junk") << "not a program";
  stdfs::permissions(root + "/bin/junk", stdfs::perms::owner_all);
  ASSERT_EQ(crt({"image", "import", root, "junk"}).status, 0);
  Result r = crt({"run", "--net=none", "junk", "--", "/bin/junk"});
  EXPECT_EQ(r.status, 203);  // systemd's EXIT_EXEC
  ASSERT_EQ(pods("run").size(), 1U);
  // The child's reason is in the pod's journal, or, when it could not
  // reach the pod's journald (not up yet), on its console (nspawn.log):
  // crt run shows it from either.
  EXPECT_THAT(r.err,
              ::testing::ContainsRegex("crt: pod: junk.service: (Failed at step EXEC spawning|Failed to execute) "
                                       "/bin/junk: Exec format error\n"));
  // Once: PID 1's "Failed at step EXEC" repeats the app's own line.
  EXPECT_EQ(r.err.find("Exec format error"), r.err.rfind("Exec format error")) << r.err;
  if (r.err.find("Failed at step EXEC") != std::string::npos) {
    EXPECT_THAT(crt({"logs", pods("run")[0]}).out, HasSubstr("Failed at step EXEC spawning /bin/junk"));
  }
  // Its start failed, so the pod never counted as ready (crt status
  // --wait-ready, crt run --detach).
  EXPECT_FALSE(stdfs::exists(pod_dir(pods("run")[0]) + "/ready"));
}

TEST_F(ImageTest, AnAppWhoseRootfsCannotBePreparedFailsAndSaysWhy) {
  // No directory to put the app's devices in.
  std::string root = make_rootfs("rootfs");
  std::ofstream(root + "/dev") << "a file";
  ASSERT_EQ(crt({"image", "import", root, "nodev"}).status, 0);
  Result r = crt({"run", "--net=none", "nodev", "--", "/bin/sh", "-c", "echo ran"});
  EXPECT_EQ(r.status, 254) << "crt's own failure, not the app's: " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("crt: pod: prepare-app: app 'nodev': preparing its rootfs"));
  EXPECT_THAT(r.err, HasSubstr("'/dev' exists and is not a directory"));
  EXPECT_THAT(r.err, HasSubstr("crt: app 'nodev' did not start; the pod's journal says why"));
  ASSERT_EQ(pods("run").size(), 1U);
  EXPECT_THAT(crt({"status", pods("run")[0]}).out, HasSubstr("app-nodev=254\n"));
}

// A layer that lists a file but not its directories gets them as 0755,
// whatever the umask of whoever imports it.
TEST_F(ImageTest, DirectoriesALayerDoesNotListAreTheSameUnderAnyUmask) {
  OciLayout layout(dir_ + "/layout");
  nlohmann::json image = layout.add_image({make_layer({file("usr/local/bin/tool", "#!/x\n", 0755)})});
  layout.write_index({{image, "bare:1"}});
  std::string cmd = "umask 077; exec \"$@\"";
  std::vector<std::string> argv = {"sh", "-c", cmd, "sh"};
  for (const auto& a : crt_argv({"image", "import", layout.dir().string()})) argv.push_back(a);
  Result r = run(argv);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(count(dir_ + "/store/trees"), 1U);
  for (const auto& t : stdfs::directory_iterator(dir_ + "/store/trees"))
    for (const char* d : {"usr", "usr/local", "usr/local/bin"})
      EXPECT_EQ(stdfs::status(t.path() / d).permissions() & stdfs::perms::all,
                stdfs::perms::owner_all | stdfs::perms::group_read | stdfs::perms::group_exec |
                    stdfs::perms::others_read | stdfs::perms::others_exec)
          << d;
}

// An OCI layer's ACLs (SCHILY.acl.*, as tar --acls and bsdtar write them)
// are kept as a rootfs tarball's are: in the tree as the system.posix_acl_*
// xattrs, which is what getfacl reads, and what the app's overlay shows.
TEST_F(ImageTest, AnOciLayersAclsAreKept) {
  LayerEntry f = file("srv/shared", "s\n", 0660);
  f.acl = "user::rw-,user:1234:rw-,group::r--,mask::rw-,other::---";
  LayerEntry d = dir("srv/drop", 0750);
  d.default_acl = "user::rwx,user:1234:r-x,group::r-x,mask::r-x,other::---";
  OciLayout layout(dir_ + "/layout");
  nlohmann::json image = layout.add_image({make_layer({dir("srv"), f, d})});
  layout.write_index({{image, "acl:1"}});
  ASSERT_EQ(crt({"image", "import", layout.dir().string()}).status, 0);
  ASSERT_EQ(count(dir_ + "/store/trees"), 1U);
  for (const auto& t : stdfs::directory_iterator(dir_ + "/store/trees")) {
    EXPECT_EQ(acl_user_perm(t.path() / "srv" / "shared", "system.posix_acl_access", 1234), 6);
    EXPECT_EQ(acl_user_perm(t.path() / "srv" / "drop", "system.posix_acl_default", 1234), 5);
  }
}

// A layer's file in /tmp, without the directory: the app's /tmp stays as
// the base layer made it (1777), so a user other than root can write there.
TEST_F(ImageTest, ADirectoryALayerDoesNotListStaysAsTheLayersBelowHaveIt) {
  std::string busybox = read_file("/bin/busybox");
  OciLayout layout(dir_ + "/layout");
  nlohmann::json image = layout.add_image({make_layer({file("bin/busybox", busybox, 0755), dir("tmp", 01777)}),
                                           make_layer({file("tmp/from-the-image", "x\n")})});
  layout.write_index({{image, "tmp:1"}});
  ASSERT_EQ(crt({"image", "import", layout.dir().string()}).status, 0);
  Result r = crt({"run", "--net=none", "tmp:1", "--user=1000", "--", "/bin/busybox", "sh", "-c",
                  "/bin/busybox stat -c %a /tmp && echo ok > /tmp/mine && /bin/busybox cat /tmp/mine"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1777\nok\n") << r.err;
}

TEST_F(ImageTest, SameContentIsStoredOnce) {
  std::string root = make_rootfs("rootfs");
  ASSERT_EQ(crt({"image", "import", root, "one"}).status, 0);
  ASSERT_EQ(crt({"image", "import", root, "two"}).status, 0);
  EXPECT_EQ(count(dir_ + "/store/trees"), 1U);
}

TEST_F(ImageTest, Stage1SharesTheHostsOwnFiles) {
  // stage1 is built from the host's systemd: its store tree links the host's
  // files, so pods share their page cache with the host's processes.
  const char* systemd = "/usr/lib/systemd/systemd";
  std::string probe = dir_ + "/probe";
  if (::link(systemd, probe.c_str()) != 0)
    GTEST_SKIP() << "the store cannot link " << systemd << " (another file system?): " << std::strerror(errno);
  ::unlink(probe.c_str());
  if (::listxattr(systemd, nullptr, 0) > 0) GTEST_SKIP() << systemd << " has xattrs (SELinux, IMA): never linked";
  Result r = crt({"run", "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  struct stat host {};
  ASSERT_EQ(::stat(systemd, &host), 0);
  size_t linked = 0, trees = 0;
  for (const auto& t : stdfs::directory_iterator(dir_ + "/store/trees")) {
    struct stat st {};
    if (::stat((t.path() / "usr/lib/systemd/systemd").c_str(), &st) != 0) continue;
    ++trees;
    if (st.st_ino == host.st_ino) ++linked;
  }
  EXPECT_EQ(trees, 1U);
  EXPECT_EQ(linked, 1U) << "stage1's systemd is not the host's file";
  // A busybox image is not the host's: nothing of it is linked.
  EXPECT_EQ(run({"find", dir_ + "/store/trees", "-path", "*/bin/busybox", "-links", "+1"}).out, "");
  // The linked tree still archives to its layer's digest.
  r = crt({"image", "list", "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string stage1;
  for (const auto& im : crt::json_text::parse(r.out))
    if (im["name"] == "crt-stage1") stage1 = im["id"].get<std::string>();
  ASSERT_FALSE(stage1.empty()) << r.out;
  r = crt({"image", "export", stage1, dir_ + "/stage1.oci.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(ImageTest, FailedImportLeavesNothing) {
  ASSERT_EQ(crt({"image", "import", make_rootfs("ok"), "ok"}).status, 0);
  std::string index = read_file(dir_ + "/store/index.json");
  // An archive with an entry escaping the tree.
  std::string evil = dir_ + "/evil";
  stdfs::create_directories(evil + "/a");
  {
    std::ofstream(evil + "/x") << "x";
  }
  Result t = run({"tar", "-C", evil, "-cf", dir_ + "/evil.tar", "--transform=s,^./x,../../escaped,", "./x", "./a"});
  ASSERT_EQ(t.status, 0) << t.err;
  Result r = crt({"image", "import", dir_ + "/evil.tar", "evil"});
  EXPECT_EQ(r.status, 254);
  EXPECT_FALSE(r.err.empty());
  EXPECT_FALSE(stdfs::exists(dir_ + "/escaped"));
  EXPECT_FALSE(stdfs::exists(dir_ + "/store/escaped"));
  r = crt({"image", "import", dir_ + "/does-not-exist", "missing"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("does-not-exist"));
  EXPECT_EQ(read_file(dir_ + "/store/index.json"), index);
  EXPECT_EQ(count(dir_ + "/store/trees"), 1U);
  // Work left by the failures is gone by the next import at the latest.
  ASSERT_EQ(crt({"image", "import", make_rootfs("ok2"), "ok2"}).status, 0);
  EXPECT_EQ(count(dir_ + "/store/tmp"), 0U);
}

TEST_F(ImageTest, ImageInUseByAPodIsNotRemovedUntilThePodIs) {
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}), {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "busybox"), 0);
  Result r = crt({"image", "rm", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("used by pod " + uuid + " (running); stop it, then remove it with 'crt rm " + uuid +
                               "' (or use --force)"));
  p.signal(SIGTERM);
  p.wait();
  ASSERT_EQ(crt({"prepare", "-q", "busybox"}).status, 0);
  r = crt({"image", "rm", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("used by pods "));
  EXPECT_THAT(r.err, HasSubstr(uuid + " (exited)"));
  EXPECT_THAT(r.err, ::testing::ContainsRegex("[0-9a-f-]{36} \\(prepared\\)"));
  EXPECT_THAT(r.err, HasSubstr("; remove them with 'crt rm "));
  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  ASSERT_EQ(crt({"rm", pods("prepared").at(0)}).status, 0);
  r = crt({"image", "rm", "busybox"});
  EXPECT_EQ(r.status, 0) << r.err;
}

// crt image prune removes the images an import of their name replaced
// ('<none>'), but not one a pod uses, until the pod is removed.
TEST_F(ImageTest, PruneRemovesTheImagesWithoutANameNoPodUses) {
  std::string root = make_rootfs("rootfs");
  auto import = [&](const std::string& mark) {
    std::ofstream(root + "/mark") << mark;
    Result r = crt({"image", "import", "-q", root, "app:1"});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  };
  std::string used = import("used");
  Result r = crt({"prepare", "-q", "--net=none", "app:1", "--", "/bin/sh"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  std::string unused = import("unused");
  std::string named = import("named");
  r = crt({"image", "prune"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("removed " + unused +
                                             "\nremoved 1 image without a name: [0-9.]+ [kM]?B freed; 1 stays, which "
                                             "pods use or may use \\('crt image rm ID' says which\\)\n"));
  auto ids = [&] {
    std::string list;
    for (const auto& im : json_text::parse(crt({"image", "list", "--format=json"}).out))
      list += im["id"].get<std::string>() + " ";
    return list;
  };
  std::string left = ids();
  EXPECT_THAT(left, HasSubstr(used));
  EXPECT_THAT(left, Not(HasSubstr(unused)));
  EXPECT_THAT(left, HasSubstr(named));
  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  r = crt({"image", "prune"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed " + used + "\nremoved 1 image without a name: "));
  left = ids();
  EXPECT_THAT(left, Not(HasSubstr(used)));
  EXPECT_THAT(left, HasSubstr(named));
  EXPECT_EQ(count(dir_ + "/store/trees"), 3u) << "app:1's, busybox's and stage1's";
}

}  // namespace
}  // namespace crt::test
