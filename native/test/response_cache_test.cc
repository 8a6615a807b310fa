// The response cache: ids are stable while entries stay, the least
// recently used id is reused (and redefined) when full, and a decoder fed
// what the encoder sent mirrors it.
#include <gtest/gtest.h>

#include "response_cache.h"

using namespace hvd::core;

TEST(ResponseCache, HitsAndLruReuse) {
  CacheEncoder enc(2);
  EXPECT_EQ(enc.Encode("a"), std::make_pair(0, true));
  EXPECT_EQ(enc.Encode("b"), std::make_pair(1, true));
  EXPECT_EQ(enc.Encode("a"), std::make_pair(0, false));
  // Full: "b" is least recently used, so "c" takes its id and defines it.
  EXPECT_EQ(enc.Encode("c"), std::make_pair(1, true));
  EXPECT_EQ(enc.Encode("a"), std::make_pair(0, false));
  EXPECT_EQ(enc.Encode("b"), std::make_pair(1, true));
}

TEST(ResponseCache, DisabledAtZero) { EXPECT_FALSE(CacheEncoder(0).enabled()); }

TEST(ResponseCache, DecoderMirrorsEncoder) {
  CacheEncoder enc(3);
  CacheDecoder<std::string> dec;
  const char* keys[] = {"x", "y", "x", "z", "w", "y", "x", "w"};
  for (const char* k : keys) {
    auto [id, define] = enc.Encode(k);
    if (define) dec.Define(id, k);
    ASSERT_NE(dec.Lookup(id), nullptr);
    EXPECT_EQ(*dec.Lookup(id), k);
  }
  EXPECT_EQ(dec.Lookup(99), nullptr);
  EXPECT_EQ(dec.Lookup(-1), nullptr);
}
