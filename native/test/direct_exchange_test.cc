// The direct path's bookkeeping without MPI (direct_exchange.h): a rank
// fires exactly when rank 0's Coordinator, given the same requests, retires
// the name without a response; the result is the coordinator's eager result
// byte for byte; and when rank 0 answers instead, every copy it consumed is
// dropped, whether it arrived before the response or after, so a later call
// of the same name never pairs with a stale copy.
#include <gtest/gtest.h>

#include <cstring>

#include "controller.h"
#include "requests.h"
#include "direct_exchange.h"
#include "message.h"

using namespace hvd::core;
using hvd::core::testing::Cfg;
using hvd::core::testing::One;

namespace {
Request Direct(const std::string& name, int rank, std::vector<float> values, bool direct = true) {
  Request r;
  r.name = name;
  r.kind = CollectiveKind::kAllreduce;
  r.dtype = DataType::kFloat32;
  r.shape = {static_cast<int64_t>(values.size())};
  r.op = ReduceOp::kSum;
  r.rank = rank;
  r.direct = direct;
  r.payload.resize(values.size() * sizeof(float));
  std::memcpy(r.payload.data(), values.data(), r.payload.size());
  return r;
}
std::vector<float> Floats(const std::vector<uint8_t>& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}
}  // namespace

TEST(DirectExchange, FiresOnceItHoldsEveryRanksRequestInAnyOrder) {
  // Rank 1 of 3: its own request between the peers', then the reverse.
  for (int order = 0; order < 2; ++order) {
    DirectExchange d(1, 3);
    if (order == 0) d.AddPeer(Direct("g", 2, {4, 5}));
    else d.AddOwn(Direct("g", 1, {2, 3}));
    EXPECT_TRUE(d.fired().empty());
    if (order == 0) d.AddOwn(Direct("g", 1, {2, 3}));
    else d.AddPeer(Direct("g", 2, {4, 5}));
    EXPECT_TRUE(d.fired().empty()) << "rank 0's copy is still missing";
    d.AddPeer(Direct("g", 0, {0.5f, 1}));
    ASSERT_EQ(d.fired().size(), 1u);
    const Response& r = d.fired()[0];
    EXPECT_FALSE(r.failed);
    EXPECT_EQ(r.names, std::vector<std::string>({"g"}));
    EXPECT_EQ(Floats(r.payload), std::vector<float>({6.5f, 9}));
    EXPECT_EQ(d.held(), 0u) << "nothing outlives the call";
  }
}

TEST(DirectExchange, SameVerdictAndBytesAsTheCoordinator) {
  // Values whose float sum depends on the order: every rank and rank 0
  // reduce in rank order, so the bytes agree.
  std::vector<std::vector<float>> in = {{1e8f, 1, -3}, {1, 1e-3f, 7}, {-1e8f, 2.5f, 0.25f}};
  Coordinator c(3, Cfg());
  for (int r = 0; r < 3; ++r) c.AddRequestList(r, One(Direct("v", r, in[r])));
  EXPECT_TRUE(c.ComputeResponses().responses.empty()) << "a name every rank sent direct gets no response";
  EXPECT_EQ(c.direct_decided(), 1u);

  Coordinator eager(3, Cfg());  // the negotiated path's eager result
  for (int r = 0; r < 3; ++r) eager.AddRequestList(r, One(Direct("v", r, in[r], false)));
  auto list = eager.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  ASSERT_FALSE(list.responses[0].payload.empty());

  for (int me = 0; me < 3; ++me) {
    DirectExchange d(me, 3);
    for (int r = 0; r < 3; ++r) {
      if (r == me) d.AddOwn(Direct("v", r, in[r]));
      else d.AddPeer(Direct("v", r, in[r]));
    }
    ASSERT_EQ(d.fired().size(), 1u) << "rank " << me;
    EXPECT_EQ(d.fired()[0].payload, list.responses[0].payload) << "rank " << me;
  }
}

TEST(DirectExchange, AMismatchIsLeftToRankZerosErrorWhichDropsEveryCopy) {
  Coordinator c(2, Cfg());
  c.AddRequestList(0, One(Direct("m", 0, {1, 2})));
  c.AddRequestList(1, One(Direct("m", 1, {1, 2, 3})));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  const Response& e = list.responses[0];
  EXPECT_TRUE(e.failed);
  EXPECT_NE(e.error.find("'m'"), std::string::npos) << e.error;
  EXPECT_EQ(e.direct_ranks, std::vector<int32_t>({0, 1}));
  EXPECT_EQ(c.direct_decided(), 0u);

  for (int me = 0; me < 2; ++me) {
    DirectExchange d(me, 2);
    d.AddOwn(Direct("m", me, me == 0 ? std::vector<float>{1, 2} : std::vector<float>{1, 2, 3}));
    d.AddPeer(Direct("m", 1 - me, me == 0 ? std::vector<float>{1, 2, 3} : std::vector<float>{1, 2}));
    EXPECT_TRUE(d.fired().empty()) << "rank " << me << " must not fire on a mismatch";
    d.Consumed("m", e.direct_ranks);
    EXPECT_EQ(d.held(), 0u);
  }
}

TEST(DirectExchange, ACopyThatArrivesAfterRankZerosResponseIsDropped) {
  // Rank 2 had a join pending and sent "s" the negotiated way; ranks 0 and 1
  // sent it direct. Rank 0 answers and names 0 and 1.
  Coordinator c(3, Cfg());
  c.AddRequestList(0, One(Direct("s", 0, {1})));
  c.AddRequestList(1, One(Direct("s", 1, {2})));
  c.AddRequestList(2, One(Direct("s", 2, {3}, false)));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_FALSE(list.responses[0].failed);
  EXPECT_EQ(list.responses[0].direct_ranks, std::vector<int32_t>({0, 1}));

  // Rank 2 reads the response before rank 1's copy arrives (different
  // senders: no order between them); rank 0's copy came first.
  DirectExchange d(2, 3);
  d.AddPeer(Direct("s", 0, {1}));
  d.Consumed("s", list.responses[0].direct_ranks);
  EXPECT_EQ(d.held(), 1u) << "a tombstone waits for rank 1's copy";
  d.AddPeer(Direct("s", 1, {2}));
  EXPECT_EQ(d.held(), 0u) << "the late copy met its tombstone";

  // The next "s", all direct: pairs with the fresh copies only.
  d.AddPeer(Direct("s", 1, {20}));
  d.AddOwn(Direct("s", 2, {30}));
  d.AddPeer(Direct("s", 0, {10}));
  ASSERT_EQ(d.fired().size(), 1u);
  EXPECT_EQ(Floats(d.fired()[0].payload), std::vector<float>({60}));
  EXPECT_EQ(d.held(), 0u);
}

TEST(DirectExchange, APeersNextCopyWaitsBehindItsCurrentOne) {
  // Rank 0 of 2 completes "r" (first call) and its peer, already done,
  // has sent its copy for the second call: copies pair in the order sent.
  DirectExchange d(0, 2);
  d.AddPeer(Direct("r", 1, {1}));
  d.AddPeer(Direct("r", 1, {100}));
  d.AddOwn(Direct("r", 0, {2}));
  ASSERT_EQ(d.fired().size(), 1u);
  EXPECT_EQ(Floats(d.fired()[0].payload), std::vector<float>({3}));
  d.fired().clear();
  EXPECT_EQ(d.held(), 1u);
  d.AddOwn(Direct("r", 0, {200}));
  ASSERT_EQ(d.fired().size(), 1u);
  EXPECT_EQ(Floats(d.fired()[0].payload), std::vector<float>({300}));
  EXPECT_EQ(d.held(), 0u);
}

TEST(DirectExchange, AJoinedRankIsDecidedByRankZero) {
  Coordinator c(3, Cfg());
  Request join;
  join.name = "join.noname.0";
  join.kind = CollectiveKind::kJoin;
  c.AddRequestList(2, One(join));
  c.AddRequestList(0, One(Direct("j", 0, {1})));
  c.AddRequestList(1, One(Direct("j", 1, {2})));
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_FALSE(list.responses[0].failed);
  EXPECT_EQ(list.responses[0].joined, std::vector<int32_t>({2}));
  EXPECT_EQ(list.responses[0].direct_ranks, std::vector<int32_t>({0, 1}));
  EXPECT_EQ(c.direct_decided(), 0u);
}

TEST(DirectExchange, ResponsesThatConsumedDirectRequestsDoNotFuse) {
  Coordinator c(2, Cfg());
  RequestList l0, l1;
  for (const char* n : {"f.a", "f.b"}) {
    l0.requests.push_back(Direct(n, 0, {1}));
    l1.requests.push_back(Direct(n, 1, {1}, false));
  }
  c.AddRequestList(0, l0);
  c.AddRequestList(1, l1);
  auto list = c.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 2u);
  for (const Response& r : list.responses) {
    EXPECT_EQ(r.names.size(), 1u);
    EXPECT_EQ(r.direct_ranks, std::vector<int32_t>({0}));
  }
}

TEST(DirectExchange, TheFlagsTravelPerCall) {
  RequestList rl;
  rl.requests.push_back(Direct("w", 1, {1, 2}));
  rl.requests.back().cache_id = 3;
  rl.requests.back().cache_define = false;
  auto bytes = Serialize(rl);
  RequestList back = DeserializeRequestList(bytes.data(), bytes.size());
  ASSERT_EQ(back.requests.size(), 1u);
  EXPECT_TRUE(back.requests[0].direct) << "sent with a cache reference, the flag still travels";

  ResponseList list;
  Response r;
  r.names = {"w"};
  r.direct_ranks = {0, 2};
  r.cache_id = 5;
  r.cache_define = false;
  list.responses.push_back(r);
  auto rb = Serialize(list);
  ResponseList rback = DeserializeResponseList(rb.data(), rb.size());
  ASSERT_EQ(rback.responses.size(), 1u);
  EXPECT_EQ(rback.responses[0].direct_ranks, std::vector<int32_t>({0, 2}));
}

TEST(DirectExchange, ARanksNextCallOfANameCanReachRankZeroBeforeTheLastIsDecided) {
  // Rank 1 completed "x" directly and sent its next "x" before rank 0 polled:
  // both of its lists arrive in one poll. Each pairs with rank 0's call of
  // the same step.
  for (bool direct : {false, true}) {
    Coordinator c(2, Cfg());
    c.AddRequestList(0, One(Direct("x", 0, {1}, direct)));
    c.AddRequestList(1, One(Direct("x", 1, {10}, direct)));
    c.AddRequestList(1, One(Direct("x", 1, {20}, direct)));
    auto first = c.ComputeResponses();
    c.AddRequestList(0, One(Direct("x", 0, {2}, direct)));
    auto second = c.ComputeResponses();
    if (direct) {
      EXPECT_TRUE(first.responses.empty());
      EXPECT_TRUE(second.responses.empty());
      EXPECT_EQ(c.direct_decided(), 2u) << "the second call was decided too";
    } else {
      ASSERT_EQ(first.responses.size(), 1u);
      ASSERT_EQ(second.responses.size(), 1u);
      EXPECT_EQ(Floats(first.responses[0].payload), std::vector<float>({11}));
      EXPECT_EQ(Floats(second.responses[0].payload), std::vector<float>({22}));
    }
    EXPECT_TRUE(c.PendingOlderThan(0).empty());
  }
}

TEST(DirectExchange, TheCoordinatorsVerdictAloneMatchesTheFullDecision) {
  // Rank 0's Coordinator retires a name with DirectFires (no result
  // computed); every rank fires with DirectDecision. They must agree on
  // every kind of submission, or rank 0 would answer a name the others
  // completed (or the reverse).
  auto agree = [] { return std::vector<Request>{Direct("x", 0, {1, 2}), Direct("x", 1, {3, 4})}; };
  std::vector<std::pair<const char*, std::vector<Request>>> cases;
  cases.push_back({"agreeing", agree()});
  {
    auto v = agree();
    v[1].shape = {3};
    v[1].payload.resize(12);
    cases.push_back({"different shapes", v});
  }
  {
    auto v = agree();
    v[1].op = ReduceOp::kMax;
    cases.push_back({"different ops", v});
  }
  {
    auto v = agree();
    v[0].prescale = 2;
    cases.push_back({"different scale factors", v});
  }
  {
    auto v = agree();
    v[1].dtype = DataType::kInt32;
    cases.push_back({"different dtypes", v});
  }
  {
    auto v = agree();
    v[1].payload.resize(4);
    cases.push_back({"a payload of the wrong size", v});
  }
  {
    auto v = agree();
    v[0].payload.clear();
    cases.push_back({"a rank without a payload", v});
  }
  {
    auto v = agree();
    for (Request& r : v) {
      r.shape = {0};
      r.payload.clear();
    }
    cases.push_back({"empty tensors", v});
  }
  {
    auto v = agree();
    v[1].kind = CollectiveKind::kBroadcast;
    cases.push_back({"different kinds", v});
  }
  for (const auto& [what, reqs] : cases) {
    Response r;
    const bool full = DirectDecision("x", reqs, &r);
    EXPECT_EQ(DirectFires("x", reqs), full) << what;
  }
  Response r;
  EXPECT_TRUE(DirectDecision("x", cases[0].second, &r)) << "the agreeing case fires";
  EXPECT_FALSE(DirectDecision("x", cases[1].second, &r)) << "a mismatch does not";
}

TEST(DirectExchange, ARanksDirectCallOutlivesItsShutdownAndEndsAlikeEverywhere) {
  // Rank 0 sends "x" direct, then shuts down. Rank 1 holds its copy and
  // completes "x" as soon as it submits it, so rank 0's coordinator must
  // not fail "x" for the shutdown: every rank decides it itself.
  Coordinator c(2, Cfg());
  RequestList l0 = One(Direct("x", 0, {1}));
  l0.shutdown = true;
  c.AddRequestList(0, l0);
  EXPECT_TRUE(c.ComputeResponses().responses.empty()) << "not failed while rank 1 may still submit it";
  c.AddRequestList(1, One(Direct("x", 1, {2})));
  EXPECT_TRUE(c.ComputeResponses().responses.empty()) << "decided by every rank itself";
  EXPECT_EQ(c.direct_decided(), 1u);

  // When the other rank shuts down without it instead, it fails, and every
  // rank drops the shut-down rank's copy.
  Coordinator d(2, Cfg());
  d.AddRequestList(0, l0);
  EXPECT_TRUE(d.ComputeResponses().responses.empty());
  RequestList bye;
  bye.shutdown = true;
  d.AddRequestList(1, bye);
  auto list = d.ComputeResponses();
  ASSERT_EQ(list.responses.size(), 1u);
  EXPECT_TRUE(list.responses[0].failed);
  EXPECT_EQ(list.responses[0].error_type, StatusType::kShutDown);
  EXPECT_EQ(list.responses[0].direct_ranks, std::vector<int32_t>({0}));

  // A request sent the usual way still fails at once when its rank shuts down.
  Coordinator e(2, Cfg());
  RequestList usual = One(Direct("y", 0, {1}, /*direct=*/false));
  usual.shutdown = true;
  e.AddRequestList(0, usual);
  auto failed = e.ComputeResponses();
  ASSERT_EQ(failed.responses.size(), 1u);
  EXPECT_TRUE(failed.responses[0].failed);
}
