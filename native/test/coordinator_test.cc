// The coordinator's negotiation without MPI: a name is decided once every
// rank submitted it (or joined), disagreements become one error response
// naming the ranks and values, fusion respects the threshold, and the
// algorithm registry's choice is recorded.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "controller.h"
#include "requests.h"
#include "ops/algorithm.h"

using namespace hvd::core;
using hvd::core::testing::Cfg;
using hvd::core::testing::One;

namespace {
Request Req(const std::string& name, CollectiveKind kind, std::vector<int64_t> shape,
            DataType dtype = DataType::kFloat32) {
  Request r;
  r.name = name;
  r.kind = kind;
  r.shape = std::move(shape);
  r.dtype = dtype;
  return r;
}
}  // namespace

TEST(Coordinator, DecidedOnlyWhenEveryRankSubmitted) {
  Coordinator c(3, Cfg());
  c.AddRequestList(0, One(Req("t", CollectiveKind::kAllreduce, {4})));
  c.AddRequestList(2, One(Req("t", CollectiveKind::kAllreduce, {4})));
  EXPECT_TRUE(c.ComputeResponses().responses.empty());
  auto stalled = c.PendingOlderThan(0);
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_EQ(stalled[0].missing_ranks, std::vector<int>({1}));
  c.AddRequestList(1, One(Req("t", CollectiveKind::kAllreduce, {4})));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_FALSE(list.responses[0].failed);
  EXPECT_EQ(list.responses[0].counts, std::vector<int64_t>({4}));
}

TEST(Coordinator, ShapeMismatchNamesRanksAndValues) {
  Coordinator c(3, Cfg());
  c.AddRequestList(0, One(Req("w", CollectiveKind::kAllreduce, {2})));
  c.AddRequestList(1, One(Req("w", CollectiveKind::kAllreduce, {2})));
  c.AddRequestList(2, One(Req("w", CollectiveKind::kAllreduce, {3})));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  const Response& r = list.responses[0];
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(r.error_type, StatusType::kPrecondition);
  EXPECT_NE(r.error.find("Mismatched shapes for allreduce tensor 'w': ranks 0,1 have [2]; rank 2 has [3]"),
            std::string::npos)
      << r.error;
}

RequestList Group(const std::string& group, int members) {
  RequestList l;
  const std::string key = group + " (" + std::to_string(members) + " members)";
  for (int i = 0; i < members; ++i) {
    Request r = Req(group + "." + std::to_string(i), CollectiveKind::kAllgather, {2});
    r.group = key;
    r.group_size = members;
    l.requests.push_back(std::move(r));
  }
  return l;
}

TEST(Coordinator, GroupMemberCountsThatDifferFailEveryMemberWithOneMessage) {
  // Ranks 0 and 2 submit 3 members, rank 1 submits 2: the third member,
  // which rank 1 never has, must fail too instead of stalling.
  for (int order = 0; order < 2; ++order) {
    Coordinator c(3, Cfg());
    const std::vector<int> ranks = order == 0 ? std::vector<int>{0, 1, 2} : std::vector<int>{1, 2, 0};
    for (int r : ranks) c.AddRequestList(r, Group("g", r == 1 ? 2 : 3));
    auto list = c.ComputeResponses();
    ASSERT_EQ(list.responses.size(), 3u);
    std::vector<std::string> names;
    for (const Response& r : list.responses) {
      EXPECT_TRUE(r.failed);
      EXPECT_EQ(r.error_type, StatusType::kPrecondition);
      EXPECT_EQ(r.error, list.responses[0].error);
      names.push_back(r.names.at(0));
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, std::vector<std::string>({"g.0", "g.1", "g.2"}));
    EXPECT_NE(list.responses[0].error.find("ranks 0,2 have group 'g (3 members)'; rank 1 has group 'g (2 members)'"),
              std::string::npos)
        << list.responses[0].error;
    EXPECT_TRUE(c.PendingOlderThan(0).empty());
    // The same group name works again afterwards.
    for (int r = 0; r < 3; ++r) c.AddRequestList(r, Group("g", 2));
    auto next = c.ComputeResponses();
    ASSERT_FALSE(next.responses.empty());
    for (const Response& r : next.responses) EXPECT_FALSE(r.failed) << r.error;
  }
}

TEST(Coordinator, KindAndDtypeMismatchesComeFirst) {
  Coordinator c(2, Cfg());
  c.AddRequestList(0, One(Req("k", CollectiveKind::kAllreduce, {2})));
  c.AddRequestList(1, One(Req("k", CollectiveKind::kAllgather, {2})));
  auto r = c.ComputeResponses().responses.at(0);
  EXPECT_NE(r.error.find("Mismatched operations"), std::string::npos) << r.error;
  c.AddRequestList(0, One(Req("d", CollectiveKind::kBroadcast, {2}, DataType::kInt32)));
  c.AddRequestList(1, One(Req("d", CollectiveKind::kBroadcast, {2}, DataType::kFloat32)));
  r = c.ComputeResponses().responses.at(0);
  EXPECT_NE(r.error.find("Mismatched data types"), std::string::npos) << r.error;
}

TEST(Coordinator, AlltoallSplitsThatDoNotAddUp) {
  Coordinator c(2, Cfg());
  Request a = Req("a2a", CollectiveKind::kAlltoall, {3});
  a.splits = {1, 2};
  Request b = Req("a2a", CollectiveKind::kAlltoall, {3});
  b.splits = {1, 1};
  c.AddRequestList(0, One(a));
  c.AddRequestList(1, One(b));
  auto r = c.ComputeResponses().responses.at(0);
  EXPECT_TRUE(r.failed);
  EXPECT_NE(r.error.find("rank 1 has splits [1,1]"), std::string::npos) << r.error;
}

TEST(Coordinator, ReducescatterSharesAndJoinedRanks) {
  Coordinator c(3, Cfg());
  c.AddRequestList(2, One(Req("join.0", CollectiveKind::kJoin, {})));
  c.AddRequestList(0, One(Req("rs", CollectiveKind::kReducescatter, {7, 2})));
  c.AddRequestList(1, One(Req("rs", CollectiveKind::kReducescatter, {7, 2})));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  const Response& r = list.responses[0];
  EXPECT_EQ(r.first_dims, std::vector<int64_t>({3, 2, 2}));
  EXPECT_EQ(r.counts, std::vector<int64_t>({2}));
  EXPECT_EQ(r.joined, std::vector<int32_t>({2}));
}

// Decided entries are kept and reused for later names (Coordinator::NewPending):
// nothing of the old name may show through for ranks that have not
// submitted the new one (here a rank that joined).
TEST(Coordinator, AReusedEntryCarriesNothingOfTheNameBefore) {
  Coordinator c(3, Cfg());
  for (int step = 0; step < 3; ++step) {
    for (int rank = 0; rank < 3; ++rank) c.AddRequestList(rank, One(Req("g" + std::to_string(step), CollectiveKind::kAllgather, {5, 2})));
    auto list = c.ComputeResponses();
    ASSERT_EQ(list.responses.size(), 1u);
    EXPECT_EQ(list.responses[0].first_dims, std::vector<int64_t>({5, 5, 5}));
  }
  c.AddRequestList(2, One(Req("join.0", CollectiveKind::kJoin, {})));
  c.AddRequestList(0, One(Req("after", CollectiveKind::kAllgather, {3, 2})));
  EXPECT_TRUE(c.ComputeResponses().responses.empty());
  c.AddRequestList(1, One(Req("after", CollectiveKind::kAllgather, {4, 2})));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  const Response& r = list.responses[0];
  EXPECT_FALSE(r.failed) << r.error;
  EXPECT_EQ(r.names, std::vector<std::string>({"after"}));
  EXPECT_EQ(r.first_dims, std::vector<int64_t>({3, 4, 0}));
  EXPECT_EQ(r.joined, std::vector<int32_t>({2}));
  // And a mismatch on a reused entry names only this name's submissions.
  c.AddRequestList(0, One(Req("m", CollectiveKind::kAllreduce, {2})));
  c.AddRequestList(1, One(Req("m", CollectiveKind::kAllreduce, {3})));
  auto bad = c.ComputeResponses();
  ASSERT_EQ(bad.responses.size(), 1u);
  EXPECT_TRUE(bad.responses[0].failed);
  EXPECT_EQ(bad.responses[0].error.find("[5,2]"), std::string::npos) << bad.responses[0].error;
}

TEST(Coordinator, FusesUpToTheThresholdAndChoosesTheAlgorithm) {
  Config cfg = Cfg();
  cfg.fusion_threshold = 64;
  Coordinator c(2, cfg);
  for (int rank = 0; rank < 2; ++rank) {
    RequestList l;
    for (int i = 0; i < 5; ++i) {
      Request r = Req("f" + std::to_string(i), CollectiveKind::kAllreduce, {4});  // 16 bytes each
      l.requests.push_back(r);
    }
    c.AddRequestList(rank, l);
  }
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 2u);
  EXPECT_EQ(list.responses[0].names.size(), 4u);
  EXPECT_EQ(list.responses[1].names.size(), 1u);
  EXPECT_STREQ(ReduceAlgorithmById(list.responses[0].algorithm).name(), "mpi");

  Config ring = Cfg();
  ring.allreduce_algorithm = Config::Algorithm::kRing;
  Coordinator r(2, ring);
  r.AddRequestList(0, One(Req("x", CollectiveKind::kAllreduce, {4})));
  r.AddRequestList(1, One(Req("x", CollectiveKind::kAllreduce, {4})));
  EXPECT_STREQ(ReduceAlgorithmById(r.ComputeResponses().responses.at(0).algorithm).name(), "ring");
}

TEST(Coordinator, ShutdownFailsPendingWork) {
  Coordinator c(2, Cfg());
  c.AddRequestList(0, One(Req("p", CollectiveKind::kAllreduce, {1})));
  RequestList bye;
  bye.shutdown = true;
  c.AddRequestList(1, bye);
  auto r = c.ComputeResponses().responses.at(0);
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(r.error_type, StatusType::kShutDown);
}

namespace {
Request Eager(const std::string& name, std::vector<float> values) {
  Request r = Req(name, CollectiveKind::kAllreduce, {static_cast<int64_t>(values.size())});
  r.op = ReduceOp::kSum;
  const auto* p = reinterpret_cast<const uint8_t*>(values.data());
  r.payload.assign(p, p + values.size() * sizeof(float));
  return r;
}
std::vector<float> Floats(const std::vector<uint8_t>& b) {
  std::vector<float> v(b.size() / sizeof(float));
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}
}  // namespace

// Eager allreduce: the coordinator reduces the payloads into the response,
// fuses eager responses with their payloads concatenated, and leaves a
// batch over HVD_EAGER_BYTES (or one with a rank missing its payload) to
// the collective.
TEST(Coordinator, EagerAllreducesAreReducedHereAndFusedWithTheirPayloads) {
  Config cfg = Cfg();
  cfg.eager_bytes = 64;
  Coordinator c(2, cfg);
  RequestList l0, l1;
  l0.requests = {Eager("a", {1, 2}), Eager("b", {10})};
  l1.requests = {Eager("a", {3, 4}), Eager("b", {20})};
  c.AddRequestList(0, l0);
  c.AddRequestList(1, l1);
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_EQ(list.responses[0].names, std::vector<std::string>({"a", "b"}));
  EXPECT_EQ(Floats(list.responses[0].payload), std::vector<float>({4, 6, 30}));

  // Average, with a postscale: the same rule as the collective path.
  Request avg0 = Eager("m", {1, 3}), avg1 = Eager("m", {5, 7});
  avg0.op = avg1.op = ReduceOp::kAverage;
  avg0.postscale = avg1.postscale = 2.0;
  c.AddRequestList(0, One(avg0));
  c.AddRequestList(1, One(avg1));
  list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_EQ(Floats(list.responses[0].payload), std::vector<float>({6, 10}));

  // Over the limit together: no payload, the collective runs.
  c.AddRequestList(0, One(Eager("big", std::vector<float>(17, 1))));
  c.AddRequestList(1, One(Eager("big", std::vector<float>(17, 1))));
  list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_TRUE(list.responses[0].payload.empty());

  // One rank without a payload (HVD_EAGER_BYTES=0 there): the collective runs.
  c.AddRequestList(0, One(Eager("mixed", {1})));
  c.AddRequestList(1, One(Req("mixed", CollectiveKind::kAllreduce, {1})));
  list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_FALSE(list.responses[0].failed);
  EXPECT_TRUE(list.responses[0].payload.empty());
}
