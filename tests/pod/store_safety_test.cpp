// The store as root: what a layer may and may not do to the host, owners,
// modes, xattrs and devices kept; kill -9 mid-import, a full disk, a
// read-only store; rm --force and gc beside running pods and beside a pod
// whose pod.json cannot be read; formats through skopeo.

#include <fcntl.h>
#include <signal.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "../support/blob_damage.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/json_text.hpp"
#include "common/lock.hpp"
#include "registry_fixture.hpp"
#include "store/byte_source.hpp"
#include "store/layer_extract.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
namespace stdfs = std::filesystem;
using nlohmann::json;

class StoreSafety : public RegistryTest {
 protected:
  /// Unpacks a layer made of `entries` into dir_/tree with the store's code.
  void extract(const std::vector<LayerEntry>& entries, const std::string& dest = "tree") {
    std::ofstream(dir_ + "/layer", std::ios::binary) << make_layer(entries);
    store::FileSource src(dir_ + "/layer");
    store::extract_layer(src, dir_ + "/" + dest, {});
  }
  struct stat stat_of(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat((dir_ + "/tree/" + rel).c_str(), &st), 0) << rel;
    return st;
  }
};

TEST_F(StoreSafety, OwnersModesTimesXattrsAndDevicesAreKept) {
  LayerEntry tool = file("bin/ping", "ELF", 04755);
  tool.uid = 1234;
  tool.gid = 5678;
  tool.mtime = 1500000000;
  // cap_net_raw+ep as getcap shows it: a VFS_CAP_REVISION_2 blob.
  std::string cap("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  tool.xattrs["security.capability"] = cap;
  tool.xattrs["user.note"] = "kept";
  LayerEntry null;
  null.type = LayerEntry::Type::kChar;
  null.path = "dev/null";
  null.major = 1;
  null.minor = 3;
  null.mode = 0666;
  LayerEntry loop;
  loop.type = LayerEntry::Type::kBlock;
  loop.path = "dev/loop9";
  loop.major = 7;
  loop.minor = 9;
  LayerEntry fifo;
  fifo.type = LayerEntry::Type::kFifo;
  fifo.path = "run/fifo";
  LayerEntry sticky = dir("tmp", 01777);
  sticky.mtime = 1400000000;
  extract({tool, null, loop, fifo, sticky, dir("dev"), dir("run")});

  struct stat st = stat_of("bin/ping");
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 04755u) << "setuid survives the chown";
  EXPECT_EQ(st.st_mtime, 1500000000);
  char buf[64];
  ssize_t n = ::lgetxattr((dir_ + "/tree/bin/ping").c_str(), "security.capability", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), cap);
  n = ::lgetxattr((dir_ + "/tree/bin/ping").c_str(), "user.note", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), "kept");
  st = stat_of("dev/null");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_TRUE(S_ISBLK(stat_of("dev/loop9").st_mode));
  EXPECT_TRUE(S_ISFIFO(stat_of("run/fifo").st_mode));
  st = stat_of("tmp");
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_EQ(st.st_mtime, 1400000000) << "directory times are set after their content";
}

// An xattr the store's file system keeps none of is left out, as
// containerd does, rather than failing the whole image.
TEST_F(StoreSafety, AnXattrTheFileSystemCannotKeepIsLeftOut) {
  LayerEntry f = file("etc/conf", "x");
  f.xattrs["system.crt-unknown"] = "1";  // a namespace no file system has
  f.xattrs["user.note"] = "kept";
  extract({dir("etc"), f});
  char buf[16];
  ssize_t n = ::lgetxattr((dir_ + "/tree/etc/conf").c_str(), "user.note", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), "kept");
}

TEST_F(StoreSafety, NothingIsWrittenOutsideTheTree) {
  stdfs::create_directories(dir_ + "/outside");
  std::ofstream(dir_ + "/outside/victim") << "untouched";
  std::vector<std::vector<LayerEntry>> hostile = {
      {file("../outside/evil", "x")},
      {symlink("link", dir_ + "/outside"), file("link/evil", "x")},
      {symlink("link", "../outside"), file("link/victim", "pwned")},
      {dir("a"), symlink("a/up", ".."), symlink("b", "a/up/../../outside"), file("b/evil", "x")},
      {hardlink("h", dir_ + "/outside/victim")},
      {hardlink("h", "../outside/victim")},
      {symlink("l", dir_ + "/outside"), hardlink("h", "l/victim")},
      {symlink("l", dir_ + "/outside"), file("l/.wh.victim", "")},
      {symlink("l", dir_ + "/outside"), file("l/.wh..wh..opq", "")},
      {file("a/.wh...", "")},
  };
  int i = 0;
  for (const auto& layer : hostile) {
    std::string dest = "t" + std::to_string(i++);
    EXPECT_THROW(extract(layer, dest), crt::Error) << dest;
    EXPECT_EQ(read_file(dir_ + "/outside/victim"), "untouched") << dest;
    EXPECT_EQ(stdfs::hard_link_count(dir_ + "/outside/victim"), 1u) << dest;
    EXPECT_FALSE(stdfs::exists(dir_ + "/outside/evil")) << dest;
    EXPECT_FALSE(stdfs::exists(dir_ + "/evil")) << dest;
    char v[4];
    EXPECT_LT(::getxattr((dir_ + "/outside").c_str(), "trusted.overlay.opaque", v, sizeof v), 0) << dest;
  }
  // An absolute entry is the tree's, as tar takes it.
  extract({file(dir_ + "/outside/evil", "x")}, "absolute");
  EXPECT_FALSE(stdfs::exists(dir_ + "/outside/evil"));
  EXPECT_EQ(read_file(dir_ + "/absolute/" + dir_ + "/outside/evil"), "x");
  // A layer may not set overlayfs' own attributes.
  LayerEntry d = dir("sneaky");
  d.xattrs["trusted.overlay.opaque"] = "y";
  d.xattrs["user.fine"] = "1";
  extract({d});
  char v[4];
  EXPECT_LT(::getxattr((dir_ + "/tree/sneaky").c_str(), "trusted.overlay.opaque", v, sizeof v), 0);
  EXPECT_EQ(::getxattr((dir_ + "/tree/sneaky").c_str(), "user.fine", v, sizeof v), 1);
}

/// An OCI layout with one big layer (many files), for interrupting imports.
std::string big_layout(const std::string& dir) {
  std::mt19937 gen(7);
  std::vector<LayerEntry> files;
  for (int i = 0; i < 400; ++i) {
    std::string data(64 << 10, '\0');
    for (auto& c : data) c = static_cast<char>(gen());
    files.push_back(file("data/f" + std::to_string(i), data));
  }
  OciLayout lay(dir);
  lay.write_index({{lay.add_image({make_layer(files, Compression::kNone)}), "v1"}});
  return dir;
}

TEST_F(StoreSafety, KillDuringAnImportLeavesNoHalfTreeAndTheNextImportCompletes) {
  std::string lay = big_layout(dir_ + "/big");
  for (int delay_ms : {5, 30, 60, 120}) {
    Process p(crt_argv({"image", "import", "-q", lay, "big:1"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    p.signal(SIGKILL);
    p.wait();
    for (const auto& t : store_entries("trees")) {
      // A tree that is visible is complete.
      size_t n = 0;
      for (auto it = stdfs::directory_iterator(dir_ + "/store/trees/" + t + "/data"); it != stdfs::directory_iterator(); ++it) ++n;
      EXPECT_EQ(n, 400u) << delay_ms;
    }
  }
  Result r = crt({"image", "import", "-q", lay, "big:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(store_entries("trees").size(), 1u);
  EXPECT_EQ(store_entries("tmp"), std::vector<std::string>{}) << "abandoned work is cleared";
}

TEST_F(StoreSafety, AFullDiskAndAReadOnlyStoreAreClearErrors) {
  std::string small = dir_ + "/small";
  stdfs::create_directories(small);
  std::string lay = big_layout(dir_ + "/big");
  std::string app = layout("app", {});
  // A small tmpfs in a mount namespace of its own, so that no other process
  // on the machine ever sees it; root's alone (mode=), as crt wants its
  // state directory (a tmpfs is 1777 else).
  std::string crt = crt_bin_ + " --dir=" + small + " image import ";
  std::string script = "mount -t tmpfs -o size=4m,mode=0700 tmpfs " + small + " || exit 100\n" + crt + lay +
                       " big:1 2>" + dir_ + "/full.err; echo $? >" + dir_ + "/full.rc\n" + "ls -A " + small +
                       "/store/trees >" + dir_ + "/left; ls -A " + small + "/store/tmp >>" + dir_ + "/left; ls -A " +
                       small + "/store/locks >>" + dir_ + "/left\n" + "mount -o remount,ro " + small +
                       " || exit 101\n" + crt + app + " app:1 2>" + dir_ + "/ro.err; echo $? >" + dir_ + "/ro.rc\n";
  Result r = run({"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(dir_ + "/full.rc"), "254\n");
  std::string err = read_file(dir_ + "/full.err");
  EXPECT_THAT(err, HasSubstr("No space left on device"));
  EXPECT_THAT(err, ::testing::StartsWith("crt: importing '" + lay + "' (oci): image 'big:1': layer 1"));
  EXPECT_EQ(read_file(dir_ + "/left"), "") << "no tree, no lock file: a failed import cleans up after itself";
  EXPECT_EQ(read_file(dir_ + "/ro.rc"), "254\n");
  EXPECT_THAT(read_file(dir_ + "/ro.err"), HasSubstr("Read-only file system"));
}

/// A ustar header of a regular file `name` (< 100 bytes) of `size` bytes.
std::string tar_header(const std::string& name, uint64_t size) {
  std::string h(512, '\0');
  auto put = [&h](size_t at, const std::string& v) { h.replace(at, v.size(), v); };
  char octal[16];
  put(0, name);
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  std::snprintf(octal, sizeof octal, "%011llo", static_cast<unsigned long long>(size));
  put(124, octal);
  put(136, "00000000000");
  put(148, "        ");
  h[156] = '0';
  put(257, "ustar");
  put(263, "00");
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(octal, sizeof octal, "%06o", sum);
  put(148, octal);
  return h;
}

/// `data` compressed by the command-line tool `tool` (gzip: gzip(), zstd,
/// xz, bzip2, lz4) as one stream. Streams written one after another are
/// one stream of that format, as libarchive reads it.
std::string compressed(const std::string& tool, const std::string& data, const std::string& scratch) {
  if (tool == "gzip") return gzip(data);
  std::ofstream(scratch, std::ios::binary | std::ios::trunc) << data;
  Result r = run({"sh", "-c", tool + " -c '" + scratch + "' > '" + scratch + "." + tool + "'"});
  EXPECT_EQ(r.status, 0) << tool << ": " << r.err;
  return read_file(scratch + "." + tool);
}

/// A tarball of one file of 2 GiB of zeros compressed by `tool` a MiB at a
/// time: a few MB.
std::string bomb_of(const std::string& tool, const std::string& scratch) {
  std::string bomb = compressed(tool, tar_header("zero", 2ull << 30), scratch);
  std::string mib = compressed(tool, std::string(1 << 20, '\0'), scratch);
  for (int i = 0; i < 2048; ++i) bomb += mib;
  return bomb + compressed(tool, std::string(1024, '\0'), scratch);  // the end of the archive
}

// A layer that unpacks to more than the store's file system holds (a
// "bomb": 2 GiB of zeros in a few MB) is stopped while there is room left,
// whatever compresses it (gzip, zstd, xz, bzip2, lz4: any a rootfs tarball
// may have; gzip and zstd: those of an OCI image's layer), with an error
// that says so (not "No space left on device", once the disk is full); the
// import is rolled back, and the store keeps what it had.
TEST_F(StoreSafety, ALayerThatUnpacksToMoreThanTheDiskHoldsStopsBeforeItIsFull) {
  const std::vector<std::string> tarballs = {"gzip", "zstd", "xz", "bzip2", "lz4"};
  const std::vector<std::string> layers = {"gzip", "zstd"};
  for (const auto& tool : tarballs) {
    std::string bomb = bomb_of(tool, dir_ + "/scratch");
    std::ofstream(dir_ + "/bomb.tar." + tool, std::ios::binary) << bomb;
    if (std::find(layers.begin(), layers.end(), tool) == layers.end()) continue;
    // The same as an OCI image's layer; its diff_id is never reached.
    OciLayout lay(dir_ + "/bomb-" + tool);
    std::string layer = lay.add_blob(bomb);
    json config = {{"architecture", host_arch()},
                   {"os", "linux"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + std::string(64, '0')}}}}};
    std::string config_text = config.dump();
    std::string media_type =
        tool == "gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar+zstd";
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"config",
                      {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                       {"digest", lay.add_blob(config_text)},
                       {"size", config_text.size()}}},
                     {"layers", {{{"mediaType", media_type}, {"digest", layer}, {"size", bomb.size()}}}}};
    std::string manifest_text = manifest.dump();
    lay.write_index({{{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                       {"digest", lay.add_blob(manifest_text)},
                       {"size", manifest_text.size()}},
                      "v1"}});
  }
  std::string app = layout("app", {});
  std::string small = dir_ + "/small";
  stdfs::create_directories(small);
  // A 64 MiB tmpfs in a mount namespace of its own (see above), holding an
  // image before the bombs come.
  std::string crt = crt_bin_ + " --dir=" + small + " image ";
  std::string out = dir_ + "/out";
  std::vector<std::string> lines = {"mount -t tmpfs -o size=64m,mode=0700 tmpfs " + small + " || exit 100",
                                    crt + "import " + app + " app:1 || exit 101",
                                    "stat -f -c %a " + small + " >" + out + ".before",
                                    "stat -f -c %a " + small + " >" + out + ".after",
                                    "ls -A " + small + "/store/tmp >" + out + ".left",
                                    "ls " + small + "/store/locks | wc -l >>" + out + ".left",
                                    "ls " + small + "/store/trees | wc -l >>" + out + ".left",
                                    "ls " + small + "/store/blobs/sha256 | wc -l >>" + out + ".left",
                                    crt + "list --format=json >" + out + ".list"};
  // Each bomb after the other: each must leave the room it took.
  auto at = lines.begin() + 3;
  for (const auto& tool : tarballs) {
    at = lines.insert(at, crt + "import " + dir_ + "/bomb.tar." + tool + " tarball 2>" + out + ".tarball-" + tool +
                              "; echo $? >>" + out + ".tarball-" + tool) +
         1;
    if (std::find(layers.begin(), layers.end(), tool) != layers.end())
      at = lines.insert(at, crt + "import " + dir_ + "/bomb-" + tool + " 2>" + out + ".layer-" + tool + "; echo $? >>" +
                                out + ".layer-" + tool) +
           1;
  }
  std::string script;
  for (const auto& l : lines) script += l + "\n";
  Result r = run({"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> outs;
  for (const auto& tool : tarballs) {
    outs.push_back("tarball-" + tool);
    EXPECT_THAT(read_file(out + ".tarball-" + tool),
                ::testing::StartsWith("crt: importing '" + dir_ + "/bomb.tar." + tool + "' as "));
  }
  for (const auto& tool : layers) {
    outs.push_back("layer-" + tool);
    EXPECT_THAT(read_file(out + ".layer-" + tool),
                ::testing::StartsWith("crt: importing '" + dir_ + "/bomb-" + tool + "' (oci): image "));
  }
  for (const auto& what : outs) {
    std::string err = read_file(out + "." + what);
    EXPECT_THAT(err, HasSubstr("layer entry 'zero': unpacking stopped with ")) << what;
    EXPECT_THAT(err, HasSubstr(" of the store's file system, less than the 16.8 MB crt keeps free (1% of it, from 16 "
                               "to 256 MiB): the layer unpacks to more than there is room for\n254\n"))
        << what;
  }
  // Nothing in tmp; app:1's layer lock (kept for gc), tree, and config,
  // manifest and layer blobs: nothing more.
  EXPECT_EQ(read_file(out + ".left"), "1\n1\n3\n") << "nothing left of the bombs";
  EXPECT_EQ(read_file(out + ".after"), read_file(out + ".before")) << "the room the bombs took is free again";
  json list = json_text::parse(read_file(out + ".list"));
  std::set<std::string> names;
  for (const auto& im : list) names.insert(im["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"app", "busybox"})) << "app:1 and the built-in image image list adds";
}

// Removing images is what frees a full disk: crt image rm works there (the
// rewrite of the index needs room, which the store keeps for it), and again
// when the disk fills once more.
TEST_F(StoreSafety, ImagesAreRemovedFromAFullDisk) {
  std::string small = dir_ + "/small";
  stdfs::create_directories(small);
  for (std::string n : {"1", "2"}) {
    stdfs::create_directories(dir_ + "/root" + n + "/bin");
    stdfs::copy_file("/bin/busybox", dir_ + "/root" + n + "/bin/busybox");
    std::ofstream(dir_ + "/root" + n + "/mark") << n;
  }
  std::string crt = crt_bin_ + " --dir=" + small + " image ";
  std::string out = dir_ + "/out";
  // A small tmpfs in a mount namespace of its own, as above.
  std::string script =
      "mount -t tmpfs -o size=16m,mode=0700 tmpfs " + small + " || exit 100\n" + crt + "import -q " + dir_ +
      "/root1 app:1 >/dev/null && " + crt + "import -q " + dir_ + "/root2 app:2 >/dev/null || exit 101\n" +
      // As a store an older crt made, which had no reserve: the
      // next crt command that takes the store whole makes it.
      "rm " + small + "/store/reserve || exit 102\n" + crt + "gc >/dev/null || exit 103\n" +
      "for n in 1 2; do\n  dd if=/dev/zero of=" + small + "/fill$n bs=4k 2>/dev/null\n  " + crt + "rm app:$n >" + out +
      "$n 2>&1; echo $? >>" + out + "$n\ndone\n" + "ls -A " + small + "/store/trees >" + dir_ + "/left; ls -A " +
      small + "/store/tmp >>" + dir_ + "/left\ncp " + small + "/store/index.json " + dir_ + "/index.json\n";
  Result r = run({"unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(out + "1"), "removed app:1\n0\n");
  EXPECT_EQ(read_file(out + "2"), "removed app:2\n0\n");
  EXPECT_EQ(read_file(dir_ + "/left"), "") << "no tree is left, nor any work";
  EXPECT_EQ(json_text::parse(read_file(dir_ + "/index.json"))["images"], json::array());
}

// What interrupted work left that cannot be removed (someone mounted
// something in it) is an error of its own: the rest is still removed and
// counted, and the next gc, once the mount is gone, removes it.
TEST_F(StoreSafety, GcReportsWhatItRemovedBesideWhatItCouldNot) {
  ASSERT_EQ(crt({"image", "list"}).status, 0);
  std::string tmp = dir_ + "/store/tmp";
  stdfs::create_directories(tmp + "/rm-0001.abcdef/a");
  std::ofstream(tmp + "/rm-0001.abcdef/a/file") << "left by a killed image rm\n";
  stdfs::create_directories(tmp + "/rm-0002.abcdef/busy");
  ASSERT_EQ(::mount("tmpfs", (tmp + "/rm-0002.abcdef/busy").c_str(), "tmpfs", 0, nullptr), 0);
  Result r = crt({"image", "gc"});
  ::umount2((tmp + "/rm-0002.abcdef/busy").c_str(), MNT_DETACH);
  EXPECT_EQ(r.status, 254) << r.err;
  EXPECT_THAT(r.out, HasSubstr("and 1 leftover of interrupted work")) << r.out;
  EXPECT_THAT(r.err, HasSubstr("rm-0002.abcdef")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("(will try again at the next 'crt image gc')")) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp + "/rm-0001.abcdef"));
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("and 1 leftover of interrupted work")) << r.out;
  EXPECT_EQ(store_entries("tmp"), std::vector<std::string>{});
}

// An import of several images that fails at the second takes out what it
// stored for the first: nothing of it is left for a gc.
TEST_F(StoreSafety, AFailedImportOfSeveralImagesLeavesNothingBehind) {
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> trees = sorted(store_entries("trees"));
  std::vector<std::string> blobs = sorted(store_entries("blobs/sha256"));
  OciLayout lay(dir_ + "/two");
  std::string good = make_layer({file("good", "g\n")}, Compression::kNone);
  std::string bad = make_layer({file("bad", "b\n")}, Compression::kNone);
  lay.write_index({{lay.add_image({good}), "good:1"}, {lay.add_image({bad}), "bad:1"}});
  // The second image's layer blob damaged in the layout: same size, another digest.
  std::ofstream(lay.dir() / "blobs" / "sha256" / digest_of(bad).substr(7), std::ios::binary | std::ios::trunc)
      << with_a_byte_flipped(bad);
  Result r = crt({"image", "import", "-q", lay.dir().string()});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("image 'bad:1': layer 1")) << r.err;
  EXPECT_EQ(sorted(store_entries("trees")), trees);
  EXPECT_EQ(sorted(store_entries("blobs/sha256")), blobs);
  EXPECT_EQ(store_entries("tmp"), std::vector<std::string>{});
  EXPECT_THAT(crt({"image", "list"}).out, ::testing::Not(HasSubstr("good")));
}

// An image whose configuration crt cannot read (a field of another type)
// could not run; stored and named, it took its name from the image that
// could, and an image prune then removed that one.
TEST_F(StoreSafety, AnImageCrtCannotReadTakesNoNameAndLeavesNothing) {
  import_stage1_and_busybox();
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  OciLayout good(dir_ + "/good");
  good.write_index({{good.add_image({busybox_layer()}, {{"Cmd", {"/bin/echo", "good"}}}), "web:prod"}});
  ASSERT_EQ(crt({"image", "import", "-q", good.dir().string()}).status, 0);
  std::string images = crt({"image", "list"}).out;
  std::vector<std::string> trees = sorted(store_entries("trees"));
  std::vector<std::string> blobs = sorted(store_entries("blobs/sha256"));
  std::string layer = make_layer({file("new", "n\n")}, Compression::kNone);
  for (const auto& [config, error] : std::vector<std::pair<json, std::string>>{
           {{{"Labels", {{"version", 2}}}}, "invalid image configuration: config.Labels: type must be string"},
           {{{"Env", "A=1"}}, "invalid image configuration: config.Env: type must be array"},
           {{{"User", 0}}, "invalid image configuration: config.User: type must be string"}}) {
    OciLayout bad(dir_ + "/bad");
    bad.write_index({{bad.add_image({busybox_layer(), layer}, config), "web:prod"},
                     {bad.add_image({layer}, {{"Cmd", {"/new"}}}), "other:1"}});
    Result r = crt({"image", "import", "-q", bad.dir().string()});
    EXPECT_EQ(r.status, 254) << config.dump();
    EXPECT_THAT(r.err, HasSubstr(error)) << r.err;
    stdfs::remove_all(dir_ + "/bad");
  }
  // "created" a number: a clear error, not an internal one.
  OciLayout bad(dir_ + "/bad");
  json manifest = bad.add_image({layer});
  json config = json::parse(read_file((bad.dir() / "blobs" / "sha256" / bad.last_config().substr(7)).string()));
  config["created"] = 12345;
  json m = json::parse(
      read_file((bad.dir() / "blobs" / "sha256" / manifest["digest"].get<std::string>().substr(7)).string()));
  std::string config_text = config.dump();
  m["config"]["digest"] = bad.add_blob(config_text);
  m["config"]["size"] = config_text.size();
  std::string manifest_text = m.dump();
  manifest["digest"] = bad.add_blob(manifest_text);
  manifest["size"] = manifest_text.size();
  bad.write_index({{manifest, "web:prod"}});
  Result r = crt({"image", "import", "-q", bad.dir().string()});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("invalid image configuration: \"created\" is not a date")) << r.err;
  EXPECT_EQ(crt({"image", "list"}).out, images);
  EXPECT_EQ(sorted(store_entries("trees")), trees);
  EXPECT_EQ(sorted(store_entries("blobs/sha256")), blobs);
  r = crt({"run", "--net=none", "web:prod"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "good\n");
}

// The image named crt-stage1:HASH is what every later pod boots as its
// systemd: an archive that names its image so (a layout's ref.name, a
// docker-archive's RepoTags), or a rootfs import given that name, would
// replace the stage1 of every pod of the store.
TEST_F(StoreSafety, NoImportTakesTheStage1sName) {
  import_stage1_and_busybox();
  std::string stage1;
  for (const auto& im : json::parse(crt({"image", "list", "--format=json"}).out))
    if (im["name"] == "crt-stage1") stage1 = "crt-stage1:" + im["tag"].get<std::string>();
  ASSERT_FALSE(stage1.empty());
  std::string before = crt({"image", "list"}).out;
  OciLayout lay(dir_ + "/evil");
  lay.write_index(
      {{lay.add_image({busybox_layer(), make_layer({file("usr/lib/systemd/systemd", "#!/bin/sh\n", 0755)})}), stage1}});
  Result r = crt({"image", "import", "-q", lay.dir().string()});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("the image would be named '" + stage1 + "', a name crt keeps for its stage1 images"))
      << r.err;
  stdfs::create_directories(dir_ + "/rootfs");
  r = crt({"image", "import", dir_ + "/rootfs", "crt-stage1:mine", "--cmd=/x"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("the image would be named 'crt-stage1:mine', a name crt keeps")) << r.err;
  EXPECT_EQ(crt({"image", "list"}).out, before);
  EXPECT_EQ(store_entries("tmp"), std::vector<std::string>{});
  r = crt({"run", "--net=none", "busybox", "--", "/bin/echo", "real"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "real\n");
}

// A store an older crt kept may hold another image under the stage1's name
// (no import was refused it then): a pod boots the stage1 crt imports from
// its stage1.tar all the same, and says what it found.
TEST_F(StoreSafety, AnImageAnOlderCrtLetInUnderTheStage1sNameIsNotBooted) {
  import_stage1_and_busybox();
  ASSERT_EQ(
      crt({"image", "import", "-q", layout("foreign", {make_layer({file("sbin/init", "#!/bin/sh\n", 0755)})})}).status,
      0);
  // As an older crt's import left it: the name taken from the stage1 crt
  // imported, which that crt recorded nothing of.
  std::string index_path = dir_ + "/store/index.json";
  json index = json::parse(read_file(index_path));
  std::string stage1, stage1_id, foreign_id;
  for (auto& im : index["images"]) {
    im.erase("stage1_source");
    for (const auto& n : im["names"])
      if (n.get<std::string>().starts_with("crt-stage1:")) {
        stage1 = n;
        stage1_id = im["id"];
      } else if (n == "foreign:v1") {
        foreign_id = im["id"];
      }
  }
  ASSERT_FALSE(stage1.empty());
  ASSERT_FALSE(foreign_id.empty());
  for (auto& im : index["images"]) {
    if (im["id"] == stage1_id) im["names"] = json::array();
    if (im["id"] == foreign_id) im["names"] = {stage1};
  }
  std::ofstream(index_path, std::ios::trunc) << index.dump(2);

  Result r = crt({"run", "--net=none", "busybox", "--", "/bin/echo", "real"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "real\n");
  EXPECT_THAT(r.err, HasSubstr("warning: image " + foreign_id + ", which the store had under '" + stage1 +
                               "', the name of the stage1 in '"))
      << r.err;
  std::string named;
  json after = json::parse(read_file(index_path));
  for (const auto& im : after["images"])
    for (const auto& n : im["names"])
      if (n == stage1) named = im["id"];
  EXPECT_EQ(named, stage1_id);
  r = crt({"run", "--net=none", "busybox", "--", "/bin/echo", "again"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("is not that stage1"))) << r.err;
}

TEST_F(StoreSafety, RmForceKeepsAPodsLayersUntilThePodIsRemoved) {
  ASSERT_EQ(crt({"image", "import", "-q", layout("app", {make_layer({file("mark", "m\n")})}), "app:1"}).status, 0);
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--uuid-file-save=" + file, "app:1", "--", "/bin/sleep", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_GT(wait_app_pid(uuid, "app"), 0);
  Result r = crt({"image", "rm", "app:1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is used by pod " + uuid + " (running); stop it, then remove it with 'crt rm " + uuid +
                               "' (or use --force)"));
  r = crt({"image", "rm", "--force", "app:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  size_t trees = store_entries("trees").size();
  EXPECT_EQ(trees, 3u) << "stage1, busybox and the mark layer stay while the pod runs";
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(store_entries("trees").size(), trees) << "gc leaves a running pod's layers";
  p.signal(SIGTERM);
  p.wait();
  r = crt({"image", "gc"});
  EXPECT_THAT(r.out, HasSubstr("removed 0 layers"));
  EXPECT_EQ(store_entries("trees").size(), trees) << "gc leaves an exited pod's layers";
  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  r = crt({"image", "gc"});
  EXPECT_THAT(r.out, HasSubstr("removed 2 layers"));
  EXPECT_EQ(store_entries("trees").size(), 1u) << "only stage1 is left";
}

// A removal cut short (crt gc stopped with the system; here a file it
// cannot remove) leaves the pod with its pod.json, the last file to go: the
// images it uses are known, and others can still be removed.
TEST_F(StoreSafety, APodWhoseRemovalWasCutShortStillSaysWhichImagesItUses) {
  ASSERT_EQ(crt({"image", "import", "-q", layout("other", {make_layer({file("o", "o\n")})}), "other:1"}).status, 0);
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--net=none", "--uuid-file-save=" + file, "busybox", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = wait_uuid(file);
  ASSERT_TRUE(stdfs::create_directory(pod_dir(uuid) + "/zz"));
  auto set_immutable = [](const std::string& path, bool on) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644));
    int flags = 0;
    if (!fd || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) < 0) return false;
    flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
    return ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) == 0;
  };
  if (!set_immutable(pod_dir(uuid) + "/zz/kept", true)) GTEST_SKIP() << "no immutable files here";
  r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("zz/kept': Operation not permitted")) << r.err;
  std::string garbage = dir_ + "/pods/exited-garbage/" + uuid;
  EXPECT_TRUE(stdfs::exists(garbage + "/pod.json"));
  EXPECT_THAT(crt({"list"}).out, ::testing::ContainsRegex(uuid.substr(0, 8) + ".*busybox"));
  r = crt({"image", "rm", "other:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  r = crt({"image", "rm", "busybox"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("is used by pod " + uuid)) << r.err;
  ASSERT_TRUE(set_immutable(garbage + "/zz/kept", false));
  r = crt({"rm", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(stdfs::exists(garbage));
}

// An exited pod whose pod.json cannot be read may use any layer: image gc
// keeps every layer (and still removes the rest), image rm --force removes
// the image but keeps its layers, and both say why, until the pod goes.
TEST_F(StoreSafety, APodWhoseManifestCannotBeReadKeepsEveryLayerUntilItIsRemoved) {
  ASSERT_EQ(crt({"image", "import", "-q", layout("app", {make_layer({file("mark", "m\n")})}), "app:1"}).status, 0);
  std::string file = dir_ + "/uuid";
  Result r = crt({"run", "--uuid-file-save=" + file, "app:1", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = wait_uuid(file);
  std::string manifest = pod_dir(uuid) + "/pod.json";
  { std::ofstream(manifest, std::ios::trunc) << "{\"crt\": \"from another version"; }
  std::string pod = "pod " + uuid + " (exited)";
  std::string why = "cannot tell which images " + pod + " uses: '" + manifest + "': ";
  std::string what_to_do = "; repair that file or remove the pod with 'crt rm " + uuid + "'";

  r = crt({"image", "rm", "app:1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, ::testing::StartsWith("crt: " + why));
  EXPECT_THAT(r.err, ::testing::EndsWith(what_to_do + " (or use --force)\n"));
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> trees = sorted(store_entries("trees"));
  ASSERT_EQ(trees.size(), 3u) << "stage1, busybox and the mark layer";

  r = crt({"image", "rm", "--force", "app:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "removed app:1\n");
  EXPECT_THAT(r.err, ::testing::StartsWith("crt: warning: " + why));
  EXPECT_THAT(r.err, HasSubstr(what_to_do + "\n"));
  EXPECT_THAT(r.err, ::testing::EndsWith("\ncrt: warning: kept 2 layers of image 'app:1' that no other image uses, as "
                                         "that pod may use them; once it is repaired or removed, 'crt image gc' "
                                         "removes them\n"));
  EXPECT_EQ(sorted(store_entries("trees")), trees);

  // What no pod can use still goes: a blob no image uses, what an
  // interrupted pull left.
  std::string blob = std::string(64, 'e');
  { std::ofstream(dir_ + "/store/blobs/sha256/" + blob) << "unused"; }
  { std::ofstream(dir_ + "/store/tmp/blob-" + std::string(64, 'f') + ".partial") << "half"; }
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("removed 0 layers, 1 blob and 1 leftover of interrupted work"));
  EXPECT_THAT(r.err, ::testing::StartsWith("crt: warning: " + why));
  EXPECT_THAT(r.err,
              ::testing::EndsWith(what_to_do + "\ncrt: warning: kept 2 layers no image uses, as that pod may use them; "
                                               "once it is repaired or removed, 'crt image gc' removes them\n"));
  EXPECT_EQ(sorted(store_entries("trees")), trees);
  auto blobs = store_entries("blobs/sha256");
  EXPECT_EQ(std::count(blobs.begin(), blobs.end(), blob), 0);
  EXPECT_EQ(store_entries("tmp"), std::vector<std::string>{});

  ASSERT_EQ(crt({"rm", uuid}).status, 0);
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("removed 2 layers"));
  EXPECT_EQ(store_entries("trees").size(), 1u) << "only stage1 is left";
}

// A pod still being prepared (its directory locked by the crt making it)
// whose pod.json cannot be read: crt rm refuses it while it is locked, so
// image rm and gc say to wait for that command or stop it, not to remove
// the pod; once no crt holds it, it keeps no layer.
TEST_F(StoreSafety, APreparingPodWhoseManifestCannotBeReadIsWaitedForNotRemoved) {
  ASSERT_EQ(crt({"image", "import", "-q", layout("app", {make_layer({file("mark", "m\n")})}), "app:1"}).status, 0);
  Result r = crt({"prepare", "-q", "app:1", "--", "/bin/true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string uuid = r.out.substr(0, r.out.find('\n'));
  std::string dir = dir_ + "/pods/prepare/" + uuid;
  stdfs::rename(dir_ + "/pods/prepared/" + uuid, dir);
  std::string manifest = dir + "/pod.json";
  { std::ofstream(manifest, std::ios::trunc) << "{\"crt\": \"from another version"; }
  std::string why = "cannot tell which images pod " + uuid + " (preparing) uses: '" + manifest + "': ";
  std::string what_to_do = "; another crt is still preparing the pod: wait for that command to end, or stop it";
  {
    // What the crt preparing a pod holds (runtime::PodDir).
    FileLock making = FileLock::try_acquire(dir, FileLock::Mode::kExclusive);
    ASSERT_TRUE(making.valid());
    r = crt({"image", "rm", "app:1"});
    EXPECT_EQ(r.status, 254);
    EXPECT_THAT(r.err, ::testing::StartsWith("crt: " + why));
    EXPECT_THAT(r.err, ::testing::EndsWith(what_to_do + " (or use --force)\n"));
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr("crt rm")));
    r = crt({"image", "gc"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, ::testing::StartsWith("crt: warning: " + why));
    EXPECT_THAT(r.err, HasSubstr(what_to_do + "\n"));
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr("crt rm")));
    r = crt({"rm", uuid});
    EXPECT_NE(r.status, 0) << "crt rm refuses a pod being prepared";
    // Forced, the image goes and its layers stay until that command ends.
    r = crt({"image", "rm", "--force", "app:1"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, ::testing::EndsWith("\ncrt: warning: kept 2 layers of image 'app:1' that no other image uses, "
                                           "as that pod may use them; once the command preparing it has ended, "
                                           "'crt image gc' removes them\n"));
  }
  // The crt making it is gone: an aborted prepare, which keeps nothing.
  r = crt({"image", "gc"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("warning")));
  EXPECT_EQ(store_entries("trees").size(), 1u) << "stage1's: the layers kept for the pod go";
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

TEST_F(StoreSafety, ArchivesInAndOutThroughSkopeo) {
  std::string lay = layout("app", {make_layer({file("msg", "round trip\n")})},
                           {{"Cmd", {"/bin/cat", "/msg"}}});
  skopeo_copy("oci:" + lay + ":v1", "oci-archive:" + dir_ + "/app-oci.tar:example.org/app:v1");
  skopeo_copy("oci:" + lay + ":v1", "docker-archive:" + dir_ + "/app-docker.tar:example.org/app:docker");
  Result a = crt({"image", "import", "-q", dir_ + "/app-oci.tar"});
  ASSERT_EQ(a.status, 0) << a.err;
  Result b = crt({"image", "import", "-q", dir_ + "/app-docker.tar"});
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(crt({"run", "--uuid-file-save=" + dir_ + "/uuid", "example.org/app:v1"}).out, "round trip\n");
  EXPECT_EQ(crt({"run", "--uuid-file-save=" + dir_ + "/uuid2", "example.org/app:docker"}).out, "round trip\n");

  // Out: skopeo reads what crt exports, and gives back the same image.
  ASSERT_EQ(crt({"image", "export", "example.org/app:v1", dir_ + "/out.tar"}).status, 0);
  Result inspect = run({"skopeo", "inspect", "oci-archive:" + dir_ + "/out.tar"});
  ASSERT_EQ(inspect.status, 0) << inspect.err;
  EXPECT_EQ(crt::json_text::parse(inspect.out)["Layers"].size(), 2u);
  skopeo_copy("oci-archive:" + dir_ + "/out.tar", "oci:" + dir_ + "/back:v1");
  // The pods made of the image go first (the same image under both names).
  ASSERT_EQ(crt({"rm", wait_uuid(dir_ + "/uuid"), wait_uuid(dir_ + "/uuid2")}).status, 0);
  Result rm = crt({"image", "rm", "example.org/app:v1"});
  ASSERT_EQ(rm.status, 0) << rm.err;
  Result c = crt({"image", "import", "-q", dir_ + "/back", "again:v1"});
  EXPECT_EQ(c.out, a.out) << "the same configuration, so the same image id";
  // The built-in busybox, imported from a rootfs, exports too.
  ASSERT_EQ(crt({"run", "busybox", "--", "/bin/true"}).status, 0);
  ASSERT_EQ(crt({"image", "export", "busybox", dir_ + "/busybox.tar"}).status, 0);
  skopeo_copy("oci-archive:" + dir_ + "/busybox.tar", "oci:" + dir_ + "/bb:latest");
  EXPECT_EQ(run({"skopeo", "inspect", "oci:" + dir_ + "/bb:latest"}).status, 0);
}

class StateDirectory : public PodTest {
 protected:
  Result crt_at(const std::string& state, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {crt_bin_, "--dir=" + state};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  static constexpr uid_t kOther = 65534;
};

// A state directory another user could change (theirs, open to them, or a
// symlink of theirs in place of its store or pods) would let them lead
// root's writes anywhere: refused before crt writes in it, naming the path,
// what is wrong and how to put it right. What crt makes is root's, 0755.
TEST_F(StateDirectory, AStateDirectoryAnotherUserCouldChangeIsRefused) {
  std::string state = dir_ + "/state";
  // A command that makes the directory (image list only reads one).
  Result r = crt_at(state, {"image", "gc"});
  ASSERT_EQ(r.status, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, 0u);

  ASSERT_EQ(::chown(state.c_str(), kOther, kOther), 0);
  r = crt_at(state, {"image", "list"});
  EXPECT_EQ(r.status, 254);
  EXPECT_EQ(r.err, "crt: crt's state directory: '" + state +
                       "' is owned by uid 65534, not root: another user could make crt write where they choose, as "
                       "root (if it is crt's: chown root '" +
                       state + "'; else give another --dir)\n");
  ASSERT_EQ(::chown(state.c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(state.c_str(), 01777), 0);
  r = crt_at(state, {"list"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'" + state + "' is writable by others (mode 1777)"));
  EXPECT_THAT(r.err, HasSubstr("(chmod go-w '" + state + "')"));
  ASSERT_EQ(::chmod(state.c_str(), 0755), 0);

  // Planted by another user: the store a symlink to a directory of root's.
  std::string victim = dir_ + "/victim";
  stdfs::create_directory(victim);
  ASSERT_EQ(::chmod(victim.c_str(), 0755), 0);
  stdfs::remove_all(state + "/store");
  stdfs::create_directory_symlink(victim, state + "/store");
  ASSERT_EQ(::lchown((state + "/store").c_str(), kOther, kOther), 0);
  stdfs::create_directories(dir_ + "/rootfs/bin");
  stdfs::copy_file("/bin/busybox", dir_ + "/rootfs/bin/busybox");
  r = crt_at(state, {"image", "import", dir_ + "/rootfs", "planted:1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'" + state + "/store' is a symlink to '" + victim + "'"));
  EXPECT_TRUE(stdfs::is_empty(victim)) << "nothing was written where the symlink leads";
  ASSERT_EQ(::stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "nor its mode changed";
  stdfs::remove(state + "/store");

  // The pods, which crt rm and gc remove from.
  stdfs::create_directory_symlink(victim, state + "/pods");
  r = crt_at(state, {"gc", "--grace-period=0s"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'" + state + "/pods' is a symlink to '" + victim + "'"));
  stdfs::remove(state + "/pods");
  r = crt_at(state, {"image", "import", "-q", dir_ + "/rootfs", "fine:1"});
  EXPECT_EQ(r.status, 0) << r.err;
}

// An admin's /var/lib/crt -> /srv/crt: taken when the link is root's, and
// the state is where it leads.
TEST_F(StateDirectory, AStateDirectoryThatIsASymlinkOfRootsIsTaken) {
  std::string real = dir_ + "/real", link = dir_ + "/link";
  stdfs::create_directory(real);
  ASSERT_EQ(::chmod(real.c_str(), 0755), 0);
  stdfs::create_directory_symlink(real, link);
  Result r = crt_at(link, {"image", "list"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(stdfs::is_directory(real + "/store"));
  ASSERT_EQ(::lchown(link.c_str(), kOther, kOther), 0);
  r = crt_at(link, {"image", "list"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'" + link + "' is a symlink owned by uid 65534, not root"));
  // Commands that have no use for the state still work.
  EXPECT_EQ(crt_at(link, {"help", "image"}).status, 0);
}

}  // namespace
}  // namespace crt::test
