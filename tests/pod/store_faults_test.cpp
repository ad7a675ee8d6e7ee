// What befalls the store's work from outside: writes the disk refuses while
// crt imports (the import fails naming the file it could not write, and
// nothing of it is kept, so no later import or pod takes damaged files for
// the image's), and other crts removing the same images at once.

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace stdfs = std::filesystem;

class StoreFaults : public PodTest {};

// A directory's file is written in blocks of at most 4 KiB (crt keeps holes
// as holes); its last block here is 3001 bytes, a size no other write of
// the import has, so the disk fails that one write and no other. The data
// written before and after it were fine: crt must not take the file for
// complete (it did: the import succeeded, the file of the right size with
// zeros in place of that block, and the same directory imported again
// reused the damaged tree, its digest being the source's).
TEST_F(StoreFaults, AWriteTheDiskFailsWhileADirectoryIsImportedFailsTheImport) {
  const size_t kLastBlock = 3001;
  std::string src = dir_ + "/src";
  stdfs::create_directories(src + "/bin");
  std::string data(3 * 128 * 1024 + kLastBlock, '\0');
  std::mt19937 rng(7);
  for (char& c : data) c = static_cast<char>(rng() | 1);  // no zeros, no holes
  std::ofstream(src + "/bin/big", std::ios::binary) << data;

  Result r = run({FAIL_WRITE_BIN, std::to_string(kLastBlock), crt_bin_, "--dir=" + dir_, "image", "import", "-q", src,
                  "damaged:1", "--cmd=/bin/big"});
  EXPECT_EQ(r.status, 254) << r.err;
  EXPECT_THAT(r.err, HasSubstr("'bin/big'")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("Input/output error")) << r.err;
  EXPECT_EQ(store_entries("trees"), std::vector<std::string>{}) << "no tree of the failed import is kept";
  EXPECT_EQ(store_entries("tmp"), std::vector<std::string>{});
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("damaged"))) << "the name was not given";

  // The same directory, imported again where the disk is fine, is whole.
  r = crt({"image", "import", "-q", src, "damaged:1", "--cmd=/bin/big"});
  ASSERT_EQ(r.status, 0) << r.err;
  size_t stored = 0;
  for (const auto& tree : store_entries("trees")) {
    std::string big = dir_ + "/store/trees/" + tree + "/bin/big";
    if (!stdfs::exists(big)) continue;  // busybox's, which image list imported
    ++stored;
    EXPECT_TRUE(read_file(big) == data) << "the stored file is the source's";
  }
  EXPECT_EQ(stored, 1u);
}

// Prunes at once: each image goes once, and a prune that finds one it
// listed gone (another prune took it) has nothing to say about it; two of
// three said "no image 'sha256:…' in the store" once per such image and
// exited 254.
TEST_F(StoreFaults, PrunesAtOnceAllSucceed) {
  std::string root = dir_ + "/rootfs";
  stdfs::create_directories(root);
  const int kImages = 8;
  for (int i = 0; i <= kImages; ++i) {  // the last keeps the name
    std::ofstream(root + "/mark") << i;
    Result r = crt({"image", "import", "-q", root, "app:1", "--cmd=/mark"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<Process>> prunes;
    for (int i = 0; i < 3; ++i) prunes.push_back(std::make_unique<Process>(crt_argv({"image", "prune"})));
    for (auto& p : prunes) {
      Result r = p->wait();
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_THAT(r.err, Not(HasSubstr("no image"))) << r.err;
    }
    if (round + 1 < 3)
      for (int i = 0; i < kImages; ++i) {
        std::ofstream(root + "/mark") << round << "." << i;
        ASSERT_EQ(crt({"image", "import", "-q", root, "app:1", "--cmd=/mark"}).status, 0);
      }
  }
  Result list = crt({"image", "list"});
  EXPECT_THAT(list.out, Not(HasSubstr("<none>"))) << list.out;
  EXPECT_THAT(list.out, HasSubstr("app ")) << list.out;
}

}  // namespace
}  // namespace crt::test
