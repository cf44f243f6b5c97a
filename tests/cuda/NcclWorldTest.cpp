// The GPU world through NCCL at world size 1, started as the environment
// rendezvous starts ranks (RANK=0, WORLD_SIZE=1): the code a multi-GPU run
// takes, on one GPU. Without a GPU or without NCCL the GPU cases skip, saying
// why; a NCCL that cannot be loaded is a clear error everywhere.
#include <cstdlib>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "executor/cuda/HostStagedCommunicator.h"
#include "executor/cuda/NcclApi.h"
#include "executor/cuda/NcclCommunicator.h"

namespace kiln::cuda {
namespace {

TEST(NcclLoad, AMissingLibraryIsNamedWithHowToGetIt) {
  const char *named = std::getenv("KILN_NCCL_LIBRARY");
  if (!named || std::string(named).find("/nonexistent/") == std::string::npos)
    GTEST_SKIP() << "run with KILN_NCCL_LIBRARY=/nonexistent/libnccl.so.2";
  auto api = loadNcclApi();
  ASSERT_FALSE(api.ok());
  std::string message(api.status().message());
  EXPECT_NE(message.find("cannot load NCCL (/nonexistent/libnccl.so.2)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("KILN_NCCL_LIBRARY"), std::string::npos) << message;
}

#define REQUIRE_GPU_AND_NCCL()                                                 \
  do {                                                                         \
    if (auto api = loadCudaApi(); !api.ok())                                   \
      GTEST_SKIP() << "needs a CUDA GPU: " << api.status().message();          \
    if (auto nccl = loadNcclApi(); !nccl.ok())                                 \
      GTEST_SKIP() << "needs NCCL: " << nccl.status().message();               \
  } while (0)

TEST(NcclWorld, OneRankThroughTheEnvironmentRendezvous) {
  REQUIRE_GPU_AND_NCCL();
  ASSERT_NE(std::getenv("RANK"), nullptr) << "ctest sets RANK=0 WORLD_SIZE=1";
  auto world = joinDeviceWorld(0);
  ASSERT_TRUE(world.ok()) << world.status();
  ASSERT_NE(world->nccl, nullptr) << "RANK and WORLD_SIZE must select NCCL";
  EXPECT_EQ(world->communicator->size(), 1);
  EXPECT_EQ(world->communicator->rank(), 0);
  EXPECT_NE(world->communicator->describe().find("NCCL"), std::string::npos);

  const CudaDevice &device = *world->device;
  const CudaApi &api = device.api();
  ASSERT_TRUE(device.makeCurrent().ok());
  constexpr int64_t bytes = 4096;
  auto a = device.allocate(bytes, "send");
  auto b = device.allocate(2 * bytes, "receive");
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<uint8_t> host(bytes), back(2 * bytes, 0xff);
  for (int64_t i = 0; i < bytes; ++i)
    host[i] = static_cast<uint8_t>(i * 7 + 1);
  ASSERT_EQ(api.cuMemcpyHtoDAsync(a->ptr(), host.data(), bytes, nullptr), 0);
  ASSERT_EQ(api.cuMemsetD8Async(b->ptr(), 0, 2 * bytes, nullptr), 0);
  ASSERT_EQ(api.cuStreamSynchronize(nullptr), 0);

  CollectiveSite site{"all_gather", "test"};
  auto *send = reinterpret_cast<void *>(a->ptr());
  auto *recv = reinterpret_cast<void *>(b->ptr());
  ASSERT_TRUE(world->communicator->allGather(send, recv, bytes, site).ok());
  // A one-rank all_to_all: 1000 bytes from offset 96 land at offset 3000.
  std::vector<int64_t> count = {1000}, from = {96}, to = {bytes + 3000};
  absl::Status moved = world->communicator->allToAll(send, count, from, recv,
                                                     count, to, site);
  ASSERT_TRUE(moved.ok()) << moved;
  ASSERT_EQ(api.cuMemcpyDtoHAsync(back.data(), b->ptr(), 2 * bytes, nullptr),
            0);
  ASSERT_EQ(api.cuStreamSynchronize(nullptr), 0);
  for (int64_t i = 0; i < bytes; ++i)
    ASSERT_EQ(back[i], host[i]) << "all_gather byte " << i;
  for (int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(back[bytes + 3000 + i], host[96 + i]) << "all_to_all byte " << i;
  EXPECT_EQ(back[bytes + 2999], 0);
}

// The training loop's host exchanges on GPU ranks started without MPI: host
// bytes staged through the GPU for NCCL.
TEST(NcclWorld, HostBuffersStagedThroughTheGpu) {
  REQUIRE_GPU_AND_NCCL();
  auto world = joinDeviceWorld(0);
  ASSERT_TRUE(world.ok()) << world.status();
  ASSERT_NE(world->nccl, nullptr) << "ctest sets RANK=0 WORLD_SIZE=1";
  HostStagedCommunicator host(world->device, world->nccl);
  EXPECT_EQ(host.size(), 1);
  EXPECT_NE(host.describe().find("staged"), std::string::npos);
  CollectiveSite site{"metrics", "test"};
  std::vector<double> mine = {1.5, -2.0, 3.25}, all(3, 0.0);
  ASSERT_TRUE(host.allGather(mine.data(), all.data(), 24, site).ok());
  EXPECT_EQ(all, mine);
  // An all_to_all into the middle of a buffer keeps the bytes around it.
  std::vector<uint8_t> send(64), recv(64, 0xab);
  for (int i = 0; i < 64; ++i)
    send[i] = static_cast<uint8_t>(i);
  std::vector<int64_t> count = {10}, from = {5}, to = {20};
  ASSERT_TRUE(
      host.allToAll(send.data(), count, from, recv.data(), count, to, site)
          .ok());
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(recv[i], i >= 20 && i < 30 ? i - 15 : 0xab) << i;
}

} // namespace
} // namespace kiln::cuda
