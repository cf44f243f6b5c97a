// The environment rendezvous (ranks started without MPI): rank 0 hands its
// bytes (NCCL's id, in real use) to every other process over TCP; a rank that
// never comes is named at the deadline; bad variables are named.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <gtest/gtest.h>

#include "executor/comm/EnvRendezvous.h"

namespace kiln {
namespace {

/// A port free now: the kernel picks it for a socket bound to port 0, which
/// is closed again (a fixed guess could be any process's ephemeral port).
int testPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&address), length), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length),
            0);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(EnvRendezvous, RankZeroReachesEveryRank) {
  constexpr int ranks = 3;
  const std::string blob(128, '\x5a');
  int port = testPort();
  std::vector<pid_t> children;
  for (int r = 1; r < ranks; ++r) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      EnvWorld world;
      world.rank = r;
      world.size = ranks;
      world.port = port;
      auto got = shareFromRankZero(world, "", 20);
      _exit(got.ok() && *got == blob ? 0 : 1);
    }
    children.push_back(pid);
  }
  EnvWorld world;
  world.size = ranks;
  world.port = port;
  auto got = shareFromRankZero(world, blob, 20);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a rank did not receive rank 0's bytes";
  }
}

TEST(EnvRendezvous, ARankThatNeverComesIsNamedAtTheDeadline) {
  EnvWorld world;
  world.size = 3;
  world.port = testPort();
  auto start = std::chrono::steady_clock::now();
  auto got = shareFromRankZero(world, "id", 1.0);
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("ranks 1, 2 never connected"),
            std::string::npos)
      << got.status();
  EXPECT_LT(seconds, 5);
}

TEST(EnvRendezvous, RankZeroThatNeverAnswersIsNamed) {
  EnvWorld world;
  world.rank = 1;
  world.size = 2;
  world.port = testPort();
  auto got = shareFromRankZero(world, "", 0.5);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("rank 0 did not answer"),
            std::string::npos)
      << got.status();
}

TEST(EnvRendezvous, BadVariablesAreNamed) {
  setenv("WORLD_SIZE", "two", 1);
  setenv("RANK", "0", 1);
  auto world = readEnvWorld();
  ASSERT_FALSE(world.ok());
  EXPECT_NE(world.status().message().find("WORLD_SIZE must be an integer"),
            std::string::npos)
      << world.status();
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "2", 1);
  world = readEnvWorld();
  ASSERT_FALSE(world.ok());
  EXPECT_NE(world.status().message().find("RANK must be an integer in [0, 1]"),
            std::string::npos)
      << world.status();
  setenv("RANK", "1", 1);
  setenv("MASTER_PORT", "40000", 1);
  unsetenv("KILN_RENDEZVOUS_PORT");
  world = readEnvWorld();
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(world->rank, 1);
  EXPECT_EQ(world->localRank, 1);
  EXPECT_EQ(world->port, 40001); // torchrun's store keeps MASTER_PORT
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
  unsetenv("MASTER_PORT");
}

} // namespace
} // namespace kiln
