// libFuzzer target: arbitrary text as kiln-train's textproto configuration.
// Every input parses to a config that validates, or is refused with a
// message (non-finite numbers, sizes past 2^31 and bad enums included).
#include <cmath>
#include <cstdlib>

#include "models/train/TrainConfig.h"
#include "tests/fuzz/FuzzUtil.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  auto config = kiln::train::parseTrainConfig(text, "run.textproto");
  if (!config.ok()) {
    kiln::fuzz::checkMessage(std::string(config.status().message()));
    return 0;
  }
  if (!kiln::train::validateTrainConfig(*config).ok() ||
      !std::isfinite(config->grpo().beta()) || config->grpo().group_size() < 2)
    std::abort();
  return 0;
}
