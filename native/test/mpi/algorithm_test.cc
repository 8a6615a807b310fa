// Every reduce algorithm, allreduce and reduce-scatter, on odd lengths and
// uneven blocks (zero-length ones included), over MPI. Run under
// `mpirun -np 2` and `-np 3` by npm test; each rank checks exact results.
#include <gtest/gtest.h>
#include <mpi.h>

#include <numeric>

#include "copy.h"
#include "mpi_communicator.h"
#include "ops/algorithm.h"

using namespace hvd::core;

namespace {
MpiCommunicator* comm;

Config SmallPieces() {
  Config c;
  c.ring_segment_bytes = 12;  // a few elements per segment: pipelining exercised
  return c;
}
}  // namespace

class Algorithms : public ::testing::TestWithParam<size_t> {};

TEST_P(Algorithms, AllreduceOddLengths) {
  const ReduceAlgorithm& algo = *ReduceAlgorithms()[GetParam()];
  const Config cfg = SmallPieces();
  const int n = comm->size(), me = comm->rank();
  for (int64_t count : {0, 1, 2, 7, 13, 101, 1001}) {
    std::vector<int32_t> in(count), out(count, -1);
    for (int64_t i = 0; i < count; ++i) in[i] = static_cast<int32_t>(me * 1000 + i);
    ASSERT_TRUE(algo.Allreduce(*comm, cfg, in.data(), out.data(), count, DataType::kInt32, ReduceOp::kSum).ok());
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_EQ(out[i], static_cast<int32_t>(1000 * n * (n - 1) / 2 + n * i)) << algo.name() << " count " << count;
      // Out of place the input is only read (the ring reduces each segment
      // from it into the output).
      ASSERT_EQ(in[i], static_cast<int32_t>(me * 1000 + i)) << algo.name() << " count " << count;
    }
    std::vector<double> d(count);
    for (int64_t i = 0; i < count; ++i) d[i] = me + i * 0.5;
    ASSERT_TRUE(algo.Allreduce(*comm, cfg, d.data(), d.data(), count, DataType::kFloat64, ReduceOp::kMax).ok());
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(d[i], n - 1 + i * 0.5);
  }
}

TEST_P(Algorithms, ReduceScatterUnevenBlocks) {
  const ReduceAlgorithm& algo = *ReduceAlgorithms()[GetParam()];
  const Config cfg = SmallPieces();
  const int n = comm->size(), me = comm->rank();
  for (int variant = 0; variant < 4; ++variant) {
    std::vector<int64_t> counts(n);
    for (int r = 0; r < n; ++r) counts[r] = (variant * 5 + r * 3) % 7;  // includes zeros
    int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    std::vector<float> buf(total);
    for (int64_t i = 0; i < total; ++i) buf[i] = static_cast<float>(me + 1) * (i + 1);
    std::vector<float> out(counts[me] + 1, -7.0f);
    ASSERT_TRUE(algo.ReduceScatter(*comm, cfg, buf.data(), out.data(), counts, DataType::kFloat32, ReduceOp::kSum).ok());
    int64_t start = std::accumulate(counts.begin(), counts.begin() + me, int64_t{0});
    for (int64_t i = 0; i < counts[me]; ++i) {
      ASSERT_EQ(out[i], static_cast<float>(n * (n + 1) / 2) * (start + i + 1)) << algo.name() << " variant " << variant;
    }
    EXPECT_EQ(out[counts[me]], -7.0f) << "wrote past its block";
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, Algorithms, ::testing::Range<size_t>(0, ReduceAlgorithms().size()),
                         [](const auto& info) { return std::string(ReduceAlgorithms()[info.param]->name()); });

TEST(Communicator, AlltoallvPastTheChunkLimit) {
  MpiCommunicator small(comm->comm(), 8);  // 8-byte messages: the pairwise path
  const int n = small.size(), me = small.rank();
  std::vector<int64_t> send_bytes(n), recv_bytes(n);
  for (int j = 0; j < n; ++j) send_bytes[j] = 4 * ((me + j) % 3 + 1);
  for (int i = 0; i < n; ++i) recv_bytes[i] = 4 * ((i + me) % 3 + 1);
  std::vector<int32_t> send, recv(std::accumulate(recv_bytes.begin(), recv_bytes.end(), int64_t{0}) / 4);
  for (int j = 0; j < n; ++j) for (int k = 0; k < send_bytes[j] / 4; ++k) send.push_back(me * 100 + j * 10 + k);
  ASSERT_TRUE(small.Alltoallv(send.data(), send_bytes, recv.data(), recv_bytes).ok());
  size_t off = 0;
  for (int i = 0; i < n; ++i) for (int k = 0; k < recv_bytes[i] / 4; ++k) ASSERT_EQ(recv[off++], i * 100 + me * 10 + k);
}

// An out-of-place allreduce whose output sits in copy.h's window (16 bytes
// past the input modulo 4 KiB) is copied by hvd and reduced in place: the
// result is exact, the input untouched, nothing around the output written.
TEST(Communicator, AllreduceWithAliasedOutput) {
  const int n = comm->size(), me = comm->rank();
  for (int64_t count : {int64_t{1024}, int64_t{16411}}) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    std::vector<unsigned char> mem(2 * bytes + 3 * 4096);
    const uintptr_t base = (reinterpret_cast<uintptr_t>(mem.data()) + 4095) & ~uintptr_t{4095};
    auto* in = reinterpret_cast<float*>(base);
    auto* out = reinterpret_cast<float*>(base + ((bytes + 4095) & ~size_t{4095}) + 4096 + 16);
    ASSERT_TRUE(CopyIsAliased(out, in, bytes));
    for (int64_t i = 0; i < count; ++i) in[i] = static_cast<float>(me + 1) * static_cast<float>(i % 977);
    out[-1] = -3.0f;
    out[count] = -7.0f;
    ASSERT_TRUE(comm->Allreduce(in, out, count, DataType::kFloat32, ReduceOp::kSum).ok());
    const float ranks = static_cast<float>(n * (n + 1) / 2);
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_EQ(out[i], ranks * static_cast<float>(i % 977)) << "count " << count << " at " << i;
      ASSERT_EQ(in[i], static_cast<float>(me + 1) * static_cast<float>(i % 977)) << "input written at " << i;
    }
    EXPECT_EQ(out[-1], -3.0f);
    EXPECT_EQ(out[count], -7.0f);
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  {
    MpiCommunicator c(dup, int64_t{1} << 30);
    comm = &c;
    int rc = RUN_ALL_TESTS();
    int worst = 0;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    comm = nullptr;
    MPI_Comm_free(&dup);
    MPI_Finalize();
    return worst;
  }
}
