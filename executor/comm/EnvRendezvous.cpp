//===- EnvRendezvous.cpp - ranks started without MPI ----------------------===//

#include "executor/comm/EnvRendezvous.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

/// "KILN" and a version: a stray connection is refused, not misread.
constexpr uint32_t kMagic = 0x4b494c01;

absl::StatusOr<int64_t> envInt(const char *name, int64_t lo, int64_t hi,
                               std::optional<int64_t> fallback) {
  const char *text = std::getenv(name);
  if (!text) {
    if (fallback)
      return *fallback;
    return absl::InvalidArgumentError(absl::StrCat(
        name, " is not set; the environment rendezvous needs RANK and "
              "WORLD_SIZE (as torchrun sets them)"));
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < lo || value > hi)
    return absl::InvalidArgumentError(absl::StrCat(
        name, " must be an integer in [", lo, ", ", hi, "], got '", text,
        "'"));
  return value;
}

class Socket {
public:
  explicit Socket(int fd = -1) : fd(fd) {}
  Socket(Socket &&other) noexcept : fd(other.fd) { other.fd = -1; }
  Socket &operator=(Socket &&other) noexcept {
    std::swap(fd, other.fd);
    return *this;
  }
  ~Socket() {
    if (fd >= 0)
      ::close(fd);
  }
  int get() const { return fd; }

private:
  int fd;
};

double secondsLeft(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

/// Reads or writes exactly `n` bytes before the deadline.
bool transfer(int fd, void *data, size_t n, bool writing,
              Clock::time_point deadline) {
  char *p = static_cast<char *>(data);
  while (n > 0) {
    pollfd pfd{fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0};
    int ms = static_cast<int>(std::max(0.0, secondsLeft(deadline)) * 1000);
    if (::poll(&pfd, 1, ms) <= 0)
      return false;
    ssize_t done = writing ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
    if (done <= 0) {
      if (done < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      return false;
    }
    p += done;
    n -= static_cast<size_t>(done);
  }
  return true;
}

absl::StatusOr<std::string> serve(const EnvWorld &world, const std::string &blob,
                                  Clock::time_point deadline, double timeout) {
  Socket listener(::socket(AF_INET6, SOCK_STREAM, 0));
  bool v6 = listener.get() >= 0;
  if (!v6)
    listener = Socket(::socket(AF_INET, SOCK_STREAM, 0));
  if (listener.get() < 0)
    return absl::UnavailableError(
        absl::StrCat("rendezvous: socket: ", std::strerror(errno)));
  int one = 1, zero = 0;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int bound;
  if (v6) {
    ::setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_any;
    address.sin6_port = htons(static_cast<uint16_t>(world.port));
    bound = ::bind(listener.get(), reinterpret_cast<sockaddr *>(&address),
                   sizeof address);
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    address.sin_port = htons(static_cast<uint16_t>(world.port));
    bound = ::bind(listener.get(), reinterpret_cast<sockaddr *>(&address),
                   sizeof address);
  }
  if (bound != 0 || ::listen(listener.get(), world.size) != 0)
    return absl::UnavailableError(absl::StrCat(
        "rendezvous: rank 0 cannot listen on port ", world.port, ": ",
        std::strerror(errno),
        " (set KILN_RENDEZVOUS_PORT to a free port on every rank)"));
  std::set<int> waiting;
  for (int r = 1; r < world.size; ++r)
    waiting.insert(r);
  while (!waiting.empty()) {
    pollfd pfd{listener.get(), POLLIN, 0};
    int ms = static_cast<int>(std::max(0.0, secondsLeft(deadline)) * 1000);
    if (::poll(&pfd, 1, ms) <= 0)
      return absl::DeadlineExceededError(absl::StrCat(
          "rendezvous: within ", timeout, " s, rank",
          waiting.size() == 1 ? " " : "s ", absl::StrJoin(waiting, ", "),
          " never connected to rank 0 at port ", world.port));
    Socket peer(::accept(listener.get(), nullptr, nullptr));
    if (peer.get() < 0)
      continue;
    uint32_t hello[2];
    if (!transfer(peer.get(), hello, sizeof hello, false, deadline) ||
        ntohl(hello[0]) != kMagic)
      continue; // not a Kiln rank: ignore it
    int rank = static_cast<int>(ntohl(hello[1]));
    if (!waiting.count(rank))
      return absl::FailedPreconditionError(absl::StrCat(
          "rendezvous: a second process says it is rank ", rank,
          " (or a rank outside WORLD_SIZE ", world.size, ")"));
    uint32_t size = htonl(static_cast<uint32_t>(blob.size()));
    if (!transfer(peer.get(), &size, sizeof size, true, deadline) ||
        !transfer(peer.get(), const_cast<char *>(blob.data()), blob.size(),
                  true, deadline))
      return absl::UnavailableError(absl::StrCat(
          "rendezvous: rank ", rank, " hung up before it got the id"));
    waiting.erase(rank);
  }
  return blob;
}

absl::StatusOr<std::string> ask(const EnvWorld &world,
                                Clock::time_point deadline, double timeout) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(world.port);
  if (int rc = ::getaddrinfo(world.masterAddress.c_str(), port.c_str(), &hints,
                             &found);
      rc != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("rendezvous: MASTER_ADDR '", world.masterAddress,
                     "' does not resolve: ", gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found,
                                                               freeaddrinfo);
  // Rank 0 may not be listening yet: retry until the deadline.
  while (secondsLeft(deadline) > 0) {
    for (addrinfo *a = addresses.get(); a; a = a->ai_next) {
      Socket s(::socket(a->ai_family, a->ai_socktype, a->ai_protocol));
      if (s.get() < 0 || ::connect(s.get(), a->ai_addr, a->ai_addrlen) != 0)
        continue;
      uint32_t hello[2] = {htonl(kMagic),
                           htonl(static_cast<uint32_t>(world.rank))};
      uint32_t size = 0;
      if (!transfer(s.get(), hello, sizeof hello, true, deadline) ||
          !transfer(s.get(), &size, sizeof size, false, deadline))
        continue;
      std::string blob(ntohl(size), '\0');
      if (blob.size() > (1u << 20) ||
          !transfer(s.get(), blob.data(), blob.size(), false, deadline))
        return absl::UnavailableError(
            "rendezvous: rank 0 hung up while sending the id");
      return blob;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "rendezvous: rank 0 did not answer at ", world.masterAddress, ":",
      world.port, " within ", timeout, " s (is it running, and MASTER_ADDR "
      "its address?)"));
}

} // namespace

absl::StatusOr<EnvWorld> readEnvWorld() {
  EnvWorld world;
  auto size = envInt("WORLD_SIZE", 1, 1 << 20, std::nullopt);
  if (!size.ok())
    return size.status();
  auto rank = envInt("RANK", 0, *size - 1, std::nullopt);
  if (!rank.ok())
    return rank.status();
  auto local = envInt("LOCAL_RANK", 0, 1 << 16, *rank);
  if (!local.ok())
    return local.status();
  auto masterPort = envInt("MASTER_PORT", 1, 65534, 29500);
  if (!masterPort.ok())
    return masterPort.status();
  auto port = envInt("KILN_RENDEZVOUS_PORT", 1, 65535, *masterPort + 1);
  if (!port.ok())
    return port.status();
  world.size = static_cast<int>(*size);
  world.rank = static_cast<int>(*rank);
  world.localRank = static_cast<int>(*local);
  world.port = static_cast<int>(*port);
  if (const char *address = std::getenv("MASTER_ADDR"); address && *address)
    world.masterAddress = address;
  return world;
}

absl::StatusOr<std::string> shareFromRankZero(const EnvWorld &world,
                                              const std::string &blob,
                                              double timeoutSeconds) {
  if (world.size == 1)
    return blob;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(
                                         timeoutSeconds));
  return world.rank == 0 ? serve(world, blob, deadline, timeoutSeconds)
                         : ask(world, deadline, timeoutSeconds);
}

} // namespace kiln
