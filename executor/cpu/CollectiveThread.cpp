//===- CollectiveThread.cpp - collectives off the step loop ---------------===//

#include "executor/cpu/CollectiveThread.h"

namespace kiln {

CollectiveThread::CollectiveThread() : worker([this] { loop(); }) {}

CollectiveThread::~CollectiveThread() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_one();
  worker.join();
}

std::future<absl::Status>
CollectiveThread::submit(std::function<absl::Status()> work) {
  std::packaged_task<absl::Status()> task(std::move(work));
  std::future<absl::Status> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex);
    queue.push_back(std::move(task));
  }
  wake.notify_one();
  return done;
}

void CollectiveThread::loop() {
  while (true) {
    std::packaged_task<absl::Status()> task;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [this] { return stopping || !queue.empty(); });
      if (queue.empty())
        return; // stopping, and everything submitted has run
      task = std::move(queue.front());
      queue.pop_front();
    }
    task();
  }
}

} // namespace kiln
