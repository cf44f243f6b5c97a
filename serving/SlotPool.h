//===- SlotPool.h - the decode batch's rows as KV-cache slots    -*- C++
//-*-===//
//
// The compiled decode entry holds a KV cache of [slots, context] per layer;
// each row is one sequence's cache. A slot is taken when a sequence joins the
// batch and given back when it leaves; a reused slot needs no clearing, since
// attention reads only positions the new sequence has written.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_SLOTPOOL_H
#define KILN_SERVING_SLOTPOOL_H

#include <cstdint>
#include <optional>
#include <set>

namespace kiln::serving {

class SlotPool {
public:
  explicit SlotPool(int64_t slots) {
    for (int64_t i = 0; i < slots; ++i)
      free.insert(i);
  }
  /// The lowest free slot, so an idle server always runs a lone request in
  /// slot 0; nullopt when all are taken.
  std::optional<int64_t> acquire() {
    if (free.empty())
      return std::nullopt;
    int64_t slot = *free.begin();
    free.erase(free.begin());
    return slot;
  }
  void release(int64_t slot) { free.insert(slot); }
  int64_t available() const { return static_cast<int64_t>(free.size()); }

private:
  std::set<int64_t> free;
};

} // namespace kiln::serving

#endif // KILN_SERVING_SLOTPOOL_H
