// crt export: an exited app's rootfs with its changes as an oci-archive,
// read back by crt and by skopeo.

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "../support/blob_damage.hpp"
#include "../support/oci_builder.hpp"
#include "common/json_text.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ExportTest : public PodTest {
 protected:
  /// Runs `script` in a pod of `image`; the pod's UUID.
  std::string run_script(const std::string& image, const std::string& script) {
    std::string file = dir_ + "/uuid-" + std::to_string(++runs_);
    Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, image, "--", "/bin/sh", "-c", script});
    EXPECT_EQ(r.status, 0) << r.err;
    return trimmed(read_file(file));
  }

  static std::string trimmed(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  /// The names in the top layer of the oci-archive `archive`.
  std::string top_layer_listing(const std::string& archive) {
    std::string x = dir_ + "/x" + std::to_string(++runs_);
    std::filesystem::create_directories(x);
    EXPECT_EQ(run({"tar", "-xf", archive, "-C", x}).status, 0);
    Result inspect = run({"skopeo", "inspect", "--raw", "oci-archive:" + archive});
    EXPECT_EQ(inspect.status, 0) << inspect.err;
    auto manifest = crt::json_text::parse(inspect.out);
    std::string digest = manifest["layers"].back()["digest"];
    return run({"tar", "-tf", x + "/blobs/sha256/" + digest.substr(7)}).out;
  }

  /// The store's file of the blob `digest`.
  std::string blob_file(const std::string& digest) const { return dir_ + "/store/blobs/sha256/" + digest.substr(7); }
  /// Puts the blob `content` into the store with a byte in its middle
  /// flipped: damaged, of the right size.
  void put_damaged_blob(const std::string& content) const {
    std::ofstream(blob_file(digest_of(content)), std::ios::binary | std::ios::trunc) << with_a_byte_flipped(content);
  }

  /// Waits until an export writes into the store's work area.
  bool export_writes_into_the_store() {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      // The work directory itself: its lock file comes first, and a kill
      // between the two leaves only the lock file, which is no leftover.
      for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
        if (e.path().filename().string().find("export") == 0 && e.is_directory()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  /// What else than `out` itself its directory holds under its name.
  static std::string beside(const std::string& out) {
    std::string name = std::filesystem::path(out).filename();
    std::string found;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(out).parent_path())) {
      std::string n = e.path().filename();
      if (n != name && n.find(name) != std::string::npos) found += n + " ";
    }
    return found;
  }

  int runs_ = 0;
};

TEST_F(ExportTest, ChangesAndDeletionsRoundTripThroughCrtAndSkopeo) {
  std::string one = run_script("busybox",
                               "mkdir -p /data/old && echo a > /data/a && echo b > /data/old/b && "
                               "echo changed > /etc/motd && rm /etc/group");
  std::string out = dir_ + "/one.tar";
  Result r = crt({"export", one, out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("exported app busybox"));

  // The new layer holds the app's changes, a whiteout for what it deleted,
  // and nothing of what crt mounted into the app.
  std::string listing = top_layer_listing(out);
  EXPECT_THAT(listing, HasSubstr("data/a\n"));
  EXPECT_THAT(listing, HasSubstr("etc/motd\n"));
  EXPECT_THAT(listing, HasSubstr("etc/.wh.group\n"));
  for (const char* crts : {"etc/hosts", "etc/resolv.conf", "etc/hostname", "etc/mtab", "run/"})
    EXPECT_THAT(listing, Not(HasSubstr(crts))) << listing;

  // skopeo reads it as an image with one more layer than busybox.
  Result inspect = run({"skopeo", "inspect", "oci-archive:" + out});
  ASSERT_EQ(inspect.status, 0) << inspect.err;
  auto j = crt::json_text::parse(inspect.out);
  EXPECT_EQ(j["Layers"].size(), 2u);

  // Imported back, a second generation replaces a directory (overlayfs
  // makes it opaque; OCI says so with .wh..wh..opq) …
  ASSERT_EQ(crt({"image", "import", out, "gen:1"}).status, 0);
  std::string two = run_script("gen:1", "rm -rf /data && mkdir /data && echo c > /data/c");
  std::string out2 = dir_ + "/two.tar";
  r = crt({"export", "--name=example.org/gen:2", two, out2});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(top_layer_listing(out2), HasSubstr("data/.wh..wh..opq\n"));

  // … and, through skopeo into an OCI layout and back, runs with exactly
  // what the apps left.
  std::string layout = dir_ + "/layout";
  Result copy = run({"skopeo", "copy", "oci-archive:" + out2, "oci:" + layout + ":gen2"});
  ASSERT_EQ(copy.status, 0) << copy.err;
  ASSERT_EQ(crt({"image", "import", layout, "gen:2"}).status, 0);
  r = crt({"run", "--net=none", "gen:2", "--", "/bin/sh", "-c", "ls /data; cat /etc/motd; ls /etc/group || true"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("c\nchanged\n"));
  EXPECT_THAT(r.out + r.err, HasSubstr("/etc/group: No such file"));
  EXPECT_THAT(r.out, Not(HasSubstr("old")));

  // The image history says where the layers came from.
  Result hist = run({"skopeo", "inspect", "--config", "oci-archive:" + out2});
  EXPECT_THAT(hist.out, HasSubstr("crt export --app=gen " + two));
  // One history entry per layer, so that tools pair each with its own; the
  // busybox image had none.
  auto config = crt::json_text::parse(hist.out);
  size_t described = 0;
  for (const auto& h : config["history"])
    if (!h.value("empty_layer", false)) ++described;
  EXPECT_EQ(described, config["rootfs"]["diff_ids"].size()) << hist.out;
  EXPECT_EQ(config["rootfs"]["diff_ids"].size(), 3u);
}

// A directory of the image that overlayfs copied up only for crt's mount
// points stays out of the layer; one the app changed itself stays in, even
// when all it holds is crt's.
// '-' writes the archive to stdout, the same archive as to a file; never
// to a terminal.
TEST_F(ExportTest, ToStdout) {
  std::string uuid = run_script("busybox", "echo piped > /made");
  Result r = crt({"export", uuid, "-"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: exported app busybox to stdout\n");
  { std::ofstream(dir_ + "/pod.tar", std::ios::binary) << r.out; }
  EXPECT_THAT(top_layer_listing(dir_ + "/pod.tar"), HasSubstr("made\n"));
  r = crt({"image", "export", "busybox", "-"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(crt({"image", "export", "busybox", dir_ + "/file.tar"}).status, 0);
  EXPECT_TRUE(r.out == read_file(dir_ + "/file.tar")) << "not the archive written to a file";
  EXPECT_FALSE(std::filesystem::exists("-"));
  Result t = run_on_terminal(crt_argv({"image", "export", "busybox", "-"}));
  EXPECT_EQ(t.status, 254);
  EXPECT_THAT(t.out, HasSubstr("not writing an archive to a terminal"));
}

// With SOURCE_DATE_EPOCH the new image is dated then, not now: exporting
// the same pod again writes the same archive. A value that is no number of
// seconds is an error.
TEST_F(ExportTest, SourceDateEpochDatesTheImageAndMakesTheArchiveReproducible) {
  std::string uuid = run_script("busybox", "echo again > /made");
  RunOptions at;
  at.env = {"SOURCE_DATE_EPOCH=1700000000"};
  ASSERT_EQ(crt({"export", uuid, dir_ + "/one.tar"}, at).status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // now has moved on
  ASSERT_EQ(crt({"export", uuid, dir_ + "/two.tar"}, at).status, 0);
  EXPECT_TRUE(read_file(dir_ + "/one.tar") == read_file(dir_ + "/two.tar")) << "two archives of one pod differ";
  ASSERT_EQ(crt({"image", "import", "-q", dir_ + "/one.tar", "dated:1"}).status, 0);
  Result inspect = crt({"image", "inspect", "dated:1"});
  ASSERT_EQ(inspect.status, 0) << inspect.err;
  EXPECT_EQ(crt::json_text::parse(inspect.out)[0]["created"], "2023-11-14T22:13:20Z") << inspect.out;
  for (const char* bad : {"SOURCE_DATE_EPOCH=", "SOURCE_DATE_EPOCH=soon", "SOURCE_DATE_EPOCH=-1"}) {
    RunOptions wrong;
    wrong.env = {bad};
    Result r = crt({"export", uuid, dir_ + "/bad.tar"}, wrong);
    EXPECT_EQ(r.status, 254) << bad;
    EXPECT_THAT(r.err, HasSubstr("is not a number of seconds since 1970")) << bad;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/bad.tar")) << bad;
  }
}

// --name must be an image's name or a tag alone, as crt can read them back.
TEST_F(ExportTest, TheNameGivenIsAnImageNameOrATag) {
  std::string uuid = run_script("busybox", "echo named > /made");
  std::string out = dir_ + "/named.tar";
  Result r = crt({"export", "--name=bad name!", uuid, out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("--name: invalid image name 'bad name!'"));
  EXPECT_FALSE(std::filesystem::exists(out));
  // A name: the image's name when imported.
  ASSERT_EQ(crt({"export", "--name=example.org/plain:1", uuid, out}).status, 0);
  r = crt({"image", "import", "--quiet", out});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "example.org/plain:1", "--", "/bin/cat", "/made"});
  EXPECT_EQ(r.out, "named\n") << r.err;
  // The name the archive records is named as a pull names it.
  ASSERT_EQ(crt({"export", "--overwrite", "--name=docker.io/plain:2", uuid, out}).status, 0);
  r = crt({"image", "import", "--quiet", out});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"image", "inspect", "docker.io/plain:2"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string names = crt::json_text::parse(r.out)[0]["names"].dump();  // the same image as example.org/plain:1
  EXPECT_THAT(names, HasSubstr("\"docker.io/library/plain:2\""));
  EXPECT_THAT(names, Not(HasSubstr("\"docker.io/plain:2\"")));
  // A store where an older crt kept the name as the archive wrote it: the
  // import takes that spelling away, rather than leave two names.
  std::string index = read_file(dir_ + "/store/index.json");
  for (size_t at; (at = index.find("docker.io/library/plain:2")) != std::string::npos;)
    index.replace(at, 25, "docker.io/plain:2");
  { std::ofstream(dir_ + "/store/index.json", std::ios::trunc) << index; }
  ASSERT_THAT(crt({"image", "list"}).out, HasSubstr("docker.io/plain "));
  r = crt({"image", "import", "--quiet", out});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string list = crt({"image", "list"}).out;
  EXPECT_THAT(list, HasSubstr("docker.io/library/plain "));
  EXPECT_THAT(list, Not(HasSubstr("docker.io/plain "))) << list;
  // A tag alone, as written: the import names the image after the archive
  // (its file name without ".tar").
  ASSERT_EQ(crt({"export", "--overwrite", "--name=1.0", uuid, out}).status, 0);
  r = crt({"image", "import", "--quiet", out});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", "--net=none", "named:1.0", "--", "/bin/cat", "/made"});
  EXPECT_EQ(r.out, "named\n") << r.err;
}

// crt runs with umask 022, but an archive is the user's file: it is made as
// the user's umask says (an app's files may be secrets).
TEST_F(ExportTest, AnArchiveFollowsTheCallersUmask) {
  std::string uuid = run_script("busybox", "echo secret > /made");
  for (const auto& [mask, mode] : {std::pair{"022", "644"}, std::pair{"077", "600"}}) {
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"export", uuid}, std::vector<std::string>{"image", "export", "busybox"}}) {
      std::string out = dir_ + "/" + mask + "-" + cmd[0] + ".tar";
      std::vector<std::string> argv = {"sh", "-c", std::string("umask ") + mask + "; exec \"$@\"", "sh"};
      for (const auto& a : crt_argv(cmd)) argv.push_back(a);
      argv.push_back(out);
      Result r = run(argv);
      ASSERT_EQ(r.status, 0) << r.err;
      EXPECT_EQ(run({"stat", "-c", "%a", out}).out, std::string(mode) + "\n") << mask << " " << cmd[0];
    }
  }
}

TEST_F(ExportTest, ADirectoryTheAppChangedStaysInTheLayer) {
  std::string changed = run_script("busybox", "chmod 750 /etc");
  Result r = crt({"export", changed, dir_ + "/changed.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::string listing = top_layer_listing(dir_ + "/changed.tar");
  EXPECT_THAT(listing, HasSubstr("etc/\n"));
  EXPECT_THAT(listing, Not(HasSubstr("etc/hosts")));
  EXPECT_THAT(listing, Not(HasSubstr("run/")));
}

// A sparse file an app made (truncate -s 1G) is a sparse entry of the
// layer, not a GiB of zeros, and comes back from crt and GNU tar with its
// size, its content and its holes.
TEST_F(ExportTest, ASparseFileIsExportedSparse) {
  constexpr uint64_t kSize = (uint64_t{1} << 30) + 4;
  std::string uuid = run_script("busybox",
                                "truncate -s 1G /sparse && echo mid | dd of=/sparse bs=1 seek=536870912 "
                                "conv=notrunc 2>/dev/null && echo end >> /sparse && md5sum /sparse > /sum");
  std::string out = dir_ + "/sparse.tar";
  Result r = crt({"export", uuid, out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_LT(std::filesystem::file_size(out), 16u << 20) << "the holes were archived as zeros";

  // GNU tar restores it from the layer with its holes.
  std::string x = dir_ + "/x";
  std::filesystem::create_directories(x + "/layer");
  ASSERT_EQ(run({"tar", "-xf", out, "-C", x}).status, 0);
  auto manifest = crt::json_text::parse(run({"skopeo", "inspect", "--raw", "oci-archive:" + out}).out);
  std::string layer = x + "/blobs/sha256/" + manifest["layers"].back()["digest"].get<std::string>().substr(7);
  // Its one MiB that holds data ("mid"), and the last.
  EXPECT_LT(std::filesystem::file_size(layer), 3u << 20);
  Result untar = run({"tar", "-xf", layer, "-C", x + "/layer", "sparse"});
  ASSERT_EQ(untar.status, 0) << untar.err;
  struct stat st {};
  ASSERT_EQ(::stat((x + "/layer/sparse").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  EXPECT_LT(st.st_blocks * 512, 3 << 20);

  // crt imports it as the same file, sparse in the store.
  ASSERT_EQ(crt({"image", "import", out, "sparse:1"}).status, 0);
  r = crt({"run", "--net=none", "sparse:1", "--", "/bin/sh", "-c",
           "stat -c %s /sparse && md5sum -c /sum && dd if=/sparse bs=1 skip=536870912 count=3 2>/dev/null"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(kSize) + "\n/sparse: OK\nmid") << r.err;
  Result found = run({"find", dir_ + "/store/trees", "-name", "sparse", "-size", "+1G"});
  ASSERT_NE(found.out, "");
  std::string tree_file = found.out.substr(0, found.out.find('\n'));
  ASSERT_EQ(::stat(tree_file.c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 3 << 20) << tree_file << " was written out";
}

// What the app made deeper than crt may open files at once is exported
// whole: the walk of its writable layer does not keep a descriptor for
// each level.
TEST_F(ExportTest, ATreeDeeperThanTheOpenFileLimitIsExportedWhole) {
  std::string uuid = run_script("busybox", "cd /tmp && for i in $(seq 200); do mkdir d && cd d; done && echo x > f");
  struct rlimit was {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &was), 0);
  struct rlimit low = was;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  Result r = crt({"export", uuid, dir_ + "/deep.tar"});
  ::setrlimit(RLIMIT_NOFILE, &was);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string deepest = "tmp/";
  for (int i = 0; i < 200; ++i) deepest += "d/";
  EXPECT_THAT(top_layer_listing(dir_ + "/deep.tar"), HasSubstr("\n" + deepest + "f\n"));
}

// crt's mount points are found where the app saw them, through the image's
// symlinks: an /etc that links to usr/etc, a resolv.conf that links into
// /run. What systemd adds of a root's skeleton stays out too.
TEST_F(ExportTest, MountPointsReachedThroughTheImagesSymlinksStayOut) {
  std::string rootfs = dir_ + "/rootfs";
  std::filesystem::create_directories(rootfs + "/bin");
  std::filesystem::create_directories(rootfs + "/usr/etc");
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox");
  std::filesystem::create_symlink("busybox", rootfs + "/bin/sh");
  std::filesystem::create_symlink("usr/etc", rootfs + "/etc");
  std::filesystem::create_symlink("../../run/systemd/resolve/stub-resolv.conf", rootfs + "/usr/etc/resolv.conf");
  std::ofstream(rootfs + "/usr/etc/passwd") << "root:x:0:0:root:/:/bin/sh\n";
  // Hidden by the pod's /dev: the app never saw this link.
  std::filesystem::create_directories(rootfs + "/dev");
  std::filesystem::create_symlink("/run/shm", rootfs + "/dev/shm");
  ASSERT_EQ(crt({"image", "import", rootfs, "linked:1"}).status, 0);
  std::string uuid = run_script("linked:1", "echo kept > /note");
  Result r = crt({"export", uuid, dir_ + "/out.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  // Nor the root/ and var/ the image lacks, which the pod's systemd made.
  EXPECT_EQ(top_layer_listing(dir_ + "/out.tar"), "note\n");
  // Unless the app wrote there.
  uuid = run_script("linked:1", "echo kept > /var/note");
  r = crt({"export", uuid, dir_ + "/var.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(top_layer_listing(dir_ + "/var.tar"), "var/\nvar/note\n");
  // The mount points are where they were when the pod started, whatever
  // the app did to the links that led there.
  uuid = run_script("linked:1", "rm /etc/resolv.conf && echo nameserver 192.0.2.1 > /etc/resolv.conf");
  r = crt({"export", uuid, dir_ + "/resolv.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(top_layer_listing(dir_ + "/resolv.tar"), "usr/\nusr/etc/\nusr/etc/resolv.conf\n");
  // A directory crt made that the app changed is the app's.
  uuid = run_script("linked:1", "chmod 700 /run");
  r = crt({"export", uuid, dir_ + "/run.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(top_layer_listing(dir_ + "/run.tar"), "run/\n");
  // What the app wrote where an image's link under /dev pointed is its own.
  uuid = run_script("linked:1", "mkdir -p /run/shm && echo x > /run/shm/x");
  r = crt({"export", uuid, dir_ + "/shm.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(top_layer_listing(dir_ + "/shm.tar"), "run/\nrun/shm/\nrun/shm/x\n");
}

TEST_F(ExportTest, AnExitedPodKeepsItsImageUntilItIsRemoved) {
  std::string uuid = run_script("busybox", "echo kept > /note");
  auto manifest = crt::json_text::parse(read_file(pod_dir(uuid) + "/pod.json"));
  std::string layer = manifest["apps"][0]["image"]["layers"][0];
  std::string tree = dir_ + "/store/trees/" + layer.substr(7);

  // Neither image rm nor image gc takes what the exited pod is made of.
  Result r = crt({"image", "rm", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is used by pod " + uuid + " (exited); remove it with 'crt rm " + uuid + "'"));
  ASSERT_EQ(crt({"image", "gc"}).status, 0);
  r = crt({"export", uuid, dir_ + "/out.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
  // Only what the app wrote: not the image's directories overlayfs copied
  // up to hold crt's mount points (etc/, run/).
  EXPECT_EQ(top_layer_listing(dir_ + "/out.tar"), "note\n");

  // Forced, the image goes but its layers stay while the pod does. Its
  // export, that image with the app's changes on top, is gone with it.
  ASSERT_EQ(crt({"image", "rm", "--force", "busybox"}).status, 0);
  r = crt({"export", "--overwrite", uuid, dir_ + "/out.tar"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is no longer in the store (removed by 'crt image rm --force' while pods used it)"));
  EXPECT_THAT(r.err, HasSubstr("pulling it again brings it back"));
  r = crt({"image", "gc"});
  EXPECT_THAT(r.out, HasSubstr("removed 0 layers")) << r.err;
  EXPECT_TRUE(std::filesystem::is_directory(tree));
  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  r = crt({"image", "gc"});
  EXPECT_THAT(r.out, HasSubstr("removed 1 layer,")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tree));
}

TEST_F(ExportTest, APodFromBeforeTheHostRestartedIsExportedWithAWarning) {
  // A running pod's overlays do not sync: what its apps wrote is surely all
  // there only until the host restarts (unless it shut down cleanly).
  std::string uuid = run_script("busybox", "echo kept > /note");
  std::string boot = read_file("/proc/sys/kernel/random/boot_id");
  boot.pop_back();
  auto manifest = crt::json_text::parse(read_file(pod_dir(uuid) + "/pod.json"));
  if (!manifest.contains("unsynced_boot")) GTEST_SKIP() << "no volatile overlays on this kernel";
  EXPECT_EQ(manifest["unsynced_boot"], boot);
  Result r = crt({"export", uuid, dir_ + "/now.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("warning")));

  manifest["unsynced_boot"] = "00000000-0000-4000-8000-000000000000";  // an earlier boot
  {
    std::ofstream(pod_dir(uuid) + "/pod.json") << manifest.dump(2) << "\n";
  }
  r = crt({"export", uuid, dir_ + "/later.tar"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crt: warning: pod " + uuid + " ran before the host last started, on overlays that "
                               "do not sync: unless the host shut down cleanly, files its apps wrote may be incomplete"));
  EXPECT_THAT(top_layer_listing(dir_ + "/later.tar"), HasSubstr("note\n"));
}

TEST_F(ExportTest, ClearErrorsAndNothingHalfWritten) {
  std::string out = dir_ + "/out.tar";
  // A running pod: stop it first.
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string running = wait_uuid(file);
  ASSERT_EQ(crt({"status", "--wait-ready=30s", running}).status, 0);
  Result r = crt({"export", running, out});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("it is running"));
  EXPECT_THAT(r.err, HasSubstr("crt stop"));
  EXPECT_EQ(crt({"stop", running}).status, 0);
  p.wait();

  // Several apps: which one.
  Result multi = crt({"run", "--net=none", "--uuid-file-save=" + dir_ + "/multi", "busybox", "--", "/bin/true",
                      "---", "busybox", "--name=b", "--", "/bin/true"});
  ASSERT_EQ(multi.status, 0) << multi.err;
  std::string two = trimmed(read_file(dir_ + "/multi"));
  r = crt({"export", two, out});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("--app=NAME"));
  r = crt({"export", "--app=nosuch", two, out});
  EXPECT_THAT(r.err, HasSubstr("no app 'nosuch'"));

  // Missing OUT, an existing OUT, --uuid-file.
  r = crt({"export", running});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("OUT"));
  std::ofstream(out) << "precious";
  r = crt({"export", running, out});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("--overwrite"));
  EXPECT_EQ(read_file(out), "precious");
  r = crt({"export", "--overwrite", "--uuid-file=" + file, out});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);

  // Nothing of the exports stays in the store's work area.
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
    ADD_FAILURE() << "left behind: " << e.path();
  // And the exported pods are still removable.
  EXPECT_EQ(crt({"rm", running, two}).status, 0);
}

// A layer blob damaged in the store (same size, other bytes) is not
// exported as if good: the export fails naming the image and the blob, and
// writes nothing, to a file or (cut short) to stdout.
TEST_F(ExportTest, ADamagedLayerBlobIsAnErrorAndNothingIsWritten) {
  OciLayout layout(dir_ + "/layout");
  std::string layer = make_layer({file("data", std::string(100000, 'x'))}, Compression::kNone);
  layout.write_index({{layout.add_image({layer}), "damaged:1"}});
  std::string id = layout.last_config();
  ASSERT_EQ(crt({"image", "import", "-q", layout.dir().string()}).status, 0);
  std::string digest = digest_of(layer);
  put_damaged_blob(layer);
  std::string out = dir_ + "/damaged.tar";
  Result r = crt({"image", "export", "damaged:1", out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("exporting 'damaged:1' to '" + out + "': layer blob " + digest +
                               " in the store is corrupt: its content is sha256:"))
      << r.err;
  EXPECT_THAT(r.err, HasSubstr("; removed the damaged blob: import or pull 'damaged:1' again to repair it\n")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(beside(out), "");
  // Damaged again: to stdout.
  put_damaged_blob(layer);
  r = crt({"image", "export", "damaged:1", "-"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("layer blob " + digest + " in the store is corrupt")) << r.err;
  { std::ofstream(dir_ + "/cut.tar", std::ios::binary) << r.out; }
  EXPECT_NE(run({"tar", "-tf", dir_ + "/cut.tar"}).status, 0) << "the archive on stdout is not cut short";
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
    ADD_FAILURE() << "left behind: " << e.path();
}

// A layer blob damaged in the store (same size, other bytes) that two
// images share, which 'crt image rm' and 'crt image gc' would keep: the
// export that finds it takes it out, and importing either image again
// repairs both.
TEST_F(ExportTest, ADamagedLayerBlobAnExportFindsIsRepairedByImportingAgain) {
  OciLayout layout(dir_ + "/layout");
  std::string shared = make_layer({file("data", std::string(100000, 'x'))}, Compression::kNone);
  std::string own = make_layer({file("own", "own\n")}, Compression::kNone);
  layout.write_index({{layout.add_image({shared}), "one:1"}, {layout.add_image({shared, own}), "two:1"}});
  ASSERT_EQ(crt({"image", "import", "-q", layout.dir().string()}).status, 0);
  std::string blob = blob_file(digest_of(shared));
  put_damaged_blob(shared);
  std::string out = dir_ + "/repaired.tar";
  Result r = crt({"image", "export", "two:1", out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("layer blob " + digest_of(shared) + " in the store is corrupt")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("; removed the damaged blob: import or pull 'two:1' again to repair it\n")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(blob));
  r = crt({"image", "export", "one:1", out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("layer blob " + digest_of(shared) +
                               " is missing from the store; import or pull 'one:1' again to repair it\n"))
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));

  // One of them imported again (from a layout of its own) stores the blob anew.
  OciLayout only_one(dir_ + "/only-one");
  only_one.write_index({{only_one.add_image({shared}), "one:1"}});
  r = crt({"image", "import", "-q", only_one.dir().string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(digest_of(read_file(blob)), digest_of(shared));
  for (const char* image : {"one:1", "two:1"}) {
    SCOPED_TRACE(image);
    r = crt({"image", "export", "--overwrite", image, out});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);
  }
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
    ADD_FAILURE() << "left behind: " << e.path();
}

// A pod's export writes a manifest of its own: a layer of the pod's image
// whose blob the store lacks (an export found it damaged and took it out)
// is archived from its tree. An image's export cannot do without the blob:
// its manifest names it.
TEST_F(ExportTest, APodWhoseImagesLayerBlobIsMissingIsExportedFromTheTree) {
  std::string first = run_script("busybox", "echo a > /a");
  std::string gen1 = dir_ + "/gen1.tar";
  ASSERT_EQ(crt({"export", first, gen1}).status, 0);
  ASSERT_EQ(crt({"image", "import", "-q", gen1, "gen:1"}).status, 0);
  std::string uuid = run_script("gen:1", "echo b > /b");
  Result r = crt({"image", "inspect", "gen:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto blobs = crt::json_text::parse(r.out)[0]["blobs"];
  ASSERT_EQ(blobs.size(), 2u) << r.out;
  std::string damaged = blobs[0]["digest"];
  put_damaged_blob(read_file(blob_file(damaged)));
  std::string out = dir_ + "/gen2.tar";
  r = crt({"export", uuid, out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("layer blob " + damaged + " in the store is corrupt: its content is sha256:"));
  EXPECT_THAT(r.err, HasSubstr("; removed the damaged blob: export again (the layer's tree stands in for it); "
                               "import or pull 'gen:1' again to repair it\n"));
  r = crt({"export", uuid, out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(top_layer_listing(out), "b\n");
  Result inspect = run({"skopeo", "inspect", "oci-archive:" + out});
  ASSERT_EQ(inspect.status, 0) << inspect.err;
  EXPECT_EQ(crt::json_text::parse(inspect.out)["Layers"].size(), 3u);
  r = crt({"image", "export", "gen:1", dir_ + "/image.tar"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("layer blob " + damaged +
                               " is missing from the store; import or pull 'gen:1' again to repair it\n"));
}

// A layer blob cut short in the store is repaired by importing the image
// again (one of the wrong size counts as missing), and the image exports.
TEST_F(ExportTest, ALayerBlobCutShortIsRepairedByImportingAgain) {
  OciLayout layout(dir_ + "/layout");
  std::string layer = make_layer({file("data", std::string(100000, 'x'))}, Compression::kNone);
  layout.write_index({{layout.add_image({layer}), "short:1"}});
  ASSERT_EQ(crt({"image", "import", "-q", layout.dir().string()}).status, 0);
  std::string blob = blob_file(digest_of(layer));
  std::filesystem::resize_file(blob, 50000);
  Result r = crt({"image", "import", "-q", layout.dir().string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(digest_of(read_file(blob)), digest_of(layer));
  std::string out = dir_ + "/short.tar";
  r = crt({"image", "export", "short:1", out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);
}

TEST_F(ExportTest, AnInterruptedExportLeavesNothingBehind) {
  // Not zeros, which an export skips (they are holes of the layer).
  std::string uuid = run_script("busybox", "yes | head -c 400000000 > /big");
  std::string out = dir_ + "/big.tar";
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sigabbrev_np(sig));
    Process p(crt_argv({"export", "--overwrite", uuid, out}),
              {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    ASSERT_TRUE(export_writes_into_the_store());
    p.signal(sig);
    Result r = p.wait();
    // 400 MB take far longer to write than the signal to come.
    EXPECT_EQ(r.status, 128 + sig) << r.err;
    for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
      ADD_FAILURE() << "left behind: " << e.path();
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_EQ(beside(out), "");
  }
  // SIGKILL leaves the work area's part to `crt image gc`, which says what
  // it was.
  Process p(crt_argv({"export", "--overwrite", uuid, out}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  ASSERT_TRUE(export_writes_into_the_store());
  p.signal(SIGKILL);
  EXPECT_EQ(p.wait().status, 128 + SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(out));
  Result r = crt({"image", "gc"});
  EXPECT_THAT(r.out, HasSubstr(" and 1 leftover of interrupted work: ")) << r.err;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
    ADD_FAILURE() << "left behind: " << e.path();
  // The archive had no name yet.
  EXPECT_EQ(beside(out), "");

  // An OUT made while the export ran is kept without --overwrite.
  Process late(crt_argv({"export", uuid, out}),
               {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  ASSERT_TRUE(export_writes_into_the_store());
  std::ofstream(out) << "precious";
  r = late.wait();
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("exists (--overwrite replaces it)"));
  EXPECT_EQ(read_file(out), "precious");
  EXPECT_EQ(beside(out), "");
}

// A killed export's work in the store (its copy of the app's changes, as
// big as they are) goes with the next export, and with a plain crt gc;
// that of an export still running stays, and the export ends well.
TEST_F(ExportTest, AKilledExportsWorkGoesWithTheNextExportOrGc) {
  std::string uuid = run_script("busybox", "yes | head -c 400000000 > /big");
  std::string out = dir_ + "/big.tar";
  std::string tmp = dir_ + "/store/tmp";
  auto exports = [&] {
    std::set<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(tmp))
      if (e.path().filename().string().find("export") == 0 && e.is_directory()) found.insert(e.path());
    return found;
  };
  auto kill_an_export = [&] {
    Process p(crt_argv({"export", "--overwrite", uuid, out}),
              {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
    EXPECT_TRUE(export_writes_into_the_store());
    p.signal(SIGKILL);
    EXPECT_EQ(p.wait().status, 128 + SIGKILL);
    std::set<std::string> left = exports();
    EXPECT_EQ(left.size(), 1u);
    return left.empty() ? std::string() : *left.begin();
  };
  std::string killed = kill_an_export();

  // The next export takes it out first; a gc meanwhile leaves its own.
  Process next(crt_argv({"export", "--overwrite", uuid, out}),
               {.env = {}, .timeout = std::chrono::seconds(120), .input = {}, .new_session = true});
  std::string running;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       running.empty() && std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(std::chrono::milliseconds(2)))
    for (const auto& d : exports())
      if (d != killed) running = d;
  ASSERT_NE(running, "");
  EXPECT_FALSE(std::filesystem::exists(killed)) << "the next export left the killed one's work";
  Result gc = crt({"gc"});
  EXPECT_EQ(gc.status, 0) << gc.err;
  EXPECT_TRUE(std::filesystem::exists(running)) << "gc removed a running export's work";
  Result r = next.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);

  // Plain gc takes out what a killed export left, and says so.
  kill_an_export();
  gc = crt({"gc"});
  EXPECT_EQ(gc.status, 0) << gc.err;
  EXPECT_THAT(gc.out, HasSubstr("removed 1 leftover of interrupted work: "));
  for (const auto& e : std::filesystem::directory_iterator(tmp)) ADD_FAILURE() << "left behind: " << e.path();
}

// Two exports to one OUT at once: each writes a file of its own, and OUT is
// one whole archive.
TEST_F(ExportTest, TwoExportsToOneFileAtOnce) {
  std::string uuid = run_script("busybox", "head -c 50000000 /dev/urandom > /big");
  std::string out = dir_ + "/both.tar";
  Process a(crt_argv({"export", "--overwrite", uuid, out}));
  Process b(crt_argv({"export", "--overwrite", uuid, out}));
  Result ra = a.wait();
  Result rb = b.wait();
  EXPECT_EQ(ra.status, 0) << ra.err;
  EXPECT_EQ(rb.status, 0) << rb.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);
  EXPECT_EQ(beside(out), "");
  // Without --overwrite, one of them.
  std::filesystem::remove(out);
  Process c(crt_argv({"export", uuid, out}));
  Process d(crt_argv({"export", uuid, out}));
  Result rc = c.wait();
  Result rd = d.wait();
  EXPECT_EQ((rc.status == 0) + (rd.status == 0), 1) << rc.err << rd.err;
  EXPECT_THAT(rc.err + rd.err, HasSubstr("exists (--overwrite replaces it)"));
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);
  EXPECT_EQ(beside(out), "");
}

// Where the file system has no unnamed files, the archive is written under a
// hidden name beside OUT, which becomes OUT (replacing it only with
// --overwrite) and is gone after a failure.
TEST_F(ExportTest, WithoutUnnamedFilesTheArchiveIsNamedOnceComplete) {
  std::string uuid = run_script("busybox", "echo changed > /etc/motd");
  std::string out = dir_ + "/named.tar";
  auto without_tmpfile = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = crt_argv(args);
    argv.insert(argv.begin(), NO_TMPFILE_BIN);
    return run(argv);
  };
  Result r = without_tmpfile({"export", uuid, out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);
  EXPECT_EQ(beside(out), "");
  // OUT exists: kept, and the hidden file goes.
  std::ofstream(out) << "precious";
  r = without_tmpfile({"export", uuid, out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("exists (--overwrite replaces it)"));
  EXPECT_EQ(read_file(out), "precious");
  EXPECT_EQ(beside(out), "");
  r = without_tmpfile({"export", "--overwrite", uuid, out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + out}).status, 0);
  EXPECT_EQ(beside(out), "");
}

// What the app made cannot turn into OCI's whiteouts: a file named
// ".wh.…" is refused, and user.overlay.* is the file's own (crt's overlays
// use trusted.overlay.*), not a mark of an opaque directory.
TEST_F(ExportTest, NothingTheAppMadeBecomesAWhiteout) {
  std::string uuid = run_script("busybox", "touch /tmp/.wh.etc");
  std::string out = dir_ + "/wh.tar";
  Result r = crt({"export", uuid, out});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("tmp/.wh.etc' is named like an OCI whiteout"));
  EXPECT_FALSE(std::filesystem::exists(out));

  uuid = run_script("busybox", "mkdir -p /d && echo kept > /d/new");
  std::string d = app_upper(uuid, "busybox") + "/d";
  ASSERT_EQ(::setxattr(d.c_str(), "user.overlay.opaque", "y", 1, 0), 0) << std::strerror(errno);
  r = crt({"export", uuid, out});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string listing = top_layer_listing(out);
  EXPECT_THAT(listing, HasSubstr("d/new\n"));
  EXPECT_THAT(listing, Not(HasSubstr(".wh.")));
}

// An OUT that cannot be made is a clear error (said before any layer is
// built), and leaves nothing.
TEST_F(ExportTest, ASocketTheAppMadeIsLeftOut) {
  std::string uuid = run_script("busybox", "mkdir /run/app && echo changed > /etc/motd");
  make_socket(app_upper(uuid, "busybox") + "/run/app/control.sock");
  std::string out = dir_ + "/out.tar";
  Result r = crt({"export", uuid, out});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string listing = top_layer_listing(out);
  EXPECT_THAT(listing, HasSubstr("etc/motd"));
  EXPECT_THAT(listing, HasSubstr("run/app/"));
  EXPECT_THAT(listing, Not(HasSubstr("control.sock")));
}

TEST_F(ExportTest, OnlyARegularFileIsReplaced) {
  std::string uuid = run_script("busybox", "echo changed > /etc/motd");
  namespace fs = std::filesystem;
  std::string fifo = dir_ + "/fifo", dev = dir_ + "/full", link = dir_ + "/link", target = dir_ + "/target",
              sub = dir_ + "/sub";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  ASSERT_EQ(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 7)), 0);
  std::ofstream(target) << "precious";
  fs::create_symlink(target, link);
  fs::create_directory(sub);
  struct Case {
    std::string out, kind;
  };
  for (const Case& c : {Case{fifo, "a FIFO"}, Case{dev, "a character device"}, Case{link, "a symbolic link"},
                        Case{sub, "a directory"}}) {
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"export", "--overwrite", uuid, c.out},
          std::vector<std::string>{"image", "export", "--overwrite", "busybox", c.out},
          std::vector<std::string>{"image", "export", "busybox", c.out}}) {
      SCOPED_TRACE(cmd[0] + " " + cmd[1] + " to " + c.kind);
      Result r = crt(cmd);
      EXPECT_EQ(r.status, 254);
      EXPECT_THAT(r.err, HasSubstr("is " + c.kind + ": an archive replaces only a regular file")) << r.err;
    }
  }
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(::lstat(dev.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_file(target), "precious");
  EXPECT_TRUE(fs::is_empty(sub));
  for (const auto& e : fs::directory_iterator(dir_ + "/store/tmp")) ADD_FAILURE() << "left behind: " << e.path();

  // crt image export keeps a file that is there unless told to replace it,
  // as crt export does.
  Result r = crt({"image", "export", "busybox", target});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("exists (--overwrite replaces it)")) << r.err;
  EXPECT_EQ(read_file(target), "precious");
  r = crt({"image", "export", "--overwrite", "busybox", target});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run({"skopeo", "inspect", "oci-archive:" + target}).status, 0);
}

TEST_F(ExportTest, AnOutInADirectoryThatIsNotThereIsAClearError) {
  std::string uuid = run_script("busybox", "echo changed > /etc/motd");
  for (bool unnamed : {true, false}) {
    SCOPED_TRACE(unnamed ? "O_TMPFILE" : "no O_TMPFILE");
    std::vector<std::string> argv = crt_argv({"export", uuid, dir_ + "/nowhere/out.tar"});
    if (!unnamed) argv.insert(argv.begin(), NO_TMPFILE_BIN);
    Result r = run(argv);
    EXPECT_EQ(r.status, 254);
    EXPECT_THAT(r.err, HasSubstr("nowhere")) << r.err;
    EXPECT_THAT(r.err, HasSubstr("No such file or directory")) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/nowhere"));
    for (const auto& e : std::filesystem::directory_iterator(dir_ + "/store/tmp"))
      ADD_FAILURE() << "left behind: " << e.path();
  }
}

}  // namespace
}  // namespace crt::test
