#include "mount/overlay.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace crt::mount {
namespace {

TEST(OverlayOptions, HighestLayerFirst) {
  EXPECT_EQ(overlay_options({"/s/trees/l1", "/s/trees/l2", "/s/trees/l3"}, "/p/upper", "/p/work"),
            "lowerdir=/s/trees/l3:/s/trees/l2:/s/trees/l1,upperdir=/p/upper,workdir=/p/work");
}

TEST(OverlayOptions, ARepeatedLayerIsGivenOnceWhereItIsHighest) {
  EXPECT_EQ(overlay_options({"/t/base", "/t/empty", "/t/x", "/t/y", "/t/x", "/t/empty"}, "/u", "/w"),
            "lowerdir=/t/empty:/t/x:/t/y:/t/base,upperdir=/u,workdir=/w");
}

TEST(OverlayOptions, SingleLayer) {
  EXPECT_EQ(overlay_options({"/l"}, "/u", "/w"), "lowerdir=/l,upperdir=/u,workdir=/w");
}

TEST(OverlayOptions, SeparatorsInPathsAreEscaped) {
  EXPECT_EQ(overlay_options({"/a:b", "/c,d"}, "/u\\v", "/w,x:y"),
            "lowerdir=/c\\,d:/a\\:b,upperdir=/u\\\\v,workdir=/w\\,x\\:y");
}

TEST(OverlayOptions, OtherCharactersPassThrough) {
  EXPECT_EQ(overlay_options({"/my dir/.x/-y=%$"}, "/u", "/w"), "lowerdir=/my dir/.x/-y=%$,upperdir=/u,workdir=/w");
}

TEST(OverlayOptions, NoLayerIsAnError) { EXPECT_THROW(overlay_options({}, "/u", "/w"), Error); }

}  // namespace
}  // namespace crt::mount
