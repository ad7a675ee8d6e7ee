// What an image's configuration asks of a run (its Env, its Volumes) and the
// name a pod was run by, checked from the outside: crt's output, the app's
// environment and mounts, crt list and crt inspect.

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../support/oci_builder.hpp"
#include "common/json_text.hpp"
#include "pod_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ImageConfigTest : public PodTest {
 protected:
  /// An OCI layout at DIR/`name` holding image `ref` of one layer (busybox
  /// as /bin/sh and /bin/env, the directories `dirs`) and `config`.
  std::string layout(const std::string& name, const std::string& ref, const nlohmann::json& config,
                     const std::vector<std::string>& dirs = {}) {
    std::string busybox = read_file("/bin/busybox");
    std::vector<LayerEntry> entries = {file("bin/sh", busybox, 0755), file("bin/env", busybox, 0755)};
    for (const auto& d : dirs) entries.push_back(dir(d));
    OciLayout l(dir_ + "/" + name);
    l.write_index({{l.add_image({make_layer(entries)}, config), ref}});
    return l.dir().string();
  }
};

// An Env entry without '=' leaves the variable out, as docker and containerd
// take it (unsetting one set before it), with a warning at import: every
// run of such an image was refused.
TEST_F(ImageConfigTest, AnEnvEntryWithoutAValueLeavesTheVariableOut) {
  std::string l = layout("novalue", "novalue:1",
                         {{"Env", {"PATH=/bin", "KEPT=1", "GONE=1", "GONE", "NEVER"}}, {"Cmd", {"/bin/env"}}});
  Result r = crt({"image", "import", l});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crt: warning: image 'novalue:1' has 'GONE' in its Env, without '=' or a value: crt "
                               "run leaves the variable out (unset), as docker does\n"));
  EXPECT_THAT(r.err, HasSubstr("image 'novalue:1' has 'NEVER' in its Env"));
  r = crt({"run", "--rm", "--net=none", "novalue:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("KEPT=1\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("GONE")));
  EXPECT_THAT(r.out, Not(HasSubstr("NEVER")));
}

// A variable without a name ("=1") no runtime sets: refused at import,
// naming the image and the entry, nothing stored.
TEST_F(ImageConfigTest, AnEnvEntryWithoutANameIsRefusedAtImport) {
  std::string l = layout("noname", "noname:1", {{"Env", {"PATH=/bin", "=1"}}, {"Cmd", {"/bin/env"}}});
  Result r = crt({"image", "import", l});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("image 'noname:1': invalid image configuration: config.Env: '=1' names no variable"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/store/trees"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/store/blobs/sha256"));
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("noname")));
}

// A name systemd cannot pass makes crt run refuse the image: said at import.
TEST_F(ImageConfigTest, AnEnvNameSystemdCannotPassIsWarnedOfAtImport) {
  std::string l = layout("dotted", "dotted:1", {{"Env", {"PATH=/bin", "my.var=1"}}, {"Cmd", {"/bin/env"}}});
  Result r = crt({"image", "import", l});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("crt: warning: image 'dotted:1' sets the environment variable 'my.var' (its Env), "
                               "which systemd cannot give an app (a variable name holds letters, digits and '_'): "
                               "crt run refuses the image\n"));
}

// An image's volume no mount can be made for is left out with a warning
// naming it, the image and why; one that climbs with '..' is mounted on the
// path it names, as docker takes it, and said.
TEST_F(ImageConfigTest, ImageVolumesThatCannotBeMountedAreSaid) {
  nlohmann::json volumes = {{"/", nlohmann::json::object()},
                            {"/proc/x", nlohmann::json::object()},
                            {"data", nlohmann::json::object()},
                            {"/../../srv/v", nlohmann::json::object()}};
  std::string l = layout("vols", "vols:1",
                         {{"Env", {"PATH=/bin"}}, {"Volumes", volumes}, {"Cmd", {"/bin/sh", "-c", "cat /proc/mounts"}}},
                         {"srv", "srv/v"});
  ASSERT_EQ(crt({"image", "import", l}).status, 0);
  Result r = crt({"run", "--rm", "--net=none", "vols:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string app = "crt: warning: app 'vols': the volume ";
  const std::string stays = "): its files stay in the app's rootfs, kept with the pod\n";
  EXPECT_THAT(r.err,
              HasSubstr(app + "'/' of image 'vols:1' is left out (target cannot be the app's root directory" + stays));
  EXPECT_THAT(r.err, HasSubstr(app +
                               "'/proc/x' of image 'vols:1' is left out (the pod mounts '/proc' for every "
                               "app: a volume on '/proc/x' would be hidden" +
                               stays));
  EXPECT_THAT(r.err, HasSubstr(app + "'data' of image 'vols:1' is left out (not an absolute path" + stays));
  EXPECT_THAT(r.err, HasSubstr(app + "'/../../srv/v' of image 'vols:1' is mounted on '/srv/v', the path it names\n"));
  EXPECT_THAT(r.out, HasSubstr(" /srv/v "));
}

// Once the name a pod was run by names another image (imported again),
// crt list and crt inspect show the image the pod runs by its ID, and the
// name it was run by; JSON says so (image_moved).
TEST_F(ImageConfigTest, ListAndInspectShowAPodsImageByItsIdOnceItsNameMoved) {
  ASSERT_EQ(crt({"image", "import", layout("first", "moving:1", {{"Cmd", {"/bin/env"}}})}).status, 0);
  Result r = crt({"run", "--net=none", "moving:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto row = [&] {
    nlohmann::json rows = json_text::parse(crt({"list", "--format=json"}).out);
    EXPECT_EQ(rows.size(), 1u);
    return rows.at(0);
  };
  nlohmann::json before = row();
  EXPECT_EQ(before["image"], "moving:1");
  EXPECT_EQ(before["image_moved"], false);
  EXPECT_THAT(crt({"list", "--no-legend"}).out, HasSubstr(" moving:1 "));
  std::string uuid = before["uuid"];
  EXPECT_THAT(crt({"inspect", uuid}).out, HasSubstr("app moving (moving:1)\n"));

  // Another image under the same name.
  ASSERT_EQ(crt({"image", "import", layout("second", "moving:1", {{"Cmd", {"/bin/sh"}}}, {"etc"})}).status, 0);
  nlohmann::json after = row();
  EXPECT_EQ(after["image"], "moving:1") << "the name it was run by";
  EXPECT_EQ(after["image_id"], before["image_id"]);
  EXPECT_EQ(after["image_moved"], true);
  std::string id = after["image_id"].get<std::string>().substr(7);
  EXPECT_THAT(crt({"list", "--no-legend"}).out, HasSubstr(" " + id.substr(0, 8) + " (was moving:1) "));
  EXPECT_THAT(crt({"list", "--no-legend", "--full"}).out, HasSubstr(" " + id + " (was moving:1) "));
  nlohmann::json inspected = json_text::parse(crt({"inspect", "--format=json", uuid}).out);
  EXPECT_EQ(inspected["apps"][0]["image_moved"], true);
  EXPECT_EQ(inspected["apps"][0]["image_id"], after["image_id"]);
  EXPECT_THAT(crt({"inspect", uuid}).out, HasSubstr("app moving (" + id.substr(0, 8) + " (was moving:1))\n"));
  EXPECT_EQ(crt({"rm", uuid}).status, 0);
}

}  // namespace
}  // namespace crt::test
