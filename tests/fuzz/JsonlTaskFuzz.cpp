// libFuzzer target: arbitrary bytes as a JSONL task file (models/tasks/
// JsonlTask.h), read for each reward kind. Every input is a task whose
// problems all generate, or an error naming the file and a line.
#include <cstdlib>
#include <string>

#include "models/tasks/JsonlTask.h"
#include "tests/fuzz/FuzzUtil.h"

using namespace kiln::models::tasks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  for (JsonlReward reward :
       {JsonlReward::kInteger, JsonlReward::kExact, JsonlReward::kCountdown}) {
    JsonlOptions options;
    options.reward = reward;
    options.demonstrationField = reward == JsonlReward::kExact ? "demo" : "";
    options.evalFraction = 0.5;
    auto task = JsonlTask::parse(text, "data.jsonl", options);
    if (!task.ok()) {
      std::string message(task.status().message());
      kiln::fuzz::checkMessage(message);
      // Every refusal names the file.
      if (message.rfind("data.jsonl", 0) != 0 && message.rfind("JSONL", 0) != 0)
        std::abort();
      continue;
    }
    if (task->size(Split::kTrain) == 0 || task->size(Split::kEval) == 0)
      std::abort();
    for (uint64_t i = 0; i < 8; ++i) {
      Problem p = task->generate(7, i, i % 2 ? Split::kEval : Split::kTrain);
      if (p.question.empty() || p.task != jsonlRewardName(reward))
        std::abort();
    }
  }
  return 0;
}
