// crt image pull and crt run from real registries: plain HTTP, TLS with
// Basic auth, Bearer tokens, multi-platform indexes, whiteouts.

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../support/blob_damage.hpp"
#include "../support/http_stub.hpp"
#include "../support/notify_socket.hpp"
#include "../support/token_server.hpp"
#include "common/json_text.hpp"
#include "registry_fixture.hpp"
#include "store/digest.hpp"

namespace crt::test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
namespace stdfs = std::filesystem;
using nlohmann::json;

TEST_F(RegistryTest, PlainHttpOnlyWhenAskedThenRunsWithTheImageConfig) {
  json config = {{"Entrypoint", {"/bin/sh", "-c"}},
                 {"Cmd", {"echo \"$GREETING from $(pwd) as $(id -u):$(id -g)\""}},
                 {"Env", {"GREETING=hello"}},
                 {"WorkingDir", "/srv"},
                 {"User", "daemon"},
                 {"ExposedPorts", {{"8080/tcp", json::object()}}},
                 {"Volumes", {{"/data", json::object()}}},
                 {"StopSignal", "SIGQUIT"},
                 {"Labels", {{"org.example.team", "store"}}}};
  push(layout("app", {}, config), plain().host(), "test/app");
  std::string ref = plain().host() + "/test/app:v1";

  Result r = crt({"image", "pull", ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: pulling '" + ref + "': fetching manifest 'v1': GET https://"));
  EXPECT_THAT(r.err, HasSubstr("--insecure-registry"));

  r = crt({"image", "pull", "--insecure-registry", plain().host(), ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("sha256:[0-9a-f]{64}\n"));
  EXPECT_EQ(r.err, "") << "no progress on a pipe";

  r = crt({"image", "inspect", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = crt::json_text::parse(r.out)[0];
  EXPECT_EQ(j["config"]["exposed_ports"], json({"8080/tcp"}));
  EXPECT_EQ(j["config"]["volumes"], json({"/data"}));
  EXPECT_EQ(j["config"]["labels"]["org.example.team"], "store");
  EXPECT_EQ(j["config"]["user"], "daemon");
  EXPECT_EQ(j["repo_digests"][0].get<std::string>().rfind(plain().host() + "/test/app@sha256:", 0), 0u);
  EXPECT_EQ(j["layers"].size(), 1u);

  r = crt({"run", "--uuid-file-save=" + dir_ + "/uuid", ref});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello from /srv as 1:1\n");
  std::string uuid = read_file(dir_ + "/uuid").substr(0, 36);
  json pod = crt::json_text::parse(read_file(pod_dir(uuid) + "/pod.json"));
  EXPECT_EQ(pod["apps"][0]["exposed_ports"], json({"8080/tcp"}));
  EXPECT_EQ(pod["apps"][0]["image_volumes"], json({"/data"}));
  EXPECT_EQ(pod["apps"][0]["stop_signal"], "SIGQUIT");
  std::string unit = read_file(pod_dir(uuid) + "/overlay/stage1/upper/etc/systemd/system/app.service");
  EXPECT_THAT(unit, HasSubstr("KillSignal=SIGQUIT"));

  r = crt({"run", ref, "--", "echo hi"});
  EXPECT_EQ(r.out, "hi\n") << "arguments replace Cmd, not the Entrypoint";
  r = crt({"run", ref, "--exec=/bin/echo", "--", "direct"});
  EXPECT_EQ(r.out, "direct\n") << "--exec replaces both";
}

// An image pulled by digest has no name but its NAME@DIGEST, by which a pod
// file may name it on a host that cannot pull it again: prune keeps it.
TEST_F(RegistryTest, PruneKeepsAnImagePulledByDigest) {
  push(layout("app", {}, json::object()), plain().host(), "test/app");
  std::string tagged = plain().host() + "/test/app:v1";
  Result r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), tagged});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string by_digest = crt::json_text::parse(crt({"image", "inspect", tagged}).out)[0]["repo_digests"][0];
  ASSERT_EQ(crt({"image", "rm", tagged}).status, 0);
  r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), by_digest});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string id = r.out.substr(0, r.out.find('\n'));
  r = crt({"image", "prune"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(id)));
  EXPECT_EQ(crt({"image", "inspect", by_digest}).status, 0);
}

TEST_F(RegistryTest, ImageStopSignalIsWhatCrtStopSends) {
  json config = {{"Cmd", {"/bin/sh", "-c", "trap 'echo got-usr1; exit 0' USR1; trap 'echo got-term; exit 1' TERM; "
                                           "echo up; while :; do sleep 0.1; done"}},
                 {"StopSignal", "SIGUSR1"}};
  ASSERT_EQ(crt({"image", "import", layout("stopper", {}, config), "stopper:v1"}).status, 0);
  std::string file = dir_ + "/uuid";
  Process p(crt_argv({"run", "--net=none", "--uuid-file-save=" + file, "stopper:v1"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(crt({"status", "--wait-ready=30s", uuid}).status, 0);
  for (int i = 0; i < 100 && crt({"logs", uuid}).out.find("up") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Result r = crt({"stop", uuid});
  EXPECT_EQ(r.status, 0) << r.err;
  Result out = p.wait();
  EXPECT_THAT(out.out, HasSubstr("got-usr1"));
  EXPECT_THAT(out.out, Not(HasSubstr("got-term")));
  EXPECT_THAT(crt({"status", uuid}).out, HasSubstr("app-stopper=0\n"));
}

TEST_F(RegistryTest, AnImageOfMoreLayersThanOnePageOfMountOptionsRuns) {
  // 60 layers and busybox's: about 90 bytes each in the overlay's options,
  // more than mount(2) takes (one page).
  std::vector<std::string> layers;
  for (int i = 0; i < 60; ++i) layers.push_back(make_layer({file("f" + std::to_string(i), std::to_string(i) + "\n")}));
  std::string many = layout("many", layers);
  ASSERT_EQ(crt({"image", "import", many, "many:v1"}).status, 0);
  Result r = crt({"run", "--net=none", "many:v1", "--exec=/bin/cat", "--", "/f0", "/f59"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0\n59\n");
  // crt inspect lists its layers, however the kernel shows them: by
  // descriptor before Linux 6.8, one "lowerdir+=" each since, where a ','
  // of the state directory's path is no separator.
  std::string state = dir_ + "/state,x";
  auto in_state = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {crt_bin_, "--dir=" + state});
    return args;
  };
  ASSERT_EQ(run(in_state({"image", "import", "-q", many, "many:v1"})).status, 0);
  std::string file = dir_ + "/uuid";
  Process p(in_state({"run", "--net=none", "--uuid-file-save=" + file, "many:v1", "--exec=/bin/sleep", "--", "60"}),
            {.env = {}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = true});
  std::string uuid = wait_uuid(file);
  ASSERT_EQ(run(in_state({"status", "--wait-ready=30s", uuid})).status, 0);
  r = run(in_state({"inspect", "--format=json", uuid}));
  ASSERT_EQ(r.status, 0) << r.err;
  json inspected = crt::json_text::parse(r.out);
  json root;
  for (const auto& m : inspected["apps"][0]["mounts"])
    if (m["target"] == "/") root = m;
  std::string lower = root.value("lowerdir", "");
  EXPECT_EQ(std::count(lower.begin(), lower.end(), ':'), 60) << lower;
  ASSERT_EQ(root["lowerdirs"].size(), 61U) << root.dump();
  for (const auto& l : root["lowerdirs"]) {
    EXPECT_EQ(l.get<std::string>().rfind(state + "/store/trees/", 0), 0U) << l;
    EXPECT_TRUE(std::filesystem::is_directory(l.get<std::string>())) << l;
  }
  run(in_state({"stop", uuid}));
  p.wait();
}

// Under a service manager (a Type=notify unit: $NOTIFY_SOCKET), a pull
// says what it does (STATUS=) and keeps asking for more start time.
TEST_F(RegistryTest, APullUnderAServiceManagerTellsItHowItGoes) {
  push(layout("app", {busybox_layer()}), plain().host(), "test/notified");
  NotifySocket notify(dir_ + "/notify");
  Result r = crt({"image", "pull", "--insecure-registry", plain().host(), plain().host() + "/test/notified:v1"},
                 {.env = {notify.env()}, .timeout = std::chrono::seconds(60), .input = {}, .new_session = false});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> got = notify.texts();
  ASSERT_FALSE(got.empty());
  EXPECT_THAT(got.front(),
              ::testing::MatchesRegex("STATUS=fetching sha256:[0-9a-f]{12}.*\nEXTEND_TIMEOUT_USEC=60000000"));
  EXPECT_EQ(got.back(), "STATUS=\nEXTEND_TIMEOUT_USEC=60000000");
  EXPECT_THAT(got, ::testing::Contains(::testing::StartsWith("STATUS=unpacking sha256:")));
}

TEST_F(RegistryTest, WhiteoutsAndOpaqueDirectoriesHaveOciMeaning) {
  std::string lower = make_layer({dir("d"), file("d/gone", "1"), file("d/kept", "2"), dir("o"), file("o/old", "3"),
                                  dir("o/sub"), file("o/sub/deep", "4"), file("f", "5")});
  std::string upper = make_layer({file("d/.wh.gone", ""), dir("o"), file("o/.wh..wh..opq", ""), file("o/new", "6"),
                                  file(".wh.f", ""), file("d/.wh..wh.plnk", "")});
  std::string top = make_layer({file("f", "back\n")}, Compression::kZstd);
  push(layout("wh", {lower, upper, top}), plain().host(), "test/wh");
  std::string ref = plain().host() + "/test/wh:v1";
  ASSERT_EQ(crt({"image", "pull", "-q", "--insecure-registry", plain().host(), ref}).status, 0);
  Result r = crt({"run", ref, "--", "/bin/sh", "-c", "ls /d; echo --; ls -R /o; echo --; cat /f"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "kept\n--\n/o:\nnew\n--\nback\n");
  // In the store the whiteouts are overlayfs' own.
  std::string upper_tree = dir_ + "/store/trees/" + digest_of(decompress(upper)).substr(7);
  struct stat st {};
  ASSERT_EQ(::lstat((upper_tree + "/d/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0) << "a 0/0 character device";
  char v[4] = {};
  EXPECT_EQ(::getxattr((upper_tree + "/o").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_FALSE(stdfs::exists(upper_tree + "/d/.wh..wh.plnk"));
}

// BuildKit repeats the empty layer, and an image may repeat a layer of its
// own: each is unpacked (and locked) once, the image keeps every entry, and
// the stack is the manifest's: a repeat applies its files over what lies
// between.
TEST_F(RegistryTest, RepeatedLayersAreUnpackedOnceAndStackedAsTheManifestSays) {
  std::string empty = make_layer({}, Compression::kNone);
  ASSERT_EQ(digest_of(empty), "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
  std::string x = make_layer({file("f", "x\n")});
  std::string y = make_layer({file("f", "y\n"), file("y", "y\n")});
  std::string lay = layout("rep", {empty, x, y, x, empty}, {{"Cmd", {"/bin/cat", "/f", "/y"}}});
  push(lay, plain().host(), "test/rep");
  std::string ref = plain().host() + "/test/rep:v1";
  RunOptions soon{.env = {}, .timeout = std::chrono::seconds(30), .input = {}, .new_session = false};

  Result r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), ref}, soon);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(store_entries("trees").size(), 4u) << "busybox, the empty layer, x and y";
  EXPECT_EQ(plain().requests_for("/blobs/" + digest_of(x)), 1);
  json layers = crt::json_text::parse(crt({"image", "inspect", ref}).out)[0]["layers"];
  EXPECT_EQ(layers.size(), 6u);
  EXPECT_EQ(layers[1], layers[5]);
  EXPECT_EQ(layers[2], layers[4]);
  r = crt({"run", ref}, soon);
  EXPECT_EQ(r.out, "x\ny\n") << r.err;

  r = crt({"image", "import", "-q", lay, "rep:v1"}, soon);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", "rep:v1"}).out)[0]["layers"], layers);
  // An image crt run pulls, of layers the store has.
  push(layout("rep2", {empty, x, y, x, empty}, {{"Cmd", {"/bin/cat", "/y", "/f"}}}), plain().host(), "test/rep2");
  r = crt({"run", "--insecure-registry", plain().host(), plain().host() + "/test/rep2:v1"}, soon);
  EXPECT_EQ(r.out, "y\nx\n") << r.err;
}

TEST_F(RegistryTest, MultiPlatformIndexGivesTheHostsImage) {
  std::string d = dir_ + "/multi";
  OciLayout lay(d);
  json other = lay.add_image({busybox_layer(), make_layer({file("arch", "s390x\n")})}, json::object(), "linux/s390x");
  json host = lay.add_image({busybox_layer(), make_layer({file("arch", "host\n")})});
  lay.write_index({{lay.add_index({other, host}), "v1"}});
  skopeo_copy("oci:" + d + ":v1", "docker://" + plain().host() + "/test/multi:v1", "", {"--all"});
  std::string ref = plain().host() + "/test/multi:v1";
  ASSERT_EQ(crt({"image", "pull", "-q", "--insecure-registry", plain().host(), ref}).status, 0);
  Result r = crt({"run", ref, "--", "/bin/cat", "/arch"});
  EXPECT_EQ(r.out, "host\n") << r.err;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("is for linux/")));
  // The index's digest names the image as well as its own manifest's.
  Result raw = run({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref});
  ASSERT_EQ(raw.status, 0) << raw.err;
  std::string by_index = plain().host() + "/test/multi@" + store::sha256_digest(raw.out);
  r = crt({"run", "--pull-policy=never", by_index, "--", "/bin/cat", "/arch"});
  EXPECT_EQ(r.out, "host\n") << r.err;
  r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), by_index});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt({"image", "inspect", by_index}).status, 0);
  r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), "--platform=linux/s390x", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", ref}).out)[0]["architecture"], "s390x");
  // Run all the same, as podman and docker do (binfmt_misc may emulate it),
  // but not without a word.
  r = crt({"run", "--pull-policy=never", ref, "--", "/bin/cat", "/arch"});
  EXPECT_EQ(r.out, "s390x\n") << r.err;
  EXPECT_THAT(r.err, HasSubstr("warning: image '" + ref + "' is for linux/s390x, this machine is linux/" + host_arch() +
                               ": its programs may fail with \"exec format error\""));
  r = crt({"image", "pull", "--insecure-registry", plain().host(), "--platform=linux/mips64", ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no image for linux/mips64 in the index (it has linux/s390x, linux/"));
  // A single manifest is whatever platform it is: refused when another is
  // asked for, before its layers are fetched.
  std::string single = dir_ + "/single";
  OciLayout one(single);
  one.write_index({{one.add_image({make_layer({file("arch", "s390x\n")})}, json::object(), "linux/s390x"), "v1"}});
  skopeo_copy("oci:" + single + ":v1", "docker://" + plain().host() + "/test/single:v1", "", {});
  std::string single_ref = plain().host() + "/test/single:v1";
  r = crt({"image", "pull", "--insecure-registry", plain().host(), "--platform=linux/arm64", single_ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("the image is for linux/s390x, not linux/arm64 as --platform asks"));
  r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), single_ref});
  EXPECT_EQ(r.status, 0) << r.err;
}

// A pull whose layer cannot be unpacked leaves no image and none of the
// trees it unpacked before it; the blobs it fetched stay for the next pull.
TEST_F(RegistryTest, APullThatCannotUnpackALayerLeavesNoTree) {
  push(layout("broken", {std::string(4096, 'g')}), plain().host(), "test/broken");
  Result r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), plain().host() + "/test/broken:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr(": layer 2 (sha256:"));
  EXPECT_TRUE(store_entries("trees").empty()) << "busybox's layer is taken out again";
  std::vector<std::string> blobs = store_entries("blobs/sha256");
  EXPECT_THAT(blobs, Contains(digest_of(busybox_layer()).substr(7))) << "a fetched blob stays";
  EXPECT_TRUE(store_entries("tmp").empty());
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("test/broken")));
}

// A layer blob the store has but no image pairs with its tree (its image
// removed, the blob put back damaged): the pull that meant to use it
// fetches it again, says so once, and succeeds.
TEST_F(RegistryTest, APullFetchesAgainALayerBlobItFindsDamaged) {
  std::string layer = make_layer({file("d", "data\n")});
  push(layout("damaged", {layer}), plain().host(), "test/damaged");
  std::string ref = plain().host() + "/test/damaged:v1";
  std::vector<std::string> pull = {"image", "pull", "-q", "--insecure-registry", plain().host(), ref};
  Result r = crt(pull);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string blob = dir_ + "/store/blobs/sha256/" + digest_of(layer).substr(7);
  ASSERT_TRUE(stdfs::exists(blob)) << "the registry keeps the layer's digest";
  r = crt({"image", "rm", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_FALSE(stdfs::exists(blob));
  std::ofstream(blob, std::ios::binary) << with_a_byte_flipped(layer);

  r = crt(pull);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: warning: layer blob " + digest_of(layer) + " was damaged in the store (its content was " +
                       digest_of(with_a_byte_flipped(layer)) + "); fetched it again\n");
  EXPECT_EQ(read_file(blob), layer);
  EXPECT_EQ(read_file(dir_ + "/store/trees/" + digest_of(decompress(layer)).substr(7) + "/d"), "data\n");
  EXPECT_TRUE(store_entries("tmp").empty());
}

// The same image (configuration) from two repositories whose manifests
// differ (a layer pushed compressed to one, uncompressed to the other,
// which skopeo compresses anew): the store keeps the second manifest and
// its layer blob for the repo digest and the name that name it, through a
// gc, and gives that manifest back by either; a removal takes all.
TEST_F(RegistryTest, AnImagePulledAgainByAnotherManifestKeepsItForItsRepoDigest) {
  std::string layer = make_layer({file("f", "same\n")});
  push(layout("gz", {layer}), plain().host(), "test/gz");
  push(layout("tar", {decompress(layer)}), plain().host(), "test/tar");
  for (std::string repo : {"/test/gz:v1", "/test/tar:v1"}) {
    Result r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), plain().host() + repo});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  json image = crt::json_text::parse(crt({"image", "inspect", plain().host() + "/test/gz:v1"}).out)[0];
  ASSERT_EQ(image["repo_digests"].size(), 2u) << "one image, from both";
  std::string ref = image["repo_digests"][1];
  ASSERT_THAT(ref, HasSubstr("/test/tar@sha256:"));
  std::string digest = ref.substr(ref.find('@') + 1);
  ASSERT_NE(digest, image["digest"]) << "two manifests";

  ASSERT_EQ(crt({"image", "gc"}).status, 0);
  Result r = crt({"image", "inspect", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  json by_ref = crt::json_text::parse(r.out)[0];
  EXPECT_EQ(by_ref["digest"], digest);
  std::string tar_layer = by_ref["blobs"][1]["digest"];
  EXPECT_NE(tar_layer, digest_of(layer));
  EXPECT_THAT(store_entries("blobs/sha256"), Contains(digest.substr(7)));
  EXPECT_THAT(store_entries("blobs/sha256"), Contains(tar_layer.substr(7)));
  r = crt({"image", "export", ref, dir_ + "/tar.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run({"tar", "-xOf", dir_ + "/tar.tar", "index.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(r.out)["manifests"][0]["digest"], digest) << "the manifest the digest names";

  // By its name, as by its repo digest; the other name gives its own.
  std::string name = plain().host() + "/test/tar:v1";
  r = crt({"image", "inspect", name, plain().host() + "/test/gz:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(r.out)[0]["digest"], digest) << "the manifest the name was pulled by";
  EXPECT_EQ(crt::json_text::parse(r.out)[1]["digest"], image["digest"]);
  json manifests = crt::json_text::parse(r.out)[0]["manifests"];
  EXPECT_EQ(manifests, crt::json_text::parse(r.out)[1]["manifests"]) << "one image, by either name";
  EXPECT_EQ(manifests.size(), 4u) << manifests.dump();
  EXPECT_EQ(manifests[name], digest);
  EXPECT_EQ(manifests[ref], digest);
  EXPECT_EQ(manifests[plain().host() + "/test/gz:v1"], image["digest"]);
  EXPECT_EQ(manifests[image["repo_digests"][0].get<std::string>()], image["digest"]);
  r = crt({"image", "export", name, dir_ + "/by-name.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run({"tar", "-xOf", dir_ + "/by-name.tar", "index.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json exported = crt::json_text::parse(r.out)["manifests"][0];
  EXPECT_EQ(exported["digest"], digest);
  EXPECT_EQ(exported["annotations"]["org.opencontainers.image.ref.name"], name);

  ASSERT_EQ(crt({"image", "rm", ref}).status, 0);
  EXPECT_TRUE(store_entries("blobs/sha256").empty());
  EXPECT_TRUE(store_entries("trees").empty());
}

// The same image (configuration) pulled by its manifest, then through a
// multi-platform index that leads to another manifest of it (its layer
// compressed with zstd): the index's digest, as the name pulled through it,
// gives the manifest the index led to.
TEST_F(RegistryTest, AnIndexDigestGivesTheManifestTheIndexLedTo) {
  std::vector<LayerEntry> files = {file("f", "same\n")};
  push(layout("gz", {make_layer(files)}), plain().host(), "test/gz");
  std::string d = dir_ + "/multi";
  OciLayout lay(d);
  json other = lay.add_image({busybox_layer(), make_layer({file("arch", "s390x\n")})}, json::object(), "linux/s390x");
  json host = lay.add_image({busybox_layer(), make_layer(files, Compression::kZstd)});
  lay.write_index({{lay.add_index({other, host}), "v1"}});
  skopeo_copy("oci:" + d + ":v1", "docker://" + plain().host() + "/test/multi:v1", "", {"--all"});
  std::string multi = plain().host() + "/test/multi:v1";
  for (const std::string& ref : {plain().host() + "/test/gz:v1", multi}) {
    Result r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), ref});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  Result raw = run({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + multi});
  ASSERT_EQ(raw.status, 0) << raw.err;
  std::string by_index = plain().host() + "/test/multi@" + store::sha256_digest(raw.out);

  Result r = crt({"image", "inspect", by_index, plain().host() + "/test/gz:v1", multi});
  ASSERT_EQ(r.status, 0) << r.err;
  json images = crt::json_text::parse(r.out);
  ASSERT_EQ(images[0]["id"], images[1]["id"]) << "one image";
  std::string led_to;
  for (const std::string& rd : images[0]["repo_digests"].get<std::vector<std::string>>())
    if (rd.rfind(plain().host() + "/test/multi@", 0) == 0 && rd != by_index) led_to = rd.substr(rd.find('@') + 1);
  ASSERT_FALSE(led_to.empty()) << images[0]["repo_digests"];
  ASSERT_NE(led_to, images[1]["digest"]) << "two manifests";
  EXPECT_EQ(images[0]["digest"], led_to) << "the manifest the index led to";
  EXPECT_EQ(images[2]["digest"], led_to) << "the name pulled through it";
  EXPECT_EQ(images[0]["blobs"][1]["media_type"], "application/vnd.oci.image.layer.v1.tar+zstd");
  EXPECT_EQ(images[0]["manifests"][by_index], led_to) << images[0]["manifests"].dump();
  EXPECT_EQ(images[0]["manifests"][multi], led_to);

  ASSERT_EQ(crt({"image", "gc"}).status, 0);
  r = crt({"image", "export", by_index, dir_ + "/by-index.tar"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run({"tar", "-xOf", dir_ + "/by-index.tar", "index.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(crt::json_text::parse(r.out)["manifests"][0]["digest"], led_to);
  r = crt({"run", "--pull-policy=never", by_index, "--", "/bin/cat", "/f"});
  EXPECT_EQ(r.out, "same\n") << r.err;
}

TEST_F(RegistryTest, TlsWithACustomCaAndBasicAuth) {
  TestPki pki(dir_ + "/pki");
  Result h = run({"htpasswd", "-Bbn", "alice", "s3cret"});
  ASSERT_EQ(h.status, 0);
  std::ofstream(dir_ + "/htpasswd") << h.out;
  LocalRegistry reg(dir_ + "/tls-registry",
                    {"", pki.server_cert, pki.server_key, dir_ + "/htpasswd", "", "", "", "", ""});
  push(layout("app", {}, {{"Cmd", {"/bin/echo", "over tls"}}}), reg.host(), "private/app", "v1", "alice:s3cret");
  std::string ref = reg.host() + "/private/app:v1";

  Result r = crt({"image", "pull", ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("SSL certificate problem: unable to get local issuer certificate"))
      << "an unknown CA is refused";
  EXPECT_THAT(r.err, HasSubstr("(trust the registry's CA with --ca-file or in '/etc/crt/certs.d/" + reg.host() +
                               "/ca.crt', or allow it unverified with --insecure-registry " + reg.host() + ")"));

  r = crt({"image", "pull", "--ca-file", pki.ca_cert, ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("requires a user name and password: give them with --creds or in an auth file"));
  // The registry's CA in certs.d/ of --local-config does as well.
  std::filesystem::create_directories(dir_ + "/local/certs.d/" + reg.host());
  std::filesystem::copy_file(pki.ca_cert, dir_ + "/local/certs.d/" + reg.host() + "/ca.crt");
  r = crt({"--local-config=" + dir_ + "/local", "image", "pull", ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("requires a user name and password")) << "the CA was not taken from certs.d";

  r = crt({"image", "pull", "--ca-file", pki.ca_cert, "--creds", "alice:wrong", ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("the registry '" + reg.host() +
                               "' refused the credentials of user 'alice' (from --creds): HTTP 401"));

  // Credentials from a containers-auth.json.
  std::ofstream(dir_ + "/auth.json") << json{{"auths", {{reg.host(), {{"auth", "YWxpY2U6czNjcmV0"}}}}}}.dump();
  r = crt({"image", "pull", "-q", "--ca-file", pki.ca_cert, "--authfile", dir_ + "/auth.json", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run", ref});
  EXPECT_EQ(r.out, "over tls\n") << r.err;
}

TEST_F(RegistryTest, RunAndPreparePullWithTheRegistryOptionsOfImagePull) {
  TestPki pki(dir_ + "/pki");
  Result h = run({"htpasswd", "-Bbn", "alice", "s3cret"});
  ASSERT_EQ(h.status, 0);
  std::ofstream(dir_ + "/htpasswd") << h.out;
  LocalRegistry reg(dir_ + "/tls-registry",
                    {"", pki.server_cert, pki.server_key, dir_ + "/htpasswd", "", "", "", "", ""});
  std::string lay = layout("app", {}, {{"Cmd", {"/bin/echo", "pulled by crt run"}}});
  push(lay, reg.host(), "private/app", "v1", "alice:s3cret");
  push(lay, reg.host(), "private/prepared", "v1", "alice:s3cret");

  // The hint of a registry that wants credentials names an option crt run has.
  std::string ref = reg.host() + "/private/app:v1";
  Result r = crt({"run", "--ca-file", pki.ca_cert, ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("requires a user name and password: give them with --creds or in an auth file"));
  r = crt({"run", "--ca-file=" + pki.ca_cert, "--creds=alice:s3cret", ref});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "pulled by crt run\n");

  std::ofstream(dir_ + "/auth.json") << json{{"auths", {{reg.host(), {{"auth", "YWxpY2U6czNjcmV0"}}}}}}.dump();
  r = crt({"prepare", "-q", "--ca-file", pki.ca_cert, "--authfile", dir_ + "/auth.json",
           reg.host() + "/private/prepared:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = crt({"run-prepared", r.out.substr(0, 36)});
  EXPECT_EQ(r.out, "pulled by crt run\n") << r.err;
}

TEST_F(RegistryTest, BearerTokenChallengeFlow) {
  TestPki pki(dir_ + "/pki");
  TokenServer tokens(pki.token_key, pki.token_cert, "bob", "hunter2", "crt-test-issuer", "crt-test-registry");
  // One registry without auth to push to, one with token auth over the same storage to pull from.
  LocalRegistry open_reg(dir_ + "/open", {});
  push(layout("app", {}, {{"Cmd", {"/bin/echo", "with a token"}}}), open_reg.host(), "team/app");
  LocalRegistry reg(dir_ + "/token-registry", {open_reg.storage(), "", "", "", tokens.realm(), "crt-test-registry",
                                               "crt-test-issuer", pki.token_cert, ""});
  std::string ref = reg.host() + "/team/app:v1";

  Result r = crt({"image", "pull", "--insecure-registry", reg.host(), ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("refused anonymous access (HTTP 401); give credentials with --creds or in an auth file"));

  r = crt({"image", "pull", "-q", "--insecure-registry", reg.host(), "--creds", "bob:hunter2", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  auto reqs = tokens.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_THAT(reqs.back().target, HasSubstr("service=crt-test-registry"));
  EXPECT_THAT(reqs.back().target, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull"));
  EXPECT_EQ(crt({"run", ref}).out, "with a token\n");
}

// A token server of plain HTTP would see the user's password, and could be
// made to give a forged token, on a line the registry's HTTPS protects: crt
// refuses it, naming it. From an --insecure-registry it may be, as before.
TEST_F(RegistryTest, APlainHttpTokenServerOfAnHttpsRegistryIsRefused) {
  TestPki pki(dir_ + "/pki");
  TokenServer tokens(pki.token_key, pki.token_cert, "bob", "hunter2", "crt-test-issuer", "crt-test-registry");
  LocalRegistry open_reg(dir_ + "/open", {});
  push(layout("app", {}, {{"Cmd", {"/bin/echo", "with a token"}}}), open_reg.host(), "team/app");
  LocalRegistry reg(dir_ + "/token-registry", {open_reg.storage(), pki.server_cert, pki.server_key, "", tokens.realm(),
                                               "crt-test-registry", "crt-test-issuer", pki.token_cert, ""});
  std::string ref = reg.host() + "/team/app:v1";

  Result r = crt({"image", "pull", "--ca-file", pki.ca_cert, "--creds", "bob:hunter2", ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: pulling '" + ref + "': fetching manifest 'v1': the HTTPS registry '" + reg.host() +
                               "' names a plain-HTTP token server, '" + tokens.realm() + "': refused\n"));
  EXPECT_TRUE(tokens.requests().empty()) << "the password was not sent";

  r = crt({"image", "pull", "-q", "--insecure-registry", reg.host(), "--creds", "bob:hunter2", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(tokens.requests().empty());
}

// A registry reached over HTTPS whose blobs are redirected to plain HTTP:
// crt does not follow (a manifest could be swapped that way). From an
// --insecure-registry it does, as before.
TEST_F(RegistryTest, AnHttpsRegistrysRedirectToPlainHttpIsRefused) {
  TestPki pki(dir_ + "/pki");
  LocalRegistry open_reg(dir_ + "/open", {});
  push(layout("app", {}, {{"Cmd", {"/bin/echo", "redirected"}}}), open_reg.host(), "team/app");
  std::string storage = open_reg.storage();
  HttpStub plain_storage([&](const HttpStub::Request& q) { return range_answer(q, read_file(storage + q.target)); });
  LocalRegistry reg(dir_ + "/redirecting",
                    {storage, pki.server_cert, pki.server_key, "", "", "", "", "", plain_storage.url() + "/"});
  std::string ref = reg.host() + "/team/app:v1";

  Result r = crt({"image", "pull", "--ca-file", pki.ca_cert, ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr(": GET https://" + reg.host() + "/v2/team/app/blobs/sha256:"));
  EXPECT_THAT(r.err, HasSubstr(": refused a redirect to plain HTTP: '" + plain_storage.url() + "/docker/registry/v2/"));
  EXPECT_TRUE(plain_storage.requests().empty());

  r = crt({"image", "pull", "-q", "--insecure-registry", reg.host(), ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(plain_storage.requests().empty());
  EXPECT_EQ(crt({"run", ref}).out, "redirected\n");
}

// A storage host whose certificate is not trusted: the hint is its CA
// alone, as --insecure-registry would leave it checked.
TEST_F(RegistryTest, AnUntrustedStorageHostIsToldToBeTrustedByItsCa) {
  TestPki pki(dir_ + "/pki"), other(dir_ + "/other-pki");
  LocalRegistry open_reg(dir_ + "/open", {});
  push(layout("app", {}, {{"Cmd", {"/bin/true"}}}), open_reg.host(), "team/app");
  LocalRegistry storage(dir_ + "/storage",
                        {open_reg.storage(), other.server_cert, other.server_key, "", "", "", "", "", ""});
  LocalRegistry reg(dir_ + "/redirecting", {open_reg.storage(), pki.server_cert, pki.server_key, "", "", "", "", "",
                                            "https://" + storage.host() + "/"});
  Result r = crt({"image", "pull", "--ca-file", pki.ca_cert, reg.host() + "/team/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("GET https://" + storage.host() + "/"));
  EXPECT_THAT(r.err, HasSubstr("(trust its CA with --ca-file or in "));
  EXPECT_THAT(r.err, Not(HasSubstr("--insecure-registry")));
}

}  // namespace
}  // namespace crt::test

namespace crt::test {
namespace {

// A layout as CI pipelines make them: umoci builds it from rootfs trees (a
// file deleted in the second layer becomes umoci's whiteout), skopeo pushes it.
TEST_F(RegistryTest, UmociBuiltLayoutThroughARegistry) {
  if (::access("/usr/bin/umoci", X_OK) != 0) GTEST_SKIP() << "umoci is not installed (scripts/install-deps installs it)";
  std::string lay = dir_ + "/umoci";
  auto umoci = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "umoci");
    Result r = run(args);
    ASSERT_EQ(r.status, 0) << r.err;
  };
  umoci({"init", "--layout", lay});
  umoci({"new", "--image", lay + ":v1"});
  umoci({"unpack", "--image", lay + ":v1", dir_ + "/bundle"});
  std::string root = dir_ + "/bundle/rootfs";
  stdfs::create_directories(root + "/bin");
  stdfs::create_directories(root + "/etc/app");
  stdfs::copy_file("/bin/busybox", root + "/bin/busybox");
  stdfs::create_symlink("busybox", root + "/bin/sh");
  stdfs::create_symlink("busybox", root + "/bin/ls");
  std::ofstream(root + "/etc/app/old.conf") << "old\n";
  std::ofstream(root + "/etc/app/keep.conf") << "keep\n";
  umoci({"repack", "--image", lay + ":v1", dir_ + "/bundle"});
  // The second layer: unpacked afresh, so umoci diffs against the first.
  umoci({"unpack", "--image", lay + ":v1", dir_ + "/bundle2"});
  root = dir_ + "/bundle2/rootfs";
  stdfs::remove(root + "/etc/app/old.conf");
  std::ofstream(root + "/etc/app/new.conf") << "new\n";
  umoci({"repack", "--image", lay + ":v1", dir_ + "/bundle2"});
  umoci({"config", "--image", lay + ":v1", "--config.cmd=/bin/ls", "--config.cmd=/etc/app"});
  push(lay, plain().host(), "ci/app");
  std::string ref = plain().host() + "/ci/app:v1";
  ASSERT_EQ(crt({"image", "pull", "-q", "--insecure-registry", plain().host(), ref}).status, 0);
  EXPECT_EQ(crt::json_text::parse(crt({"image", "inspect", ref}).out)[0]["layers"].size(), 2u);
  Result r = crt({"run", ref});
  EXPECT_EQ(r.out, "keep.conf\nnew.conf\n") << r.err;
}

}  // namespace
}  // namespace crt::test
