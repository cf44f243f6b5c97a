//===- ConstraintCache.h - compiled output constraints, by pattern -*- C++
//-*-===//
//
// Requests that repeat a regex or a schema (clients send the same
// response_format again and again) reuse its automaton and every mask row
// computed for it, so only the first pays for compiling and trie walks.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_CONSTRAINTCACHE_H
#define KILN_SERVING_CONSTRAINTCACHE_H

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "serving/TokenMasks.h"

namespace kiln::serving {

/// Mask rows computed when a pattern is compiled, in bits (states x
/// vocabulary); past it, rows come as decoding reaches their states.
inline constexpr int64_t kPrecomputeBits = int64_t{1} << 26;

class ConstraintCache {
public:
  explicit ConstraintCache(std::shared_ptr<const TokenTrie> trie,
                           size_t capacity = 32)
      : trie(std::move(trie)), capacity(capacity) {}

  /// The constraint of regex `pattern` (RegexDfa.h), compiled on first use;
  /// compileRegex's error otherwise.
  absl::StatusOr<std::shared_ptr<const TokenConstraint>>
  get(const std::string &pattern);

private:
  std::shared_ptr<const TokenTrie> trie;
  size_t capacity;
  std::mutex mutex;
  /// Most recently used first.
  std::list<std::pair<std::string, std::shared_ptr<const TokenConstraint>>>
      order;
  std::map<std::string, decltype(order)::iterator> index;
};

} // namespace kiln::serving

#endif // KILN_SERVING_CONSTRAINTCACHE_H
