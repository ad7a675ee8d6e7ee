#include "registry_fixture.hpp"

#include <filesystem>

namespace crt::test {

namespace stdfs = std::filesystem;

void RegistryTest::SetUp() {
  PodTest::SetUp();
  if (IsSkipped()) return;
  std::string missing = missing_registry_tools();
  if (!missing.empty()) GTEST_SKIP() << "not installed: " << missing << " (scripts/install-deps installs them)";
}

void RegistryTest::TearDown() {
  plain_.reset();
  PodTest::TearDown();
}

const std::string& RegistryTest::busybox_layer() {
  static const std::string layer = [] {
    std::vector<LayerEntry> e = {dir("bin"), file("bin/busybox", read_file("/bin/busybox"), 0755), dir("etc"),
                                 file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/sh\n"),
                                 file("etc/group", "root:x:0:\ndaemon:x:1:\n")};
    for (const char* applet : {"sh", "cat", "ls", "echo", "id", "sleep", "stat", "true"})
      e.push_back(symlink(std::string("bin/") + applet, "busybox"));
    return make_layer(e);
  }();
  return layer;
}

std::string RegistryTest::layout(const std::string& name, const std::vector<std::string>& layers,
                                 const nlohmann::json& config, const std::string& tag) {
  std::string d = dir_ + "/" + name;
  OciLayout lay(d);
  std::vector<std::string> all = {busybox_layer()};
  all.insert(all.end(), layers.begin(), layers.end());
  lay.write_index({{lay.add_image(all, config), tag}});
  return d;
}

void RegistryTest::push(const std::string& d, const std::string& registry, const std::string& repo,
                        const std::string& tag, const std::string& creds) {
  skopeo_copy("oci:" + d + ":" + tag, "docker://" + registry + "/" + repo + ":" + tag, creds);
}

LocalRegistry& RegistryTest::plain() {
  if (!plain_) plain_ = std::make_unique<LocalRegistry>(dir_ + "/registry", RegistryConfig{});
  return *plain_;
}

}  // namespace crt::test
