//===- ClientSocket.cpp - noticing that an HTTP client went away ----------===//

#include "serving/ClientSocket.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace kiln::serving {

namespace {

/// The numeric host and the port of `addr`, as httplib spells them.
bool describe(const sockaddr_storage &addr, socklen_t len, std::string &host,
              int &port) {
  char name[NI_MAXHOST], service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr *>(&addr), len, name,
                  sizeof name, service, sizeof service,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  host = name;
  port = std::atoi(service);
  return true;
}

} // namespace

int findConnection(const std::string &remoteAddr, int remotePort,
                   int localPort) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir)
    return -1;
  int dirFd = dirfd(dir), found = -1;
  while (dirent *entry = readdir(dir)) {
    char *end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (*end || end == entry->d_name || fd == dirFd)
      continue;
    struct stat info;
    if (fstat(static_cast<int>(fd), &info) != 0 || !S_ISSOCK(info.st_mode))
      continue;
    sockaddr_storage local{}, peer{};
    socklen_t localLen = sizeof local, peerLen = sizeof peer;
    std::string host;
    int port = 0;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr *>(&local),
                    &localLen) != 0 ||
        !describe(local, localLen, host, port) || port != localPort)
      continue;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr *>(&peer),
                    &peerLen) != 0 ||
        !describe(peer, peerLen, host, port) || port != remotePort ||
        host != remoteAddr)
      continue;
    found = static_cast<int>(fd);
    break;
  }
  closedir(dir);
  return found;
}

bool peerHungUp(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0)
    return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

} // namespace kiln::serving
