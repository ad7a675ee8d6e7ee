// Pulls from registries HttpStub plays on 127.0.0.1, through the library
// as `crt image pull` and `crt run` pull: each test a way a registry, or
// the line to it, may answer that crt must take right.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "../support/blob_damage.hpp"
#include "../support/http_stub.hpp"
#include "../support/oci_builder.hpp"
#include "../support/process.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "registry/client.hpp"
#include "registry/pull.hpp"
#include "runtime/image_pull.hpp"
#include "store/blob_store.hpp"
#include "store/export.hpp"
#include "store/store.hpp"
#include "test_support.hpp"

namespace crt::registry {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;
using test::HttpStub;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

/// The repository "test/app" of a registry: manifests by tag or digest and
/// blobs out of an OCI layout. `hook` answers a request first when it
/// returns an answer.
class FakeRegistry {
 public:
  using Hook = std::function<std::optional<HttpStub::Response>(const HttpStub::Request&)>;
  explicit FakeRegistry(const test::OciLayout& layout, Hook hook = {})
      : blobs_(layout.dir() / "blobs" / "sha256"), hook_(std::move(hook)) {}

  void tag(const std::string& tag, const std::string& digest) { tags_[tag] = digest; }
  [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(stub_.port()); }
  [[nodiscard]] const HttpStub& stub() const { return stub_; }

 private:
  HttpStub::Response serve(const HttpStub::Request& r) {
    if (hook_)
      if (std::optional<HttpStub::Response> answer = hook_(r)) return *answer;
    std::string digest;
    for (const char* kind : {"manifests/", "blobs/"})
      if (std::string prefix = std::string("/v2/test/app/") + kind; r.target.rfind(prefix, 0) == 0)
        digest = r.target.substr(prefix.size());
    if (auto t = tags_.find(digest); t != tags_.end()) digest = t->second;
    std::error_code ec;
    stdfs::path blob = blobs_ / digest.substr(std::min<size_t>(7, digest.size()));
    if (digest.rfind("sha256:", 0) != 0 || !stdfs::is_regular_file(blob, ec))
      return {404, {}, R"({"errors":[{"code":"NOT_FOUND","message":"unknown"}]})", -1, {}};
    return test::range_answer(r, test::read_text(blob));
  }

  stdfs::path blobs_;
  Hook hook_;
  std::map<std::string, std::string> tags_;
  HttpStub stub_{[this](const HttpStub::Request& r) { return serve(r); }};  // last: it calls serve()
};

std::string host_of(const HttpStub& stub) { return "127.0.0.1:" + std::to_string(stub.port()); }

/// `n` bytes that do not compress.
std::string noise(size_t n) {
  std::mt19937 gen(7);
  std::string data(n, '\0');
  for (auto& c : data) c = static_cast<char>(gen());
  return data;
}

class RegistryPull : public ::testing::Test {
 protected:
  RegistryPull() {
    v1_ = layout_.add_image({test::make_layer({test::file("v", "1\n")})})["digest"].get<std::string>();
    v2_ = layout_.add_image({test::make_layer({test::file("v", "2\n")})})["digest"].get<std::string>();
  }

  /// Short names go to `registries`, in order; all of them plain HTTP.
  [[nodiscard]] runtime::ResolveOptions options(const std::vector<std::string>& registries) const {
    runtime::ResolveOptions o;
    o.default_registries = registries;
    o.pull.insecure_registries = registries;
    o.pull.auth_files = {};  // not the user's
    o.pull.certs_dir = s_ / "certs.d";
    return o;
  }

  /// A client of a plain-HTTP registry that tries each request `attempts` times.
  static ClientOptions plain_client(int attempts) {
    ClientOptions o;
    o.insecure = true;
    o.attempts = attempts;
    o.backoff = 1ms;
    return o;
  }

  test::Scratch s_;
  test::OciLayout layout_{s_ / "layout"};
  store::Store store_{s_ / "store"};
  std::string v1_, v2_;
};

// As Docker has it: the digest decides what is pulled, so the tag beside it
// names nothing (it may name other content in the registry by now).
TEST_F(RegistryPull, ATagBesideADigestNamesNothing) {
  FakeRegistry reg(layout_);
  reg.tag("v2", v2_);
  runtime::ResolveOptions o = options({reg.host()});
  std::string app = reg.host() + "/test/app";
  store::Image v2 = runtime::pull(store_, app + ":v2", o);
  store::Image v1 = runtime::pull(store_, app + ":v2@" + v1_, o);
  EXPECT_NE(v1.id, v2.id);
  EXPECT_TRUE(v1.names.empty());
  EXPECT_EQ(store_.find(app + ":v2")->id, v2.id) << "v2 still names what the registry has under v2";
  EXPECT_EQ(store_.find(app + "@" + v1_)->id, v1.id) << "the digest names what it pulled";
}

// A configuration the store has but that is damaged is fetched again, and
// the pull puts it right.
TEST_F(RegistryPull, ADamagedStoredConfigurationIsFetchedAgain) {
  FakeRegistry reg(layout_);
  reg.tag("v1", v1_);
  runtime::ResolveOptions o = options({reg.host()});
  std::string app = reg.host() + "/test/app:v1";
  store::Image first = runtime::pull(store_, app, o);
  test::write_text(store_.blobs().path(first.id), "{}");
  store::Image again = runtime::pull(store_, app, o);
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(test::digest_of(test::read_text(store_.blobs().path(first.id))), first.id);
  ASSERT_TRUE(store_.find(app));
}

// A layer blob an image pairs with its tree is trusted by a pull, not
// fetched again: the export that finds it damaged takes it out of the
// store, and the next pull fetches it.
TEST_F(RegistryPull, ALayerBlobAnExportFoundDamagedIsFetchedByTheNextPull) {
  FakeRegistry reg(layout_);
  reg.tag("v1", v1_);
  runtime::ResolveOptions o = options({reg.host()});
  std::string app = reg.host() + "/test/app:v1";
  store::Image im = runtime::pull(store_, app, o);
  std::string layer = im.blobs.at(0).digest;
  test::flip_a_byte(store_.blobs().path(layer));
  EXPECT_THAT(test::error_of([&] { store::export_oci_archive(store_, im, s_ / "out.tar", "v1"); }),
              HasSubstr("; removed the damaged blob: import or pull '" + app + "' again to repair it"));
  EXPECT_FALSE(store_.blobs().has(layer));
  runtime::pull(store_, app, o);
  EXPECT_EQ(test::digest_of(test::read_text(store_.blobs().path(layer))), layer);
  EXPECT_NO_THROW(store::export_oci_archive(store_, *store_.find(app), s_ / "out.tar", "v1"));
}

// A layer blob the store has but no image pairs with its tree is read by
// the pull, which fetched nothing for it: found damaged, it is taken out
// and fetched again, whether the layer's tree is there (the blob checked)
// or not (unpacked).
TEST_F(RegistryPull, ADamagedLayerBlobNoImagePairsIsFetchedAgainByThePull) {
  FakeRegistry reg(layout_);
  reg.tag("v1", v1_);
  runtime::ResolveOptions o = options({reg.host()});
  std::string app = reg.host() + "/test/app:v1";
  std::vector<std::string> told;
  store_.set_messages([&](std::string_view m) { told.emplace_back(m); });
  for (bool tree_there : {false, true}) {
    SCOPED_TRACE(tree_there ? "the tree is there" : "no tree");
    store::Image first = runtime::pull(store_, app, o);
    std::string layer = first.blobs.at(0).digest, diff_id = first.layers.at(0);
    std::string blob = test::read_text(store_.blobs().path(layer));
    // Gone with its image, but for its tree when a pod uses it.
    store_.remove(app, [&] {
      return store::Pins{tree_there ? std::set<std::string>{diff_id} : std::set<std::string>{}, false};
    });
    ASSERT_FALSE(store_.blobs().has(layer));
    ASSERT_EQ(stdfs::exists(store_.tree_path(diff_id)), tree_there);
    test::write_text(store_.blobs().path(layer), blob);
    test::flip_a_byte(store_.blobs().path(layer));
    std::string damaged = test::digest_of(test::read_text(store_.blobs().path(layer)));
    told.clear();
    size_t requests = reg.stub().requests().size();

    store::Image again = runtime::pull(store_, app, o);
    EXPECT_EQ(again.id, first.id);
    EXPECT_EQ(test::read_text(store_.blobs().path(layer)), blob) << "the fetched copy replaced the damaged one";
    EXPECT_EQ(test::read_text(store_.tree_path(diff_id) / "v"), "1\n");
    ASSERT_EQ(told.size(), 1u);
    EXPECT_EQ(told[0], "warning: layer blob " + layer + " was damaged in the store (its content was " + damaged +
                           "); fetched it again");
    std::vector<HttpStub::Request> asked = reg.stub().requests();
    EXPECT_EQ(std::count_if(asked.begin() + static_cast<ptrdiff_t>(requests), asked.end(),
                            [&](const HttpStub::Request& r) { return r.target == "/v2/test/app/blobs/" + layer; }),
              1)
        << "fetched again by this pull";
    EXPECT_TRUE(test::list_dir(store_.root() / "tmp").empty());
    EXPECT_NO_THROW(store::export_oci_archive(store_, again, s_ / (tree_there ? "tree.tar" : "no-tree.tar"), "v1"));
  }
}

// The registry's copy is no better: the pull fails saying both, and leaves
// neither the damaged blob nor what it unpacked; the next pull, from a
// registry that serves it right, stores it.
TEST_F(RegistryPull, ADamagedLayerBlobTheRegistryServesDamagedTooFailsThePull) {
  std::string layer, wrong;
  FakeRegistry reg(layout_, [&](const HttpStub::Request& r) -> std::optional<HttpStub::Response> {
    if (wrong.empty() || r.target != "/v2/test/app/blobs/" + layer) return std::nullopt;
    return test::range_answer(r, wrong);
  });
  reg.tag("v1", v1_);
  runtime::ResolveOptions o = options({reg.host()});
  std::string app = reg.host() + "/test/app:v1";
  std::vector<std::string> told;
  store_.set_messages([&](std::string_view m) { told.emplace_back(m); });
  store::Image first = runtime::pull(store_, app, o);
  layer = first.blobs.at(0).digest;
  std::string blob = test::read_text(store_.blobs().path(layer));
  store_.remove(app);
  test::write_text(store_.blobs().path(layer), blob);
  test::flip_a_byte(store_.blobs().path(layer));
  wrong = test::read_text(store_.blobs().path(layer));
  std::string damaged = test::digest_of(wrong);

  EXPECT_THAT(test::error_of([&] { runtime::pull(store_, app, o); }),
              HasSubstr(": layer 1 (" + layer + "): the store's copy was damaged (its content is " + damaged +
                        ") and is removed; the registry's copy: fetching blob " + layer + ": it is corrupt: got " +
                        std::to_string(wrong.size()) + " bytes with digest " + damaged));
  EXPECT_TRUE(told.empty());
  EXPECT_FALSE(store_.blobs().has(layer));
  EXPECT_FALSE(stdfs::exists(store_.tree_path(first.layers.at(0))));
  EXPECT_TRUE(test::list_dir(store_.root() / "tmp").empty());
  EXPECT_FALSE(store_.find(app));

  wrong.clear();
  runtime::pull(store_, app, o);
  EXPECT_EQ(test::read_text(store_.blobs().path(layer)), blob);
  EXPECT_TRUE(told.empty()) << "nothing was damaged";
}

// Host names are case-insensitive: a registry as crt.conf, --insecure-registry
// or an auth file writes it is the one a reference names, lowercased.
TEST(RegistryClientOptions, RegistriesMatchHoweverTheyAreCased) {
  test::Scratch s;
  test::write_text(s / "auth.json", json{{"auths", {{"Reg.Example", {{"auth", base64_encode("u:p")}}}}}}.dump());
  PullOptions opts;
  opts.insecure_registries = {"REG.example"};
  opts.auth_files = {s / "auth.json"};
  ClientOptions c = client_options(parse_remote_reference("Reg.EXAMPLE/app")->registry, "app", opts);
  EXPECT_TRUE(c.insecure);
  ASSERT_TRUE(c.credentials);
  EXPECT_EQ(c.credentials->username, "u");
}

// Wrong credentials for the first of the default registries must not pull
// a namesake from the next: the user meant the one they have an account with.
TEST_F(RegistryPull, RefusedCredentialsEndAShortNamesSearch) {
  HttpStub locked([](const HttpStub::Request&) {
    return HttpStub::Response{401, {{"WWW-Authenticate", "Basic realm=\"x\""}}, "", -1, {}};
  });
  FakeRegistry open(layout_);
  open.tag("v1", v1_);
  runtime::ResolveOptions o = options({host_of(locked), open.host()});
  test::write_text(s_ / "auth.json", json{{"auths", {{host_of(locked), {{"auth", base64_encode("u:wrong")}}}}}}.dump());
  o.pull.auth_files = {s_ / "auth.json"};
  EXPECT_THAT(test::error_of([&] { runtime::pull(store_, "test/app:v1", o); }),
              HasSubstr("the registry '" + host_of(locked) + "' refused the credentials of user 'u' (from '" +
                        (s_ / "auth.json").string() + "'): HTTP 401"));
  EXPECT_TRUE(open.stub().requests().empty()) << "the next registry was not asked";
}

/// A registry that serves "test/app" to user "u" with `password` alone (Basic).
FakeRegistry::Hook basic_auth(const std::string& password) {
  return [password](const HttpStub::Request& r) -> std::optional<HttpStub::Response> {
    if (auto a = r.headers.find("authorization");
        a != r.headers.end() && a->second == "Basic " + base64_encode("u:" + password))
      return std::nullopt;
    return HttpStub::Response{401, {{"WWW-Authenticate", "Basic realm=\"x\""}}, "", -1, {}};
  };
}

// --creds are the user's account with one registry: a short name asked of
// several default registries would send them to each, so it is refused
// before any of them is asked.
TEST_F(RegistryPull, CredsWithAShortNameOfSeveralDefaultRegistriesAreRefusedUnsent) {
  FakeRegistry first(layout_), second(layout_, basic_auth("p"));
  first.tag("v1", v1_);
  second.tag("v1", v1_);
  runtime::ResolveOptions o = options({first.host(), second.host()});
  o.config_file = "/srv/crt.conf";
  o.pull.credentials = parse_creds("u:p");
  EXPECT_EQ(test::error_of([&] { runtime::pull(store_, "test/app:v1", o); }),
            "--creds needs the image's full name, such as '" + first.host() +
                "/test/app:v1': the short name 'test/app:v1' would send the credentials to each of the 2 default "
                "registries of '/srv/crt.conf' ('" +
                first.host() + "', '" + second.host() + "')");
  EXPECT_TRUE(first.stub().requests().empty());
  EXPECT_TRUE(second.stub().requests().empty());

  // The full name says which registry the credentials are for.
  EXPECT_NO_THROW(runtime::pull(store_, second.host() + "/test/app:v1", o));
  EXPECT_TRUE(first.stub().requests().empty());
}

// With one default registry, a short name names it: --creds go there.
TEST_F(RegistryPull, CredsWithAShortNameGoToTheOneDefaultRegistry) {
  FakeRegistry reg(layout_, basic_auth("p"));
  reg.tag("v1", v1_);
  runtime::ResolveOptions o = options({reg.host()});
  o.pull.credentials = parse_creds("u:wrong");
  EXPECT_THAT(
      test::error_of([&] { runtime::pull(store_, "test/app:v1", o); }),
      HasSubstr("the registry '" + reg.host() + "' refused the credentials of user 'u' (from --creds): HTTP 401"));
  o.pull.credentials = parse_creds("u:p");
  EXPECT_NO_THROW(runtime::pull(store_, "test/app:v1", o));
}

// A registry that gives the user a token, then refuses the repository, as
// Docker Hub does for one it does not have: a short name goes on.
TEST_F(RegistryPull, ARepositoryRefusedToAUsersTokenPassesAShortNameOn) {
  std::string realm;
  HttpStub hub([&](const HttpStub::Request& r) {
    if (r.target.rfind("/token", 0) == 0) return HttpStub::Response{200, {}, R"({"token":"user"})", -1, {}};
    return HttpStub::Response{
        401, {{"WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"hub\""}}, "", -1, {}};
  });
  realm = hub.url() + "/token";
  FakeRegistry open(layout_);
  open.tag("v1", v1_);
  runtime::ResolveOptions o = options({host_of(hub), open.host()});
  test::write_text(s_ / "auth.json", json{{"auths", {{host_of(hub), {{"auth", base64_encode("u:right")}}}}}}.dump());
  o.pull.auth_files = {s_ / "auth.json"};
  EXPECT_NO_THROW(runtime::pull(store_, "test/app:v1", o));
  EXPECT_FALSE(open.stub().requests().empty());
}

// Where a request went: a registry's own answers and its storage's are
// told apart by it, however the URL spells the same place.
TEST(UrlOrigin, IsSchemeHostAndPortAlone) {
  EXPECT_EQ(url_origin("https://Reg.Example/v2/app/blobs/x?sig=1"), "https://reg.example");
  EXPECT_EQ(url_origin("https://reg.example:443/v2/"), "https://reg.example");
  EXPECT_EQ(url_origin("http://reg.example:80?x"), "http://reg.example");
  EXPECT_EQ(url_origin("http://reg.example:8080#x"), "http://reg.example:8080");
  EXPECT_EQ(url_origin("https://user:pw@cdn.example:4443/b"), "https://cdn.example:4443");
  EXPECT_NE(url_origin("http://reg.example/v2/"), url_origin("https://reg.example/v2/"));
}

/// The answer that sends a request for `target` on to `base` (a blob storage).
HttpStub::Response redirect(const std::string& base, const std::string& target) {
  return {307, {{"Location", base + target}}, "", -1, {}};
}

bool has_authorization(const HttpStub::Request& r) { return r.headers.count("authorization") > 0; }

// A registry sends blobs on to a storage elsewhere (Docker Hub's to a CDN):
// the user's password, or the token the registry gave them, stays with the
// registry. Elsewhere is another port, or another name of the same server.
TEST_F(RegistryPull, CredentialsStayOffARedirectToAnotherHost) {
  FakeRegistry cdn(layout_);
  for (bool bearer : {false, true}) {
    std::string realm, storage;
    FakeRegistry reg(layout_, [&](const HttpStub::Request& r) -> std::optional<HttpStub::Response> {
      if (r.headers.at("host").rfind("localhost:", 0) == 0) return std::nullopt;  // the storage: no questions
      std::string basic = "Basic " + base64_encode("u:p");
      if (r.target.rfind("/token", 0) == 0)
        return r.headers.count("authorization") && r.headers.at("authorization") == basic
                   ? HttpStub::Response{200, {}, R"({"token":"t0k"})", -1, {}}
                   : HttpStub::Response{401, {}, "", -1, {}};
      auto a = r.headers.find("authorization");
      if (a == r.headers.end() || a->second != (bearer ? "Bearer t0k" : basic))
        return HttpStub::Response{
            401, {{"WWW-Authenticate", bearer ? "Bearer realm=\"" + realm + "\"" : "Basic realm=\"x\""}}, "", -1, {}};
      if (r.target.find("/blobs/") != std::string::npos) return redirect(storage, r.target);
      return std::nullopt;
    });
    realm = "http://" + reg.host() + "/token";
    reg.tag("v1", v1_);
    reg.tag("v2", v2_);
    runtime::ResolveOptions o = options({reg.host()});
    o.pull.credentials = parse_creds("u:p");
    store::Store store(s_ / (bearer ? "bearer" : "basic"));
    storage = cdn.stub().url();
    ASSERT_NO_THROW(runtime::pull(store, reg.host() + "/test/app:v1", o)) << (bearer ? "Bearer" : "Basic");
    storage = "http://localhost:" + std::to_string(reg.stub().port());
    ASSERT_NO_THROW(runtime::pull(store, reg.host() + "/test/app:v2", o)) << (bearer ? "Bearer" : "Basic");
    size_t at_storage = 0;
    for (const auto& r : reg.stub().requests())
      if (r.headers.at("host").rfind("localhost:", 0) == 0) {
        ++at_storage;
        EXPECT_FALSE(has_authorization(r)) << r.target;
      }
    EXPECT_GT(at_storage, 0u);
  }
  ASSERT_FALSE(cdn.stub().requests().empty());
  for (const auto& r : cdn.stub().requests()) EXPECT_FALSE(has_authorization(r)) << r.target;
}

// Only the registry's own challenge gets the user's credentials: one from
// the storage it redirects to names a token server of the storage's choice.
TEST_F(RegistryPull, AChallengeFromWhereTheRegistryRedirectsGetsNoCredentials) {
  HttpStub thief([](const HttpStub::Request&) { return HttpStub::Response{200, {}, R"({"token":"t"})", -1, {}}; });
  for (std::string challenge : {"Bearer realm=\"" + thief.url() + "/token\"", std::string("Basic realm=\"x\"")}) {
    HttpStub storage([&](const HttpStub::Request&) {
      return HttpStub::Response{401, {{"WWW-Authenticate", challenge}}, "", -1, {}};
    });
    FakeRegistry reg(layout_, [&](const HttpStub::Request& r) -> std::optional<HttpStub::Response> {
      if (r.target.find("/blobs/") != std::string::npos) return redirect(storage.url(), r.target);
      return std::nullopt;
    });
    reg.tag("v1", v1_);
    runtime::ResolveOptions o = options({reg.host()});
    o.pull.credentials = parse_creds("u:p");
    EXPECT_THAT(test::error_of([&] { runtime::pull(store_, reg.host() + "/test/app:v1", o); }),
                HasSubstr(": '" + storage.url() + "', where the registry '" + reg.host() +
                          "' redirected the request, refused access (HTTP 401)"))
        << challenge;
    EXPECT_TRUE(thief.requests().empty()) << challenge;
    for (const auto& r : reg.stub().requests()) EXPECT_FALSE(has_authorization(r)) << challenge << r.target;
    EXPECT_EQ(storage.requests().size(), 1u) << challenge;
  }
}

TEST_F(RegistryPull, ARegistrysErrorTextReachesTheTerminalEscaped) {
  json errors = {{"errors", {{{"code", "GONE\x1b[8m"}, {"message", "gone\x1b]0;owned\x07"}}}}};
  HttpStub reg([&](const HttpStub::Request&) { return HttpStub::Response{404, {}, errors.dump(), -1, {}}; });
  std::string e =
      test::error_of([&] { runtime::pull(store_, host_of(reg) + "/test/app:v1", options({host_of(reg)})); });
  EXPECT_THAT(e, HasSubstr("HTTP 404: gone\\x1b]0;owned\\x07 (GONE\\x1b[8m)"));
  EXPECT_EQ(e.find('\x1b'), std::string::npos);
}

// Headers of one name on several lines are one list (RFC 7230): a registry
// that offers Bearer, then Basic, is asked for a token.
TEST_F(RegistryPull, BearerIsChosenAmongChallengesOnSeveralLines) {
  std::string realm;
  FakeRegistry reg(layout_, [&](const HttpStub::Request& r) -> std::optional<HttpStub::Response> {
    if (r.target.rfind("/token", 0) == 0) return HttpStub::Response{200, {}, R"({"token":"t0k"})", -1, {}};
    if (auto a = r.headers.find("authorization"); a != r.headers.end() && a->second == "Bearer t0k")
      return std::nullopt;
    return HttpStub::Response{401,
                              {{"WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"fake\""},
                               {"WWW-Authenticate", "Basic realm=\"fake\""}},
                              "",
                              -1,
                              {}};
  });
  realm = "http://" + reg.host() + "/token";
  reg.tag("v1", v1_);
  store::Image im = runtime::pull(store_, reg.host() + "/test/app:v1", options({reg.host()}));
  EXPECT_EQ(im.names, std::vector<std::string>{reg.host() + "/test/app:v1"});
}

// Each try resumes where the last one was cut: as long as they get further,
// a large blob on a flaky line is not given up after `attempts` cuts.
TEST_F(RegistryPull, ADownloadCutMoreOftenThanItsAttemptsGoesOnWhileItGetsFurther) {
  std::string blob = noise(64 << 10);
  std::string digest = test::digest_of(blob);
  HttpStub reg([&](const HttpStub::Request& r) {
    HttpStub::Response a = test::range_answer(r, blob);
    if (a.body.size() > (8 << 10)) a.cut_after = 8 << 10;
    return a;
  });
  RegistryClient client(host_of(reg), "test/app", plain_client(2));
  {
    store::BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(blob.size()));
    client.fetch_blob(digest, w, {});
  }
  EXPECT_TRUE(store_.blobs().has(digest));
  EXPECT_EQ(reg.requests().size(), 8u) << "7 cuts, each 8 KiB further";

  // Cut where it was cut before: the attempts end it.
  std::string other = noise(10 << 10) + "x";
  HttpStub stuck([&](const HttpStub::Request& r) {
    HttpStub::Response a = test::range_answer(r, other);
    a.cut_after = 0;
    return a;
  });
  RegistryClient stuck_client(host_of(stuck), "test/app", plain_client(2));
  store::BlobWriter w(store_.blobs(), test::digest_of(other), static_cast<int64_t>(other.size()));
  EXPECT_THAT(test::error_of([&] { stuck_client.fetch_blob(test::digest_of(other), w, {}); }),
              HasSubstr("fetching blob " + test::digest_of(other)));
  EXPECT_EQ(stuck.requests().size(), 2u);
}

TEST_F(RegistryPull, AnAnswerThatNeverEndsEndsAtTheAnswerTimeout) {
  HttpStub slow([](const HttpStub::Request&) { return HttpStub::Response{200, {}, R"({"schemaVersion":2})", 5, 30s}; });
  ClientOptions o = plain_client(1);
  o.answer_timeout = 300ms;
  RegistryClient client(host_of(slow), "test/app", o);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(test::error_of([&] { client.manifest("v1"); }),
              HasSubstr("GET http://" + host_of(slow) + "/v2/test/app/manifests/v1: no complete answer within 300 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

// A registry that sends a blob slower than its size allows (here: a part,
// then nothing) is given up once that time is over, all tries together,
// with an error that says how far it came: one that trickles just above the
// low-speed limit would keep a large blob coming for hours.
TEST_F(RegistryPull, ABlobThatComesTooSlowlyForItsSizeIsGivenUp) {
  std::string blob = noise(100'000);
  std::string digest = test::digest_of(blob);
  HttpStub trickle([&](const HttpStub::Request& r) {
    HttpStub::Response a = test::range_answer(r, blob);
    a.cut_after = 1000;
    a.stall = 20s;
    return a;
  });
  ClientOptions o = plain_client(3);
  o.blob_time_base = 500ms;
  o.blob_min_rate = 100'000;  // 1 s for this blob: 1.5 s in all
  RegistryClient client(host_of(trickle), "test/app", o);
  store::BlobWriter w(store_.blobs(), digest, static_cast<int64_t>(blob.size()));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(test::error_of([&] { client.fetch_blob(digest, w, {}); }),
            "fetching blob " + digest +
                ": only 1 kB of its 100 kB came within the 1.5 s crt waits for a blob of that size (0.5 s, and 1 s "
                "for each 100 kB of it): the registry sends it too slowly; try again later, or pull from another");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s) << "not the stall's 20 s";
  EXPECT_FALSE(store_.blobs().has(digest));
}

// A Ctrl-C while the client waits to try a busy registry again ends the
// wait, as it ends a transfer.
TEST_F(RegistryPull, ACancelEndsTheWaitBeforeTheNextTry) {
  HttpStub busy([](const HttpStub::Request&) { return HttpStub::Response{503, {}, "busy", -1, {}}; });
  ClientOptions o = plain_client(3);
  o.backoff = 20s;
  auto start = std::chrono::steady_clock::now();
  o.cancelled = [&] { return std::chrono::steady_clock::now() - start > 200ms; };
  RegistryClient client(host_of(busy), "test/app", o);
  EXPECT_THAT(test::error_of([&] { client.manifest("v1"); }), HasSubstr("interrupted"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(busy.requests().size(), 1u) << "no second try";
}

// An insecure registry's https that times out (or whose name does not
// resolve) is no sign that it speaks plain HTTP: its error is told.
TEST_F(RegistryPull, AnInsecureRegistrysHttpsTimeoutIsNotHiddenByPlainHttp) {
  // Connections are accepted by the kernel, never answered.
  UniqueFd silent(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(silent.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(silent.get(), 8), 0);
  ::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  std::string host = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  ClientOptions o = plain_client(1);
  o.answer_timeout = 300ms;
  RegistryClient client(host, "test/app", o);
  std::string e = test::error_of([&] { client.manifest("v1"); });
  EXPECT_THAT(e, HasSubstr("GET https://" + host + "/v2/test/app/manifests/v1: no complete answer within 300 ms"));
}

/// openssl s_server on 127.0.0.1 with a certificate of its own, which
/// nothing trusts: it answers each of `connections` with its status page.
class UntrustedTlsServer {
 public:
  UntrustedTlsServer(const stdfs::path& dir, int connections) {
    std::string key = (dir / "key.pem").string(), cert = (dir / "cert.pem").string();
    if (test::run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"})
            .status != 0)
      return;
    // -www: it answers by itself, not from its stdin (which it would end at).
    server_ = std::make_unique<test::Process>(std::vector<std::string>{"openssl", "s_server", "-accept", "127.0.0.1:0",
                                                                       "-cert", cert, "-key", key, "-naccept",
                                                                       std::to_string(connections), "-www"});
    for (int i = 0; i < 200 && host_.empty(); ++i) {
      const std::string& out = server_->read_for(50ms);
      if (size_t at = out.find("ACCEPT "); at != std::string::npos && out.find('\n', at) != std::string::npos)
        host_ = out.substr(at + 7, out.find('\n', at) - at - 7);
    }
  }
  /// "127.0.0.1:PORT"; empty when it did not start.
  [[nodiscard]] const std::string& host() const { return host_; }

 private:
  std::unique_ptr<test::Process> server_;
  std::string host_;
};

TEST_F(RegistryPull, AnUntrustedCertificateNamesTheWaysToTrustIt) {
  if (!test::find_program("openssl")) GTEST_SKIP() << "openssl is not installed";
  UntrustedTlsServer server(s_.path(), 1);
  ASSERT_FALSE(server.host().empty()) << "openssl s_server did not start";
  std::string host = server.host();
  runtime::ResolveOptions o = options({});
  std::string e = test::error_of([&] { runtime::pull(store_, host + "/test/app:v1", o); });
  EXPECT_THAT(e, HasSubstr("SSL certificate problem"));
  EXPECT_THAT(
      e, HasSubstr("(trust the registry's CA with --ca-file or in '" + (s_ / "certs.d" / host / "ca.crt").string() +
                   "', or allow it unverified with --insecure-registry " + host + ")"));
}

// --insecure-registry is for the registry it names alone: the token server
// and the blob storage it sends crt to have their certificates checked.
TEST_F(RegistryPull, AnInsecureRegistrysTokenServerAndStorageAreVerified) {
  if (!test::find_program("openssl")) GTEST_SKIP() << "openssl is not installed";
  UntrustedTlsServer elsewhere(s_.path(), 2);
  ASSERT_FALSE(elsewhere.host().empty()) << "openssl s_server did not start";
  std::string https = "https://" + elsewhere.host();
  for (bool bearer : {true, false}) {
    FakeRegistry reg(layout_, [&](const HttpStub::Request& r) -> std::optional<HttpStub::Response> {
      if (bearer)
        return HttpStub::Response{401, {{"WWW-Authenticate", "Bearer realm=\"" + https + "/token\""}}, "", -1, {}};
      return redirect(https, r.target);
    });
    reg.tag("v1", v1_);
    std::string e = test::error_of([&] { runtime::pull(store_, reg.host() + "/test/app:v1", options({reg.host()})); });
    EXPECT_THAT(e, HasSubstr("GET " + https + (bearer ? "/token?" : "/v2/test/app/manifests/v1: ")));
    EXPECT_THAT(e, HasSubstr("SSL certificate problem")) << (bearer ? "the token server" : "the storage");
    EXPECT_THAT(e, HasSubstr("(trust its CA with --ca-file")) << "its CA is the way, not --insecure-registry";
  }
}

// Whether crt asks the token server a registry names for a token: over
// plain HTTP only from an --insecure-registry.
TEST(TokenRealm, PlainHttpOnlyFromAnInsecureRegistry) {
  EXPECT_TRUE(token_realm_allowed("https://auth.example/token", false));
  EXPECT_TRUE(token_realm_allowed("HTTPS://auth.example/token", false));
  EXPECT_FALSE(token_realm_allowed("http://auth.example/token", false));
  EXPECT_FALSE(token_realm_allowed("ftp://auth.example/token", false));
  EXPECT_FALSE(token_realm_allowed("auth.example/token", false));
  EXPECT_TRUE(token_realm_allowed("http://auth.example/token", true));
  EXPECT_TRUE(token_realm_allowed("https://auth.example/token", true));
}

// The host an --insecure-registry names, as a URL may spell it.
TEST(UrlOnHost, IsTheHostAndPortAlone) {
  EXPECT_TRUE(url_on_host("https://reg.example:5000/v2/", "reg.example:5000"));
  EXPECT_TRUE(url_on_host("http://Reg.Example:5000", "reg.example:5000"));
  EXPECT_TRUE(url_on_host("https://reg.example:443/v2/", "reg.example"));
  EXPECT_TRUE(url_on_host("http://reg.example/v2/", "reg.example:80"));
  EXPECT_TRUE(url_on_host("https://u:p@reg.example/v2/", "reg.example"));
  EXPECT_FALSE(url_on_host("https://reg.example:5001/v2/", "reg.example:5000"));
  EXPECT_FALSE(url_on_host("https://reg.example/v2/", "reg.example:5000"));
  EXPECT_FALSE(url_on_host("https://cdn.reg.example/v2/", "reg.example"));
  EXPECT_FALSE(url_on_host("https://reg.example.evil/v2/", "reg.example"));
  EXPECT_FALSE(url_on_host("https://reg.example@evil.example/v2/", "reg.example"));
  EXPECT_FALSE(url_on_host("https://reg.example/v2/", ""));
}

// From a registry reached over HTTPS, a redirect to plain HTTP is refused:
// an attacker on the line could swap a manifest fetched by tag.
TEST(HttpClientRedirects, ToPlainHttpOnlyWhenAllowed) {
  HttpStub target([](const HttpStub::Request&) { return HttpStub::Response{200, {}, "there", -1, {}}; });
  HttpStub from([&](const HttpStub::Request& r) { return redirect(target.url(), r.target); });
  HttpClient strict(TlsOptions{});
  EXPECT_EQ(test::error_of([&] {
              strict.get({from.url() + "/v2/x", {}, 0, {}, {}});
            }),
            "GET " + from.url() + "/v2/x: refused a redirect to plain HTTP: '" + target.url() + "/v2/x'");
  EXPECT_TRUE(target.requests().empty());

  TlsOptions plain;
  plain.plain_http_redirects = true;
  HttpClient relaxed(plain);
  HttpResponse r = relaxed.get({from.url() + "/v2/x", {}, 0, {}, {}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "there");
  EXPECT_EQ(r.url, target.url() + "/v2/x");
}

// An Authorization header follows a redirect within its origin alone.
TEST(HttpClientRedirects, AuthorizationStaysWithItsOrigin) {
  HttpStub other([](const HttpStub::Request&) { return HttpStub::Response{200, {}, "other", -1, {}}; });
  std::string self;
  HttpStub stub([&](const HttpStub::Request& r) {
    if (r.target == "/a") return redirect(self, "/b");
    if (r.target == "/b") return redirect(other.url(), "/c");
    return HttpStub::Response{404, {}, "", -1, {}};
  });
  self = stub.url();
  TlsOptions plain;
  plain.plain_http_redirects = true;
  HttpClient http(plain);
  HttpResponse r = http.get({stub.url() + "/a", {"authorization: Basic dTpw", "X-Kept: 1"}, 0, {}, {}});
  EXPECT_EQ(r.body, "other");
  ASSERT_EQ(stub.requests().size(), 2u);
  EXPECT_EQ(stub.requests()[1].headers.at("authorization"), "Basic dTpw") << "the same origin";
  ASSERT_EQ(other.requests().size(), 1u);
  EXPECT_FALSE(has_authorization(other.requests()[0]));
  EXPECT_EQ(other.requests()[0].headers.at("x-kept"), "1");
}

// libcurl's callbacks are C: what the cancel check throws is kept, the
// transfer aborted, and get() rethrows it once curl has returned. Thrown
// through curl, it would leave the handle in the middle of its transfer:
// the next request would fail ("easy handle already used in multi handle").
TEST(HttpClientCallbacks, WhatTheCancelCheckThrowsComesOutOfGet) {
  HttpStub stub([](const HttpStub::Request&) { return HttpStub::Response{200, {}, "body", -1, {}}; });
  HttpClient http(TlsOptions{});
  http.set_cancel_check([]() -> bool { throw Error("checked too far"); });
  EXPECT_EQ(test::error_of([&] { http.get({stub.url() + "/v2/", {}, 0, {}, {}}); }), "checked too far");
  // curl was left the way it expects: the handle takes the next request.
  http.set_cancel_check({});
  HttpResponse r = http.get({stub.url() + "/v2/", {}, 0, {}, {}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "body");
}

}  // namespace
}  // namespace crt::registry
