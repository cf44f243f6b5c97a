//===- ClientSocket.h - noticing that an HTTP client went away  -*- C++ -*-===//
//
// httplib 0.11 hands a handler no socket, and a handler that waits for an
// answer writes nothing until it has one, so it would never learn that its
// client hung up. These find the connection's accepted socket from the
// addresses httplib records on the request and ask the kernel whether the
// peer closed it, without reading from it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_CLIENTSOCKET_H
#define KILN_SERVING_CLIENTSOCKET_H

#include <string>

namespace kiln::serving {

/// The socket of this process whose peer is `remoteAddr`:`remotePort` (as
/// getnameinfo spells it numerically) and whose own port is `localPort`, or
/// -1 when there is none (or the platform cannot list its descriptors).
int findConnection(const std::string &remoteAddr, int remotePort,
                   int localPort);

/// Whether the peer of socket `fd` has shut down its side or reset the
/// connection; never blocks and consumes nothing.
bool peerHungUp(int fd);

} // namespace kiln::serving

#endif // KILN_SERVING_CLIENTSOCKET_H
