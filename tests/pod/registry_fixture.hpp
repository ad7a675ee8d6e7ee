#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../support/oci_builder.hpp"
#include "../support/registry.hpp"
#include "pod_fixture.hpp"

namespace crt::test {

/// Pod tests with images in OCI layouts and real registries on 127.0.0.1.
/// Skips (naming them) when docker-registry, skopeo or openssl are missing.
class RegistryTest : public PodTest {
 protected:
  void SetUp() override;
  /// Stops the registries before PodTest checks that nothing is left.
  void TearDown() override;

  /// A layer with a static busybox and its applets the tests use.
  static const std::string& busybox_layer();
  /// A layout `name` with one image of `layers` over busybox, tagged `tag`.
  std::string layout(const std::string& name, const std::vector<std::string>& layers,
                     const nlohmann::json& config = nlohmann::json::object(), const std::string& tag = "v1");
  /// Pushes layout `dir`:`tag` to `registry`/`repo`:`tag`.
  void push(const std::string& dir, const std::string& registry, const std::string& repo, const std::string& tag = "v1",
            const std::string& creds = "");
  /// A plain HTTP registry started on first use.
  LocalRegistry& plain();

  std::unique_ptr<LocalRegistry> plain_;
};

}  // namespace crt::test
