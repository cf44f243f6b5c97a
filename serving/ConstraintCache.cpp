//===- ConstraintCache.cpp - compiled output constraints, by pattern ------===//

#include "serving/ConstraintCache.h"

#include "serving/RegexDfa.h"

namespace kiln::serving {

absl::StatusOr<std::shared_ptr<const TokenConstraint>>
ConstraintCache::get(const std::string &pattern) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = index.find(pattern); it != index.end()) {
      order.splice(order.begin(), order, it->second);
      return it->second->second;
    }
  }
  // Compiled outside the lock (it may take a while); a race compiles twice
  // and keeps the first.
  absl::StatusOr<ByteDfa> dfa = compileRegex(pattern);
  if (!dfa.ok())
    return dfa.status();
  auto constraint =
      std::make_shared<const TokenConstraint>(*std::move(dfa), trie);
  constraint->precompute(kPrecomputeBits);
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = index.find(pattern); it != index.end())
    return it->second->second;
  order.emplace_front(pattern, constraint);
  index[pattern] = order.begin();
  if (order.size() > capacity) {
    index.erase(order.back().first);
    order.pop_back();
  }
  return constraint;
}

} // namespace kiln::serving
