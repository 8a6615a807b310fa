// Message serialization: every field survives a round trip, cache
// references stay references, and malformed buffers are rejected.
#include <gtest/gtest.h>

#include "message.h"

using namespace hvd::core;

TEST(Message, RequestListRoundTrip) {
  RequestList list;
  list.shutdown = true;
  list.abort_reason = "rank 3 failed";
  Request a;
  a.name = "grad/w";
  a.kind = CollectiveKind::kAlltoall;
  a.dtype = DataType::kFloat64;
  a.shape = {3, 0, 7};
  a.splits = {1, 2, 0};
  a.op = ReduceOp::kMax;
  a.root = 2;
  a.prescale = 0.25;
  a.postscale = 3.5;
  a.group = "g";
  a.group_size = 4;
  a.process_set = 5;
  a.rank = 1;
  a.seq = 42;
  a.running_hash = 0xdeadbeefcafeull;
  Request ref;
  ref.cache_id = 9;
  ref.seq = 43;
  list.requests = {a, ref};
  auto bytes = Serialize(list);
  RequestList back = DeserializeRequestList(bytes.data(), bytes.size());
  EXPECT_TRUE(back.shutdown);
  EXPECT_EQ(back.abort_reason, "rank 3 failed");
  ASSERT_EQ(back.requests.size(), 2u);
  const Request& b = back.requests[0];
  EXPECT_EQ(b.name, a.name);
  EXPECT_EQ(b.kind, a.kind);
  EXPECT_EQ(b.dtype, a.dtype);
  EXPECT_EQ(b.shape, a.shape);
  EXPECT_EQ(b.splits, a.splits);
  EXPECT_EQ(b.op, a.op);
  EXPECT_EQ(b.root, a.root);
  EXPECT_EQ(b.prescale, a.prescale);
  EXPECT_EQ(b.postscale, a.postscale);
  EXPECT_EQ(b.group, a.group);
  EXPECT_EQ(b.group_size, a.group_size);
  EXPECT_EQ(b.process_set, a.process_set);
  EXPECT_EQ(b.rank, a.rank);
  EXPECT_EQ(b.seq, a.seq);
  EXPECT_EQ(b.running_hash, a.running_hash);
  EXPECT_EQ(back.requests[1].cache_id, 9);
  EXPECT_FALSE(back.requests[1].cache_define);
  EXPECT_EQ(back.requests[1].seq, 43u);
  EXPECT_EQ(CacheKey(a), CacheKey(b));
}

TEST(Message, ResponseListRoundTrip) {
  ResponseList list;
  Response r;
  r.kind = CollectiveKind::kReducescatter;
  r.process_set = 2;
  r.names = {"a", "b"};
  r.dtype = DataType::kInt16;
  r.op = ReduceOp::kProduct;
  r.counts = {5, 6};
  r.first_dims = {1, 2, 3};
  r.joined = {1};
  r.last_joined = 1;
  r.algorithm = 1;
  Response e;
  e.failed = true;
  e.names = {"x"};
  e.error = "Mismatched shapes";
  e.error_type = StatusType::kPrecondition;
  list.responses = {r, e};
  auto bytes = Serialize(list);
  ResponseList back = DeserializeResponseList(bytes.data(), bytes.size());
  ASSERT_EQ(back.responses.size(), 2u);
  EXPECT_EQ(CacheKey(back.responses[0]), CacheKey(r));
  EXPECT_EQ(back.responses[0].process_set, 2);
  EXPECT_EQ(back.responses[0].first_dims, r.first_dims);
  EXPECT_TRUE(back.responses[1].failed);
  EXPECT_EQ(back.responses[1].error, "Mismatched shapes");
}

TEST(Message, MalformedBuffersAreRejected) {
  RequestList list;
  list.requests.resize(1);
  list.requests[0].name = "n";
  auto bytes = Serialize(list);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_THROW(DeserializeRequestList(bytes.data(), cut), EnforceError) << "cut at " << cut;
  }
  bytes.push_back(0);
  EXPECT_THROW(DeserializeRequestList(bytes.data(), bytes.size()), EnforceError);
  auto resp = Serialize(ResponseList());
  EXPECT_THROW(DeserializeRequestList(resp.data(), resp.size()), EnforceError);
}

// Eager payloads travel with every entry, cache references included, and
// are not part of the cache key.
TEST(Message, PayloadsTravelWithCacheReferencesAndStayOutOfTheKey) {
  Request q;
  q.name = "g";
  q.shape = {2};
  q.payload = {1, 2, 3, 4, 5, 6, 7, 8};
  Request ref = q;
  ref.cache_id = 7;
  ref.cache_define = false;
  ref.payload = {9, 9};
  RequestList rl;
  rl.requests = {q, ref};
  auto rb = Serialize(rl);
  RequestList rback = DeserializeRequestList(rb.data(), rb.size());
  ASSERT_EQ(rback.requests.size(), 2u);
  EXPECT_EQ(rback.requests[0].payload, q.payload);
  EXPECT_EQ(rback.requests[1].payload, ref.payload);
  Request other = q;
  other.payload = {0};
  EXPECT_EQ(CacheKey(other), CacheKey(q));

  Response r;
  r.names = {"g"};
  r.counts = {2};
  r.cache_id = 3;
  r.cache_define = false;
  r.payload = {4, 3, 2, 1};
  ResponseList list;
  list.responses = {r};
  auto bytes = Serialize(list);
  ResponseList back = DeserializeResponseList(bytes.data(), bytes.size());
  ASSERT_EQ(back.responses.size(), 1u);
  EXPECT_EQ(back.responses[0].payload, r.payload);
  Response r2 = r;
  r2.payload.clear();
  EXPECT_EQ(CacheKey(r2), CacheKey(r));
}

TEST(Message, TrailingNumber) {
  size_t stem = 0;
  EXPECT_EQ(TrailingNumber("allreduce.noname.41", &stem), 41);
  EXPECT_EQ(stem, std::string("allreduce.noname.").size());
  EXPECT_EQ(TrailingNumber("x.0", &stem), 0);
  EXPECT_EQ(stem, 2u);
  EXPECT_EQ(TrailingNumber("7", &stem), 7);
  EXPECT_EQ(stem, 0u);
  // No number: no digit at the end, a leading zero, more than 18 digits.
  EXPECT_EQ(TrailingNumber("grad/dense/kernel", &stem), -1);
  EXPECT_EQ(stem, std::string("grad/dense/kernel").size());
  EXPECT_EQ(TrailingNumber("step.007", &stem), -1);
  EXPECT_EQ(stem, 8u);
  EXPECT_EQ(TrailingNumber("n." + std::string(19, '9')), -1);
  EXPECT_EQ(TrailingNumber("n." + std::string(18, '9')), 999999999999999999LL);
  EXPECT_EQ(TrailingNumber(""), -1);
  EXPECT_EQ(WithTrailingNumber("allreduce.noname.41", 1234), "allreduce.noname.1234");
  EXPECT_EQ(WithTrailingNumber("x.9", 0), "x.0");
  EXPECT_EQ(WithTrailingNumber("5", 60), "60");
}

// Names that differ only in their trailing number share a cache entry
// (automatic names, "loss.step.N"); a reference carries the number.
TEST(Message, TrailingNumbersStayOutOfTheKeyAndTravelWithReferences) {
  Request a;
  a.name = "allreduce.noname.41";
  a.shape = {1};
  Request b = a;
  b.name = "allreduce.noname.42";
  EXPECT_EQ(CacheKey(a), CacheKey(b));
  Request unnumbered = a;
  unnumbered.name = "allreduce.noname.";
  EXPECT_NE(CacheKey(a), CacheKey(unnumbered));  // the key says whether a number follows
  Request padded = a;
  padded.name = "allreduce.noname.041";  // not a number: the whole name is the key's
  EXPECT_NE(CacheKey(a), CacheKey(padded));
  Request other = a;
  other.name = "allgather.noname.41";
  EXPECT_NE(CacheKey(a), CacheKey(other));

  Request ref = b;
  ref.cache_id = 3;
  Request plain_ref = a;
  plain_ref.name = "grad";
  plain_ref.cache_id = 4;
  RequestList rl;
  rl.requests = {ref, plain_ref};
  auto rb = Serialize(rl);
  RequestList rback = DeserializeRequestList(rb.data(), rb.size());
  ASSERT_EQ(rback.requests.size(), 2u);
  EXPECT_EQ(rback.requests[0].name_number, 42);
  EXPECT_EQ(rback.requests[1].name_number, -1);

  Response r;
  r.names = {"g.7", "h", "x.12"};
  r.counts = {1, 1, 1};
  Response r2 = r;
  r2.names = {"g.8", "h", "x.100"};
  EXPECT_EQ(CacheKey(r), CacheKey(r2));
  Response r3 = r;
  r3.names = {"g.8", "h.1", "x.100"};
  EXPECT_NE(CacheKey(r), CacheKey(r3));
  r2.cache_id = 5;
  ResponseList list;
  list.responses = {r2};
  auto bytes = Serialize(list);
  ResponseList back = DeserializeResponseList(bytes.data(), bytes.size());
  ASSERT_EQ(back.responses.size(), 1u);
  EXPECT_EQ(back.responses[0].name_numbers, (std::vector<int64_t>{8, -1, 100}));
}
