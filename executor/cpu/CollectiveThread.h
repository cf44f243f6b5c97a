//===- CollectiveThread.h - collectives off the step loop -------*- C++ -*-===//
//
// The CPU device runs collective steps on this thread, one at a time in
// program order (the order every rank issues them in, which MPI needs; and
// MPI_THREAD_SERIALIZED, as only this thread calls MPI during a run), while
// the step loop goes on with the steps that do not read their results: a
// gradient bucket's all_reduce overlaps the rest of the backward. Nothing is
// summed differently, so the results are the same bits either way.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CPU_COLLECTIVETHREAD_H
#define KILN_EXECUTOR_CPU_COLLECTIVETHREAD_H

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "absl/status/status.h"

namespace kiln {

class CollectiveThread {
public:
  CollectiveThread();
  /// Runs what was submitted, then joins.
  ~CollectiveThread();
  CollectiveThread(const CollectiveThread &) = delete;
  CollectiveThread &operator=(const CollectiveThread &) = delete;

  /// Queues `work` behind everything submitted before it.
  std::future<absl::Status> submit(std::function<absl::Status()> work);

private:
  void loop();

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::packaged_task<absl::Status()>> queue;
  bool stopping = false;
  std::thread worker;
};

} // namespace kiln

#endif // KILN_EXECUTOR_CPU_COLLECTIVETHREAD_H
