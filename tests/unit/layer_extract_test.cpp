#include "store/layer_extract.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>

#include "../support/oci_builder.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "store/archive_util.hpp"
#include "store/layer_view.hpp"
#include "store/whiteout.hpp"
#include "test_support.hpp"

namespace crt::store {
namespace {

namespace stdfs = std::filesystem;
using test::Compression;
using test::Scratch;
using test::stat_of;

/// A layer in memory, read through the same interface as a blob file.
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string s) : s_(std::move(s)) {}
  size_t read(void* buf, size_t n) override {
    n = std::min(n, s_.size() - pos_);
    std::memcpy(buf, s_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  [[nodiscard]] std::string describe() const override { return "'memory'"; }

 private:
  std::string s_;
  size_t pos_ = 0;
};

std::vector<test::LayerEntry> sample() {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 5);
  return {test::dir("etc"), test::file("etc/hostname", "pod\n"), test::file("bin/tool", "#!/bin/sh\n", 0755),
          test::symlink("etc/link", "/etc/hostname"), test::hardlink("bin/tool2", "bin/tool"), test::file("big", big)};
}

class ExtractLayer : public ::testing::TestWithParam<Compression> {};

TEST_P(ExtractLayer, UnpacksAndComputesBothDigests) {
  Scratch s;
  std::string blob = test::make_layer(sample(), GetParam());
  StringSource src(blob);
  LayerExpectation want{test::digest_of(blob), static_cast<int64_t>(blob.size()), test::digest_of(test::decompress(blob))};
  ExtractedLayer x = extract_layer(src, s / "t", want);
  EXPECT_EQ(x.blob_digest, want.blob_digest);
  EXPECT_EQ(x.diff_id, want.diff_id);
  EXPECT_EQ(x.blob_size, blob.size());
  EXPECT_EQ(x.size, 4u + 10u + (3u << 20));
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "hostname"), "pod\n");
  EXPECT_EQ(stdfs::read_symlink(s / "t" / "etc" / "link"), "/etc/hostname");
  EXPECT_EQ(stdfs::hard_link_count(s / "t" / "bin" / "tool"), 2u);
  EXPECT_EQ(stdfs::file_size(s / "t" / "big"), 3u << 20);
  struct stat st {};
  ASSERT_EQ(::stat((s / "t" / "etc" / "hostname").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1700000000) << "times are kept";
  const char* media = GetParam() == Compression::kGzip   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                      : GetParam() == Compression::kZstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                                         : "application/vnd.oci.image.layer.v1.tar";
  EXPECT_EQ(x.media_type, media);
}

INSTANTIATE_TEST_SUITE_P(Compressions, ExtractLayer,
                         ::testing::Values(Compression::kGzip, Compression::kZstd, Compression::kNone));

TEST(ExtractLayerChecks, WrongBlobDigestIsAnError) {
  Scratch s;
  std::string blob = test::make_layer(sample());
  StringSource src(blob);
  try {
    extract_layer(src, s / "t", {"sha256:" + std::string(64, '0'), -1, ""});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the blob's digest is " + test::digest_of(blob)), std::string::npos) << e.what();
  }
}

TEST(ExtractLayerChecks, WrongDiffIdIsAnError) {
  Scratch s;
  std::string blob = test::make_layer(sample());
  StringSource src(blob);
  try {
    extract_layer(src, s / "t", {test::digest_of(blob), -1, "sha256:" + std::string(64, '1')});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not the diff_id"), std::string::npos) << e.what();
  }
}

TEST(ExtractLayerChecks, WrongSizeIsAnError) {
  Scratch s;
  std::string blob = test::make_layer(sample());
  StringSource src(blob);
  EXPECT_THROW(extract_layer(src, s / "t", {"", static_cast<int64_t>(blob.size()) + 1, ""}), Error);
}

TEST(ExtractLayerChecks, TruncatedBlobIsAnError) {
  Scratch s;
  std::string blob = test::make_layer(sample());
  StringSource src(blob.substr(0, blob.size() / 2));
  EXPECT_THROW(extract_layer(src, s / "t", {}), Error);
}

/// A source that fails after `good` bytes, as a connection that drops.
class FailingSource : public StringSource {
 public:
  FailingSource(std::string s, size_t good) : StringSource(std::move(s)), left_(good) {}
  size_t read(void* buf, size_t n) override {
    if (left_ == 0) throw Error("the registry hung up");
    n = StringSource::read(buf, std::min(n, left_));
    left_ -= n;
    return n;
  }

 private:
  size_t left_;
};

// The source's own error comes out of libarchive's callbacks whole, for the
// first block (read as libarchive opens) and for a later one, compressed or
// not.
TEST(ExtractLayerChecks, TheSourcesErrorIsTheError) {
  for (Compression c : {Compression::kNone, Compression::kGzip}) {
    std::string blob = test::make_layer(sample(), c);
    for (size_t good : {size_t{0}, blob.size() / 2}) {
      Scratch s;
      FailingSource src(blob, good);
      try {
        extract_layer(src, s / "t", {});
        ADD_FAILURE() << "no error after " << good << " bytes";
      } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "the registry hung up") << good;
      }
    }
  }
}

TEST(ExtractLayerChecks, GarbageIsAnError) {
  Scratch s;
  StringSource src(std::string(5000, 'x'));
  EXPECT_THROW(extract_layer(src, s / "t", {}), Error);
}

TEST(ExtractLayerChecks, TheBlobIsCopiedWhileUnpacked) {
  Scratch s;
  std::string blob = test::make_layer(sample(), Compression::kZstd);
  StringSource src(blob);
  UniqueFd fd = fs::open_fd(s / "copy", O_WRONLY | O_CREAT, 0644);
  ExtractOptions opts;
  opts.copy_fd = fd.get();
  uint64_t last = 0;
  opts.on_progress = [&](uint64_t n) {
    EXPECT_GE(n, last);
    last = n;
  };
  extract_layer(src, s / "t", {}, opts);
  EXPECT_EQ(test::read_text(s / "copy"), blob);
  EXPECT_EQ(last, blob.size());
}

// A tar may hold a name twice (appended with tar -r): the later entry wins,
// also below the root, and the writer goes on in the same directory.
TEST(ExtractLayerChecks, ALaterEntryReplacesAnEarlierOneBelowTheRoot) {
  Scratch s;
  StringSource src(
      test::make_layer({test::dir("etc"), test::file("etc/f", "old\n"), test::file("etc/f", "new\n"),
                        test::file("etc/g", "g\n"), test::dir("etc/d"), test::file("etc/d", "now a file\n"),
                        test::symlink("etc/g", "f"), test::file("etc/h", "h\n")}));
  extract_layer(src, s / "t", {});
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "f"), "new\n");
  EXPECT_EQ(stdfs::read_symlink(s / "t" / "etc" / "g"), "f");
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "d"), "now a file\n");
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "h"), "h\n");
}

// An absolute entry (an old tool's) is the tree's, as docker and containerd
// take it; a hard link's absolute target too.
TEST(ExtractLayerChecks, AnAbsolutePathIsUnderTheTreesRoot) {
  Scratch s;
  StringSource src(test::make_layer({test::dir("/etc"), test::file("/etc/f", "f\n"), test::file(".//etc/g", "g\n"),
                                     test::hardlink("/etc/h", "/etc/f")}));
  extract_layer(src, s / "t", {});
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "f"), "f\n");
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "g"), "g\n");
  EXPECT_EQ(stdfs::hard_link_count(s / "t" / "etc" / "h"), 2u);
}

// "a//b" and "a/./b" are a/b, as docker and containerd take them (Go's
// filepath.Clean), a hard link's target too; ".." still leaves nothing.
TEST(ExtractLayerChecks, EmptyAndDotComponentsOfAPathAreDropped) {
  Scratch s;
  StringSource src(test::make_layer({test::dir("a//"), test::file("a//b", "b\n"), test::file("a/./c", "c\n"),
                                     test::dir("./a/./d/."), test::hardlink("a/d//e", "a/.//b")}));
  extract_layer(src, s / "t", {});
  EXPECT_EQ(test::list_dir(s / "t"), std::vector<std::string>{"a"});
  EXPECT_EQ(test::list_dir(s / "t" / "a"), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(test::read_text(s / "t" / "a" / "c"), "c\n");
  EXPECT_EQ(test::read_text(s / "t" / "a" / "d" / "e"), "b\n");
  EXPECT_EQ(stdfs::hard_link_count(s / "t" / "a" / "b"), 2u);
  int n = 0;
  for (const char* evil : {"a/./../../evil", "a//..//../evil"}) {
    StringSource bad(test::make_layer({test::dir("a"), test::file(evil, "pwned")}));
    EXPECT_THROW(extract_layer(bad, s / ("bad" + std::to_string(n++)), {}), Error) << evil;
  }
  EXPECT_FALSE(stdfs::exists(s / "evil"));
}

TEST(CleanEntryPath, OneSpellingOfEachPath) {
  EXPECT_EQ(clean_entry_path("./a//./b/"), "a/b");
  EXPECT_EQ(clean_entry_path("//etc/./passwd"), "etc/passwd");
  EXPECT_EQ(clean_entry_path("./"), "");
  EXPECT_EQ(clean_entry_path("."), "");
  EXPECT_EQ(clean_entry_path(nullptr), "");
  EXPECT_EQ(clean_entry_path("a/../b"), "a/../b") << "'..' stays, for the writer to refuse";
  EXPECT_EQ(clean_entry_path(".wh..wh..opq"), ".wh..wh..opq");
  EXPECT_EQ(clean_entry_path("a/..b/.c"), "a/..b/.c");
}

// A later entry that is no directory replaces a directory of the same name
// with all it holds, as containerd and docker do; nothing out of the tree
// is touched, through the symlinks the directory holds or otherwise.
TEST(ExtractLayerChecks, AFileOrASymlinkReplacesADirectoryThatHoldsFiles) {
  Scratch s;
  test::write_text(s / "outside" / "victim", "safe\n");
  StringSource src(test::make_layer(
      {test::dir("etc/d"), test::file("etc/d/f", "f\n"), test::dir("etc/d/sub"), test::file("etc/d/sub/g", "g\n"),
       test::symlink("etc/d/abs", (s / "outside").string()), test::symlink("etc/d/sub/rel", "../../../../outside"),
       test::file("etc/d", "now a file\n"), test::dir("lib/e/deep"), test::file("lib/e/deep/x", "x\n"),
       test::symlink("lib/e", "/usr/lib"), test::file("etc/after", "after\n")}));
  extract_layer(src, s / "t", {});
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "d"), "now a file\n");
  EXPECT_EQ(stdfs::read_symlink(s / "t" / "lib" / "e"), "/usr/lib");
  EXPECT_EQ(test::read_text(s / "t" / "etc" / "after"), "after\n");
  EXPECT_EQ(test::list_dir(s / "outside"), std::vector<std::string>{"victim"});
  EXPECT_EQ(test::read_text(s / "outside" / "victim"), "safe\n");
}

// AUFS's metadata (".wh..wh.aufs", ".wh..wh.orph/", ".wh..wh.plnk/", its
// hard links' directory) is none of the image's files, wherever it is; a
// hard link into .wh..wh.plnk still gets its content, as docker reads it.
TEST(ExtractLayerChecks, AufsMetadataIsLeftOut) {
  Scratch s;
  StringSource src(test::make_layer(
      {test::file(".wh..wh.aufs", ""), test::dir(".wh..wh.plnk", 0700), test::file(".wh..wh.plnk/260.1234", "linked\n"),
       test::dir(".wh..wh.orph"), test::file(".wh..wh.orph/x", "x\n"), test::dir("usr/bin"),
       test::hardlink("usr/bin/tool", ".wh..wh.plnk/260.1234"), test::file("a/.wh..wh.plnk/y", "y\n"),
       test::symlink("a/.wh..wh.plnk/z", "/"), test::file("a/kept", "kept\n")}));
  extract_layer(src, s / "t", {});
  EXPECT_EQ(test::list_dir(s / "t"), (std::vector<std::string>{"a", "usr"}));
  EXPECT_EQ(test::list_dir(s / "t" / "a"), std::vector<std::string>{"kept"});
  EXPECT_EQ(test::read_text(s / "t" / "usr" / "bin" / "tool"), "linked\n");
  EXPECT_EQ(stdfs::hard_link_count(s / "t" / "usr" / "bin" / "tool"), 1u);
}

TEST(ExtractLayerChecks, APathLongerThanPathMaxIsRefused) {
  // 40000 levels made crt use 1.5 GB and die of its stack's overflow.
  std::string deep;
  for (int i = 0; i < 40000; ++i) deep += "a/";
  Scratch s;
  StringSource src(test::make_layer({test::file(deep + "f", "x")}));
  try {
    extract_layer(src, s / "t", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has a path of 80001 bytes, longer than the kernel's PATH_MAX"),
              std::string::npos)
        << e.what();
  }
  // The longest a path can be is still fine.
  std::string longest;
  while (longest.size() + 4 < PATH_MAX - 1) longest += "bbb/";
  StringSource ok(test::make_layer({test::file(longest + "f", "x")}));
  EXPECT_NO_THROW(extract_layer(ok, s / "u", {}));
}

// A hard link's target is held to PATH_MAX as an entry's path is, and a
// link to itself is no file: refused in the words a rootfs tarball's are.
TEST(ExtractLayerChecks, AHardLinkToItselfOrToAPathLongerThanPathMaxIsRefused) {
  std::string deep;
  for (int i = 0; i < 3000; ++i) deep += "a/";
  struct Case {
    std::vector<test::LayerEntry> entries;
    std::string said;
  };
  std::vector<Case> cases = {
      {{test::file("f", "f"), test::hardlink("./f", "f")}, "layer entry 'f' is a hard link to itself"},
      {{test::file("f", "f"), test::hardlink("g", deep + "f")},
       "layer entry '" + deep.substr(0, 64) + "…' has a path of 6001 bytes, longer than the kernel's PATH_MAX"},
  };
  for (const auto& c : cases) {
    Scratch s;
    StringSource src(test::make_layer(c.entries));
    EXPECT_EQ(test::error_of([&] { extract_layer(src, s / "t", {}); }), c.said);
  }
}

TEST(ExtractLayerChecks, OverlayXattrsAndZeroDevicesAreRefusedOrDropped) {
  Scratch s;
  test::LayerEntry zero;
  zero.type = test::LayerEntry::Type::kChar;
  zero.path = "fake-whiteout";
  StringSource src(test::make_layer({zero}));
  try {
    extract_layer(src, s / "t", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("overlayfs would take for a whiteout"), std::string::npos) << e.what();
  }
}

// A whiteout and a directory of the same name in one layer, in either order:
// the layer deletes the lower layers' directory and makes it anew (OCI's
// delete-and-recreate), so the new one is opaque and hides what was below.
TEST(ExtractLayerChecks, AWhiteoutAndADirectoryOfTheSameNameMakeItOpaque) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts (0/0 devices) and trusted.* xattrs need root";
  Scratch s;
  StringSource lower(test::make_layer({test::file("b/old", "old\n"), test::file("c/old", "old\n")}));
  extract_layer(lower, s / "lower", {});
  StringSource upper(test::make_layer({test::file(".wh.b", ""), test::dir("b"), test::file("b/new", "new\n"),
                                       test::dir("c"), test::file("c/new", "new\n"), test::file(".wh.c", "")}));
  extract_layer(upper, s / "upper", {});
  const std::vector<stdfs::path> both = {s / "upper", s / "lower"};
  for (const std::string d : {"b", "c"}) {
    EXPECT_TRUE(is_overlay_opaque(s / "upper" / d)) << d;
    EXPECT_FALSE(exists_in_union(both, d + "/old")) << d;
    EXPECT_TRUE(exists_in_union(both, d + "/new")) << d;
  }
}

// A whiteout, then entries below the same name with no entry of the
// directory itself: the directory is made anew as an explicit one would be.
TEST(ExtractLayerChecks, AWhiteoutThenEntriesBelowItsNameMakeAnOpaqueDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts (0/0 devices) and trusted.* xattrs need root";
  Scratch s;
  StringSource lower(test::make_layer({test::file("gone/old", "old\n")}));
  extract_layer(lower, s / "lower", {});
  StringSource upper(test::make_layer({test::file(".wh.gone", ""), test::file("gone/inner", "inner\n")}));
  extract_layer(upper, s / "upper", {});
  EXPECT_EQ(test::read_text(s / "upper" / "gone" / "inner"), "inner\n");
  EXPECT_TRUE(is_overlay_opaque(s / "upper" / "gone"));
  EXPECT_FALSE(exists_in_union({s / "upper", s / "lower"}, "gone/old"));
}

test::LayerEntry owned_dir(std::string path, mode_t mode, uid_t uid, gid_t gid, time_t mtime = 1600000000) {
  test::LayerEntry d = test::dir(std::move(path), mode);
  d.uid = uid;
  d.gid = gid;
  d.mtime = mtime;
  return d;
}

// A layer's "tmp/x" without "tmp/" must not turn the base's /tmp (1777)
// into root's 0755 in the merged view: the directory the layer implies is
// made as the layers below have it, as overlayfs would copy it up.
TEST(ExtractLayerChecks, ADirectoryTheLayerImpliesIsMadeAsTheLayersBelowHaveIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners and whiteouts need root";
  Scratch s;
  StringSource base(
      test::make_layer({owned_dir("tmp", 01777, 0, 0), owned_dir("srv", 0750, 5, 6), owned_dir("var", 0755, 0, 0),
                        owned_dir("var/cache", 0700, 7, 8), test::file("var/cache/junk", "junk\n")}));
  extract_layer(base, s / "base", {});
  StringSource mid(test::make_layer({owned_dir("srv", 0711, 9, 9)}));
  extract_layer(mid, s / "mid", {});
  StringSource top(test::make_layer({test::file("tmp/x", "x\n"), test::file("srv/a/b", "b\n"),
                                     test::file("var/cache/.wh.junk", ""), test::file("new/file", "n\n"),
                                     test::file("listed/f", "f\n"), owned_dir("listed", 0700, 3, 3)}));
  ExtractOptions opts;
  opts.lowers = {s / "base", s / "mid"};
  extract_layer(top, s / "top", {}, opts);
  struct stat tmp = stat_of(s / "top" / "tmp");
  EXPECT_EQ(tmp.st_mode & 07777, 01777u);
  EXPECT_EQ(tmp.st_mtime, 1600000000) << "its times too";
  struct stat srv = stat_of(s / "top" / "srv");
  EXPECT_EQ(srv.st_mode & 07777, 0711u) << "the highest layer below that has it";
  EXPECT_EQ(srv.st_uid, 9u);
  struct stat cache = stat_of(s / "top" / "var" / "cache");
  EXPECT_EQ(cache.st_mode & 07777, 0700u) << "a whiteout's directory too";
  EXPECT_EQ(cache.st_uid, 7u);
  EXPECT_EQ(cache.st_gid, 8u);
  EXPECT_EQ(stat_of(s / "top" / "srv" / "a").st_mode & 07777, 0755u) << "none below has it: made as tar makes it";
  EXPECT_EQ(stat_of(s / "top" / "new").st_mode & 07777, 0755u);
  struct stat listed = stat_of(s / "top" / "listed");
  EXPECT_EQ(listed.st_mode & 07777, 0700u) << "a directory the layer lists after its content keeps its own";
  EXPECT_EQ(listed.st_uid, 3u);
}

// Implied directories deeper than the lookups keep descriptors for, left
// and entered again in every way (back up into levels whose descriptors
// were closed, from levels the layers below lack), take what the layers
// below have, each as a lookup from the root would.
TEST(ExtractLayerChecks, ImpliedDirectoriesOfADeepTreeTakeWhatTheLayersBelowHave) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners need root";
  Scratch s;
  auto chain = [](const std::string& name, int depth) {
    std::string p;
    for (int i = 0; i < depth; ++i) p += (p.empty() ? "" : "/") + name;
    return p;
  };
  std::vector<test::LayerEntry> base_entries;
  for (int i = 1; i <= 100; ++i) base_entries.push_back(owned_dir(chain("c", i), 0700 + i % 8, 3, 4));
  StringSource base(test::make_layer(base_entries));
  extract_layer(base, s / "base", {});
  StringSource top(test::make_layer({test::file(chain("c", 100) + "/f", "f\n"),
                                     test::file(chain("c", 20) + "/" + chain("x", 40) + "/g", "g\n"),
                                     test::file(chain("c", 10) + "/y/h", "h\n")}));
  ExtractOptions opts;
  opts.lowers = {s / "base"};
  extract_layer(top, s / "top", {}, opts);
  for (int i : {1, 10, 20, 21, 68, 69, 100}) {
    struct stat st = stat_of(s / "top" / chain("c", i));
    EXPECT_EQ(st.st_mode & 07777, 0700u + i % 8) << i;
    EXPECT_EQ(st.st_uid, 3u) << i;
    EXPECT_EQ(st.st_mtime, 1600000000) << i;
  }
  for (const std::string& none :
       {chain("c", 20) + "/x", chain("c", 20) + "/" + chain("x", 40), chain("c", 10) + "/y"}) {
    struct stat st = stat_of(s / "top" / none);
    EXPECT_EQ(st.st_mode & 07777, 0755u) << none;
    EXPECT_EQ(st.st_uid, 0u) << none;
    EXPECT_EQ(st.st_mtime, 0) << none;
  }
}

// What overlayfs would not show of the layers below is not copied: a
// directory a higher layer deleted (a whiteout), replaced (a file), or hid
// (below an opaque directory).
TEST(ExtractLayerChecks, AnImpliedDirectoryTakesNothingFromWhatTheLayersBelowHide) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners, whiteouts and trusted.* xattrs need root";
  Scratch s;
  StringSource base(test::make_layer({owned_dir("gone", 0700, 1, 1), owned_dir("file", 0700, 1, 1),
                                      owned_dir("op", 0700, 1, 1), owned_dir("op/inner", 0700, 1, 1),
                                      owned_dir("kept", 0700, 1, 1), owned_dir("kept/inner", 0701, 2, 2)}));
  extract_layer(base, s / "base", {});
  StringSource mid(test::make_layer({test::file(".wh.gone", ""), test::file("file", "f\n"), owned_dir("op", 0750, 4, 4),
                                     test::file("op/.wh..wh..opq", ""), owned_dir("kept", 0750, 4, 4)}));
  extract_layer(mid, s / "mid", {});
  StringSource top(test::make_layer({test::file("gone/x", "x\n"), test::file("file/x", "x\n"),
                                     test::file("op/inner/x", "x\n"), test::file("kept/inner/x", "x\n")}));
  ExtractOptions opts;
  opts.lowers = {s / "base", s / "mid"};
  extract_layer(top, s / "top", {}, opts);
  for (const char* d : {"gone", "file", "op/inner"}) EXPECT_EQ(stat_of(s / "top" / d).st_mode & 07777, 0755u) << d;
  EXPECT_EQ(stat_of(s / "top" / "op").st_mode & 07777, 0750u) << "the opaque directory itself shows";
  struct stat inner = stat_of(s / "top" / "kept" / "inner");
  EXPECT_EQ(inner.st_mode & 07777, 0701u) << "below a directory that is not opaque, the lower layer shows";
  EXPECT_EQ(inner.st_uid, 2u);
}

// What this same layer deletes (a whiteout, an opaque directory, in either
// order with the entries below it) hides the lower layers' directories as
// a higher layer's would.
TEST(ExtractLayerChecks, AnImpliedDirectoryBelowWhatTheLayerDeletesTakesNothingFromBelow) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners, whiteouts and trusted.* xattrs need root";
  Scratch s;
  StringSource base(
      test::make_layer({owned_dir("a", 0700, 5, 5), owned_dir("a/b", 0700, 5, 5), test::file("a/b/old", "old\n")}));
  extract_layer(base, s / "base", {});
  const std::vector<std::vector<test::LayerEntry>> layers = {
      {test::file(".wh.a", ""), test::file("a/b/x", "x\n")},
      {test::file("a/.wh..wh..opq", ""), test::file("a/b/y", "y\n")},
      {test::file("a/b/z", "z\n"), test::file(".wh.a", "")},
      {test::file(".wh..wh..opq", ""), test::file("a/b/w", "w\n")}};
  for (size_t i = 0; i < layers.size(); ++i) {
    StringSource top(test::make_layer(layers[i]));
    ExtractOptions opts;
    opts.lowers = {s / "base"};
    stdfs::path t = s / ("top" + std::to_string(i));
    extract_layer(top, t, {}, opts);
    EXPECT_EQ(stat_of(t / "a" / "b").st_mode & 07777, 0755u) << i;
    EXPECT_EQ(stat_of(t / "a" / "b").st_uid, 0u) << i;
    if (i == 1) {
      EXPECT_EQ(stat_of(t / "a").st_mode & 07777, 0700u) << "only its lower content is hidden, not itself";
    } else {
      EXPECT_EQ(stat_of(t / "a").st_mode & 07777, 0755u) << i << ": the layer deletes it";
    }
  }
}

// A hard link to a whiteout would be a second whiteout, of a name the layer
// does not delete.
TEST(ExtractLayerChecks, AHardLinkToAWhiteoutIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts (0/0 devices) need root";
  Scratch s;
  StringSource src(test::make_layer({test::file(".wh.w", ""), test::hardlink("w2", "w")}));
  EXPECT_EQ(test::error_of([&] { extract_layer(src, s / "t", {}); }),
            "layer entry 'w2': links to 'w', which the layer deletes (a whiteout)");
}

// A hard link to a file of a layer below links to a copy of it made in this
// layer, as overlayfs copies a lower file up to link it: with its content,
// owner, mode, xattrs and times; the layer below keeps its own. One to what
// no layer has, or a layer below deletes, is an error naming the entry and
// why.
TEST(ExtractLayerChecks, AHardLinkToAFileOfALayerBelowLinksToACopyOfIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners and whiteouts need root";
  Scratch s;
  test::LayerEntry tool = test::file("usr/bin/tool", "#!/bin/sh\n", 04750);
  tool.uid = 5;
  tool.gid = 6;
  tool.mtime = 1500000000;
  tool.xattrs["user.note"] = "kept";
  StringSource base(test::make_layer({tool, test::symlink("usr/bin/sh", "busybox"), test::file("gone", "g\n")}));
  extract_layer(base, s / "base", {});
  StringSource mid(test::make_layer({test::file(".wh.gone", "")}));
  extract_layer(mid, s / "mid", {});
  StringSource top(
      test::make_layer({test::hardlink("bin/tool", "usr/bin/tool"), test::hardlink("bin/sh", "usr/bin/sh")}));
  ExtractOptions opts;
  opts.lowers = {s / "base", s / "mid"};
  extract_layer(top, s / "top", {}, opts);
  struct stat copy = stat_of(s / "top" / "usr" / "bin" / "tool");
  struct stat link = stat_of(s / "top" / "bin" / "tool");
  EXPECT_EQ(copy.st_ino, link.st_ino);
  EXPECT_EQ(copy.st_nlink, 2u);
  EXPECT_EQ(test::read_text(s / "top" / "bin" / "tool"), "#!/bin/sh\n");
  EXPECT_EQ(copy.st_mode & 07777, 04750u);
  EXPECT_EQ(copy.st_uid, 5u);
  EXPECT_EQ(copy.st_gid, 6u);
  EXPECT_EQ(copy.st_mtime, 1500000000);
  char note[16] = {};
  EXPECT_EQ(::getxattr((s / "top" / "bin" / "tool").c_str(), "user.note", note, sizeof note), 4);
  EXPECT_STREQ(note, "kept");
  EXPECT_EQ(stdfs::read_symlink(s / "top" / "bin" / "sh"), "busybox");
  EXPECT_EQ(stat_of(s / "base" / "usr" / "bin" / "tool").st_nlink, 1u) << "the layer below keeps its own";
  struct Case {
    test::LayerEntry link;
    std::string said;
  };
  for (const auto& c : {Case{test::hardlink("g2", "gone"),
                             "layer entry 'g2': links to 'gone', which is neither in the layer nor in "
                             "the layers below it"},
                        Case{test::hardlink("n", "usr/none"),
                             "layer entry 'n': links to 'usr/none', which is neither in the layer "
                             "nor in the layers below it"}}) {
    StringSource bad(test::make_layer({c.link}));
    stdfs::remove_all(s / "bad");
    EXPECT_EQ(test::error_of([&] { extract_layer(bad, s / "bad", {}, opts); }), c.said);
  }
}

}  // namespace
}  // namespace crt::store
