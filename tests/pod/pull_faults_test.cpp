// Pulls that meet trouble: redirects, 503s, dropped connections, corrupt
// blobs, a crt killed mid-pull, downloads left complete or wrong, a refused
// resume, two pulls at once; pull policies, short names and progress.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "../support/http_stub.hpp"
#include "registry_fixture.hpp"

namespace crt::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace stdfs = std::filesystem;
using nlohmann::json;

/// A layer of `n` incompressible bytes, so that a transfer can be cut midway.
std::string noise_layer(size_t n) {
  std::mt19937 gen(42);
  std::string data(n, '\0');
  for (auto& c : data) c = static_cast<char>(gen());
  return make_layer({file("noise", data)});
}

class FaultTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped()) return;
    big_ = noise_layer(3 << 20);
    big_digest_ = digest_of(big_);
    push(layout("app", {big_}, {{"Cmd", {"/bin/stat", "-c", "%s", "/noise"}}}), plain().host(), "test/app");
  }

  /// A front to the registry: redirects everything to it, except the big
  /// layer's blob, which `serve_big` answers.
  std::unique_ptr<HttpStub> front(std::function<HttpStub::Response(const HttpStub::Request&, int nth)> serve_big,
                                  int manifest_503s = 0) {
    auto counts = std::make_shared<std::map<std::string, int>>();
    std::string target = "http://" + plain().host();
    return std::make_unique<HttpStub>([=, this](const HttpStub::Request& r) {
      int nth = ++(*counts)[r.target];
      if (r.target.find("/manifests/") != std::string::npos && nth <= manifest_503s)
        return HttpStub::Response{503, {}, "busy", -1, {}};
      if (r.target.find("/blobs/" + big_digest_) != std::string::npos) return serve_big(r, nth);
      return HttpStub::Response{307, {{"Location", target + r.target}}, "", -1, {}};
    });
  }

  /// The big blob from `from` on, as a registry answers a Range request.
  HttpStub::Response big_from(const HttpStub::Request& r) const { return range_answer(r, big_); }

  /// Where a download of the big blob is kept until it is complete.
  std::string partial_path() const { return dir_ + "/store/tmp/blob-" + big_digest_.substr(7) + ".partial"; }

  /// The Range header of each request for the big blob ("": none).
  std::vector<std::string> big_ranges(const HttpStub& stub) const {
    std::vector<std::string> out;
    for (const auto& q : stub.requests())
      if (q.target.find("/blobs/" + big_digest_) != std::string::npos)
        out.push_back(q.headers.count("range") ? q.headers.at("range") : "");
    return out;
  }

  std::string big_;
  std::string big_digest_;
};

TEST_F(FaultTest, RedirectsRetriesAndADroppedConnectionResumed) {
  auto stub = front(
      [&](const HttpStub::Request& r, int nth) {
        if (nth == 1) return HttpStub::Response{200, {}, big_, static_cast<long>(big_.size() / 2), {}};
        return big_from(r);
      },
      1);
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  Result r = crt({"image", "pull", "-q", "--insecure-registry", host, host + "/test/app:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> ranges;
  int manifests = 0;
  for (const auto& q : stub->requests()) {
    if (q.target.find("/blobs/" + big_digest_) != std::string::npos)
      ranges.push_back(q.headers.count("range") ? q.headers.at("range") : "");
    if (q.target.find("/manifests/") != std::string::npos) ++manifests;
  }
  EXPECT_EQ(manifests, 2) << "a 503 is retried";
  EXPECT_EQ(ranges, (std::vector<std::string>{"", "bytes=" + std::to_string(big_.size() / 2) + "-"}))
      << "the second request asks only for what is missing";
  EXPECT_EQ(plain().requests_for("/manifests/v1"), 1) << "the manifest came through the redirect";
  r = crt({"run", host + "/test/app:v1"});
  EXPECT_EQ(r.out, std::to_string(3 << 20) + "\n") << r.err;
}

TEST_F(FaultTest, ACorruptBlobIsRefusedAndLeavesNoImage) {
  auto stub = front([&](const HttpStub::Request&, int) {
    std::string bad = big_;
    bad[bad.size() - 100] = static_cast<char>(bad[bad.size() - 100] ^ 0x55);
    return HttpStub::Response{200, {}, bad, -1, {}};
  });
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  Result r = crt({"image", "pull", "--insecure-registry", host, host + "/test/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("crt: pulling '" + host + "/test/app:v1': fetching blob " + big_digest_ +
                               ": it is corrupt: got " + std::to_string(big_.size()) + " bytes with digest sha256:"));
  EXPECT_TRUE(store_entries("trees").empty());
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("test/app")));
  for (const auto& b : store_entries("blobs/sha256")) EXPECT_NE("sha256:" + b, big_digest_);
  EXPECT_TRUE(store_entries("tmp").empty()) << "no empty partial download is left";
}

// A registry that sends on past a blob's size does not fill the disk: the
// pull stops at the size the manifest gave.
TEST_F(FaultTest, ABlobLongerThanItsSizeIsCutOffAndRefused) {
  auto stub = front([&](const HttpStub::Request&, int) {
    return HttpStub::Response{200, {}, big_ + std::string(4 << 20, 'x'), -1, {}};
  });
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  Result r = crt({"image", "pull", "--insecure-registry", host, host + "/test/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("fetching blob " + big_digest_ + ": it is corrupt: more than its " +
                               std::to_string(big_.size()) + " bytes came"));
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("test/app")));
  EXPECT_TRUE(store_entries("tmp").empty()) << "nothing of it is left to resume";
}

// An image that fails within crt run, once its first layer is unpacked, is
// taken back as in crt image pull. crt run holds the store's lock from the
// lookup of its images until they are mounted: the rollback, which needs
// the lock to itself, lets go of that hold for the moment (else it waited
// for itself, gave up, and left the layers it had unpacked).
TEST_F(FaultTest, AnImageThatFailsWithinARunIsTakenBackToo) {
  ASSERT_EQ(crt({"run", "--net=none", "busybox", "--", "/bin/true"}).status, 0);  // stage1 and busybox stored
  auto sorted_trees = [this] {
    std::vector<std::string> v = store_entries("trees");
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> trees = sorted_trees();
  push(layout("bad", {make_layer({file("../evil", "x")})}), plain().host(), "test/bad");
  Result r = crt({"run", "--net=none", "--insecure-registry", plain().host(), plain().host() + "/test/bad:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("../evil"));
  EXPECT_THAT(r.err, Not(HasSubstr("warning"))) << "the rollback was not done";
  EXPECT_EQ(sorted_trees(), trees) << "the busybox layer unpacked first is taken out";
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("test/bad")));
}

TEST_F(FaultTest, APullKilledMidwayResumesWithoutFetchingFinishedBlobsAgain) {
  auto stub = front([&](const HttpStub::Request& r, int nth) {
    if (nth == 1) return HttpStub::Response{200, {}, big_, static_cast<long>(big_.size() / 3), std::chrono::seconds(30)};
    return big_from(r);
  });
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  std::string ref = host + "/test/app:v1";
  {
    Process p(crt_argv({"image", "pull", "-q", "--insecure-registry", host, ref}));
    stdfs::path partial = dir_ + "/store/tmp/blob-" + big_digest_.substr(7) + ".partial";
    std::error_code ec;
    for (int i = 0; i < 500 && stdfs::file_size(partial, ec) != big_.size() / 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(stdfs::file_size(partial, ec), big_.size() / 3) << "crt is midway";
    p.signal(SIGKILL);
    p.wait();
  }
  EXPECT_TRUE(store_entries("trees").empty()) << "no half tree is visible";
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("test/app")));

  Result r = crt({"image", "pull", "-q", "--insecure-registry", host, ref});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string base = digest_of(busybox_layer());
  int base_fetches = 0;
  std::vector<std::string> big_ranges;
  for (const auto& q : stub->requests()) {
    if (q.target.find("/blobs/" + base) != std::string::npos) ++base_fetches;
    if (q.target.find("/blobs/" + big_digest_) != std::string::npos)
      big_ranges.push_back(q.headers.count("range") ? q.headers.at("range") : "");
  }
  EXPECT_EQ(base_fetches, 1) << "the finished blob was kept";
  EXPECT_EQ(big_ranges, (std::vector<std::string>{"", "bytes=" + std::to_string(big_.size() / 3) + "-"}));
  EXPECT_EQ(crt({"run", ref}).out, std::to_string(3 << 20) + "\n");
  EXPECT_TRUE(store_entries("tmp").empty());
}

// ^C ends a pull as it ends an import: crt says so, cleans up after itself
// and ends by the signal; the download so far is kept for the next pull.
TEST_F(FaultTest, APullStoppedByCtrlCSaysSoAndLeavesNoHalfImage) {
  auto stub = front([&](const HttpStub::Request& r, int nth) {
    if (nth == 1)
      return HttpStub::Response{200, {}, big_, static_cast<long>(big_.size() / 3), std::chrono::seconds(30)};
    return big_from(r);
  });
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  std::string ref = host + "/test/app:v1";
  RunOptions session;
  session.new_session = true;
  Process p(crt_argv({"image", "pull", "-q", "--insecure-registry", host, ref}), session);
  std::error_code ec;
  for (int i = 0; i < 500 && stdfs::file_size(partial_path(), ec) != big_.size() / 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(stdfs::file_size(partial_path(), ec), big_.size() / 3) << "crt is midway";
  ::kill(-p.pid(), SIGINT);
  Result r = p.wait();
  EXPECT_EQ(r.signal, SIGINT) << r.status << " " << r.err;
  EXPECT_THAT(r.err, HasSubstr("interrupted"));
  EXPECT_TRUE(store_entries("trees").empty());
  EXPECT_THAT(crt({"image", "list"}).out, Not(HasSubstr("test/app")));
  r = crt({"image", "pull", "-q", "--insecure-registry", host, ref});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(store_entries("tmp").empty());
}

// A pull stopped after a blob arrived whole, before it was stored, leaves
// a partial of full size: it is checked and stored without asking for
// bytes past its end, which registries refuse (416) for good.
TEST_F(FaultTest, APartialDownloadThatIsCompleteIsCheckedAndStoredWithoutARequest) {
  ASSERT_EQ(crt({"image", "list"}).status, 0);  // the store exists
  std::ofstream(partial_path(), std::ios::binary) << big_;
  std::string ref = plain().host() + "/test/app:v1";
  Result r = crt({"image", "pull", "-q", "--insecure-registry", plain().host(), ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(plain().requests_for("/blobs/" + big_digest_), 0);
  EXPECT_TRUE(store_entries("tmp").empty());
  EXPECT_EQ(crt({"run", ref}).out, std::to_string(3 << 20) + "\n");
}

TEST_F(FaultTest, APartialDownloadOfWrongContentIsFetchedAgainWhole) {
  auto stub = front([&](const HttpStub::Request& r, int) { return big_from(r); });
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  ASSERT_EQ(crt({"image", "list"}).status, 0);
  std::string bad = big_;
  bad[100] = static_cast<char>(bad[100] ^ 0x55);
  for (size_t size : {bad.size(), bad.size() / 2}) {
    SCOPED_TRACE(size);
    std::ofstream(partial_path(), std::ios::binary) << bad.substr(0, size);
    Result r = crt({"image", "pull", "-q", "--insecure-registry", host, host + "/test/app:v1"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(big_ranges(*stub).back(), "") << "the last request asks for all of it";
    EXPECT_TRUE(store_entries("tmp").empty());
    ASSERT_EQ(crt({"image", "rm", host + "/test/app:v1"}).status, 0);
  }
  EXPECT_EQ(big_ranges(*stub), (std::vector<std::string>{"", "bytes=" + std::to_string(bad.size() / 2) + "-", ""}))
      << "complete: checked, then fetched whole; half: resumed, found wrong, fetched whole";
}

// A dropped connection whose resume the server answers with another part
// than the one asked for (here the blob's start again), or refuses (416):
// the blob is found wrong, and fetched once more whole.
TEST_F(FaultTest, AResumeAfterADroppedConnectionThatGoesWrongStartsAgainFromZero) {
  const std::string half = std::to_string(big_.size() / 2);
  const std::string wrong_part = big_.substr(0, big_.size() - big_.size() / 2);
  const std::string range = "bytes " + half + "-" + std::to_string(big_.size() - 1) + "/" + std::to_string(big_.size());
  for (const HttpStub::Response& resumed : {HttpStub::Response{206, {{"Content-Range", range}}, wrong_part, -1, {}},
                                            HttpStub::Response{416, {}, big_, 0, {}}}) {
    SCOPED_TRACE(resumed.status);
    auto stub = front([&](const HttpStub::Request& r, int nth) {
      if (nth == 1) return HttpStub::Response{200, {}, big_, static_cast<long>(big_.size() / 2), {}};
      return r.headers.count("range") ? resumed : big_from(r);
    });
    std::string host = "127.0.0.1:" + std::to_string(stub->port());
    Result r = crt({"image", "pull", "-q", "--insecure-registry", host, host + "/test/app:v1"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(big_ranges(*stub), (std::vector<std::string>{"", "bytes=" + half + "-", ""}));
    EXPECT_TRUE(store_entries("tmp").empty());
    ASSERT_EQ(crt({"image", "rm", host + "/test/app:v1"}).status, 0);
    ASSERT_EQ(crt({"image", "gc"}).status, 0);
  }
}

// A registry that refuses a resume (416: the blob is shorter than what
// crt has of it) announces a body it does not send, as docker-distribution
// does.
TEST_F(FaultTest, AResumeTheRegistryRefusesStartsAgainFromZero) {
  auto stub = front([&](const HttpStub::Request& r, int) {
    if (r.headers.count("range")) return HttpStub::Response{416, {}, big_, 0, {}};
    return big_from(r);
  });
  std::string host = "127.0.0.1:" + std::to_string(stub->port());
  ASSERT_EQ(crt({"image", "list"}).status, 0);
  std::ofstream(partial_path(), std::ios::binary) << big_.substr(0, big_.size() / 2);
  Result r = crt({"image", "pull", "-q", "--insecure-registry", host, host + "/test/app:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(big_ranges(*stub), (std::vector<std::string>{"bytes=" + std::to_string(big_.size() / 2) + "-", ""}));
  EXPECT_TRUE(store_entries("tmp").empty());
  EXPECT_EQ(crt({"run", host + "/test/app:v1"}).out, std::to_string(3 << 20) + "\n");
}

TEST_F(FaultTest, TwoPullsAndTwoRunsAtOnceStoreEachLayerOnce) {
  std::string ref = plain().host() + "/test/app:v1";
  {
    Process a(crt_argv({"image", "pull", "-q", "--insecure-registry", plain().host(), ref}));
    Process b(crt_argv({"image", "pull", "-q", "--insecure-registry", plain().host(), ref}));
    Result ra = a.wait(), rb = b.wait();
    EXPECT_EQ(ra.status, 0) << ra.err;
    EXPECT_EQ(rb.status, 0) << rb.err;
    EXPECT_EQ(ra.out, rb.out);
  }
  EXPECT_EQ(store_entries("trees").size(), 2u);
  EXPECT_EQ(plain().requests_for("/blobs/" + big_digest_), 1) << "one download, the other pull waited for it";
  EXPECT_EQ(plain().requests_for("/blobs/" + digest_of(busybox_layer())), 1);

  // Two pods of an image not yet there: both pull it, one of them does the work.
  push(layout("two", {make_layer({file("two", "2\n")})}, {{"Cmd", {"/bin/cat", "/two"}}}), plain().host(), "test/two");
  std::string two = plain().host() + "/test/two:v1";
  Process a(crt_argv({"run", "--insecure-registry", plain().host(), two}));
  Process b(crt_argv({"run", "--insecure-registry", plain().host(), two}));
  Result ra = a.wait(), rb = b.wait();
  EXPECT_EQ(ra.out, "2\n") << ra.err;
  EXPECT_EQ(rb.out, "2\n") << rb.err;
  EXPECT_EQ(store_entries("trees").size(), 4u) << "busybox, the noise, two, and the stage1";
}

TEST_F(FaultTest, PullPolicies) {
  std::string ref = plain().host() + "/test/app:v1";
  std::string insecure = "--insecure-registry=" + plain().host();
  Result r = crt({"run", "--pull-policy=never", insecure, ref});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no image '" + ref + "' in the store, and the pull policy is 'never'"));
  r = crt({"run", insecure, ref});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(plain().requests_for("/manifests/v1"), 1);
  r = crt({"run", "--pull-policy=never", ref});
  EXPECT_EQ(r.status, 0) << r.err;
  r = crt({"run", insecure, ref});
  EXPECT_EQ(plain().requests_for("/manifests/v1"), 1) << "missing: present, so not pulled";
  r = crt({"run", "--pull-policy=always", insecure, ref});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(plain().requests_for("/manifests/v1"), 2) << "always: the tag is looked up again";
  EXPECT_EQ(plain().requests_for("/blobs/" + big_digest_), 1) << "but no blob is fetched twice";
  r = crt({"run", "--pull-policy=sometimes", ref});
  EXPECT_EQ(r.status, 254);
}

TEST_F(FaultTest, ShortNamesGoOnlyToConfiguredRegistries) {
  std::ofstream(dir_ + "/none.conf") << "";  // no registries configured
  Result r = crt({"--config=" + dir_ + "/none.conf", "image", "pull", "test/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("'test/app:v1' is a short name and no default registry is configured"));
  std::ofstream(dir_ + "/crt.conf") << "[registries]\ndefault = 127.0.0.1:1 " << plain().host()
                                    << "\ninsecure = 127.0.0.1:1 " << plain().host() << "\n";
  r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "test/app:v1"});
  EXPECT_EQ(r.status, 254) << "an unreachable registry is an error, not a miss";
  std::ofstream(dir_ + "/crt.conf") << "[registries]\ndefault = " << plain().host() << "\ninsecure = " << plain().host()
                                    << "\n";
  r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "test/app:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: resolved 'test/app:v1' to '" + plain().host() + "/test/app:v1'\n") << "never silently";
  r = crt({"--config=" + dir_ + "/crt.conf", "run", "--pull-policy=never", "test/app:v1"});
  EXPECT_EQ(r.out, std::to_string(3 << 20) + "\n") << r.err;
}

// Docker Hub answers a repository it does not have with 401 (after giving
// an anonymous token for it): for a short name, a miss like a 404.
TEST_F(FaultTest, AShortNameGoesOnPastARegistryThatDeniesIt) {
  std::string realm;
  HttpStub hub([&](const HttpStub::Request& r) {
    if (r.target.rfind("/token", 0) == 0) return HttpStub::Response{200, {}, R"({"token":"anonymous"})", -1, {}};
    std::string body = R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})";
    return HttpStub::Response{
        401, {{"WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"hub\""}}, body, -1, {}};
  });
  realm = hub.url() + "/token";
  std::string hub_host = "127.0.0.1:" + std::to_string(hub.port());
  std::ofstream(dir_ + "/crt.conf") << "[registries]\ndefault = " << hub_host << " " << plain().host()
                                    << "\ninsecure = " << hub_host << " " << plain().host() << "\n";
  Result r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "test/app:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: resolved 'test/app:v1' to '" + plain().host() + "/test/app:v1'\n");
  // Missing everywhere: each registry's answer is said.
  r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "-q", "test/nothing:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("no default registry has 'test/nothing:v1': "));
  EXPECT_THAT(r.err, HasSubstr("access denied by '" + hub_host + "'"));
  EXPECT_THAT(r.err, HasSubstr("; pulling '" + plain().host() + "/test/nothing:v1'"));
  // Named in full, the refusal is the error it is.
  r = crt({"image", "pull", "--insecure-registry=" + hub_host, hub_host + "/test/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("access denied by '" + hub_host + "' (HTTP 401"));

  // A registry whose token server refuses anonymous access to a repository
  // it lacks is passed over the same way.
  std::string locked_realm;
  HttpStub locked([&](const HttpStub::Request& q) {
    if (q.target.rfind("/token", 0) == 0) return HttpStub::Response{401, {}, "{}", -1, {}};
    return HttpStub::Response{
        401, {{"WWW-Authenticate", "Bearer realm=\"" + locked_realm + "\",service=\"locked\""}}, "{}", -1, {}};
  });
  locked_realm = locked.url() + "/token";
  std::string locked_host = "127.0.0.1:" + std::to_string(locked.port());
  std::ofstream(dir_ + "/crt.conf") << "[registries]\ndefault = " << locked_host << " " << plain().host()
                                    << "\ninsecure = " << locked_host << " " << plain().host() << "\n";
  ASSERT_EQ(crt({"image", "rm", plain().host() + "/test/app:v1"}).status, 0);
  r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "test/app:v1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "crt: resolved 'test/app:v1' to '" + plain().host() + "/test/app:v1'\n");
  r = crt({"image", "pull", "--insecure-registry=" + locked_host, locked_host + "/test/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("refused anonymous access (HTTP 401); give credentials with --creds"));
}

// A registry that has the manifest but fails to give the image (its
// configuration blob gone) is no miss: the next registry's image of the
// name would be another's.
TEST_F(FaultTest, AShortNameStopsAtARegistryThatHasTheManifestButNotItsBlob) {
  std::string target = "http://" + plain().host();
  HttpStub first([&](const HttpStub::Request& r) {
    if (r.target.find("/blobs/") != std::string::npos)
      return HttpStub::Response{404, {}, R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]})", -1, {}};
    return HttpStub::Response{307, {{"Location", target + r.target}}, "", -1, {}};
  });
  std::string first_host = "127.0.0.1:" + std::to_string(first.port());
  std::ofstream(dir_ + "/crt.conf") << "[registries]\ndefault = " << first_host << " " << plain().host()
                                    << "\ninsecure = " << first_host << " " << plain().host() << "\n";
  Result r = crt({"--config=" + dir_ + "/crt.conf", "image", "pull", "-q", "test/app:v1"});
  EXPECT_EQ(r.status, 254);
  EXPECT_THAT(r.err, HasSubstr("pulling '" + first_host + "/test/app:v1': fetching blob sha256:"));
  EXPECT_THAT(r.err, HasSubstr("HTTP 404"));
  EXPECT_THAT(r.err, Not(HasSubstr(plain().host() + "/test/app")));
  EXPECT_EQ(crt({"image", "inspect", plain().host() + "/test/app:v1"}).status, 254) << "nothing pulled";
}

TEST_F(FaultTest, ProgressOnATerminalOnly) {
  Result t =
      run_on_terminal(crt_argv({"image", "pull", "--insecure-registry", plain().host(), plain().host() + "/test/app:v1"}));
  int status = t.status;
  std::string out = t.out;
  EXPECT_EQ(status, 0) << out;
  EXPECT_THAT(out, HasSubstr("\x1b[2K")) << "lines redrawn in place";
  EXPECT_THAT(out, HasSubstr(big_digest_.substr(7, 12) + "  fetched"));
  EXPECT_THAT(out, HasSubstr(big_digest_.substr(7, 12) + "  done"));
  EXPECT_THAT(out, ::testing::ContainsRegex("pulled " + plain().host() + "/test/app:v1 \\([0-9a-f]{12}, 2 layers\\), "
                                            "[0-9.]+ MB fetched in [0-9.]+s"));

  // An import shows its layers the same way, and --quiet only the id.
  std::string archive = dir_ + "/app.tar";
  ASSERT_EQ(crt({"image", "export", plain().host() + "/test/app:v1", archive}).status, 0);
  ASSERT_EQ(crt({"image", "rm", plain().host() + "/test/app:v1"}).status, 0);
  ASSERT_EQ(crt({"image", "gc"}).status, 0);
  t = run_on_terminal(crt_argv({"image", "import", archive, "again:v1"}));
  status = t.status;
  out = t.out;
  EXPECT_EQ(status, 0) << out;
  EXPECT_THAT(out, HasSubstr("\x1b[2K"));
  EXPECT_THAT(out, HasSubstr(big_digest_.substr(7, 12) + "  done"));
  EXPECT_THAT(out, ::testing::ContainsRegex("imported 1 image in [0-9.]+s"));
  t = run_on_terminal(crt_argv({"image", "import", "--quiet", archive, "again:v2"}));
  status = t.status;
  out = t.out;
  EXPECT_EQ(status, 0) << out;
  EXPECT_THAT(out, ::testing::MatchesRegex("sha256:[0-9a-f]{64}\r?\n"));
}

}  // namespace
}  // namespace crt::test
