// libFuzzer target: arbitrary text as a Hugging Face DeepSeek-V3 config.json.
// Every input parses to a config that validates, or is refused with a message.
#include <cstdlib>

#include "models/deepseek/DeepseekConfig.h"
#include "tests/fuzz/FuzzUtil.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  auto config = kiln::models::parseDeepseekV3Config(text, "config.json");
  if (!config.ok()) {
    kiln::fuzz::checkMessage(std::string(config.status().message()));
    return 0;
  }
  if (!config->validate().ok())
    std::abort(); // parse promised a valid config
  (void)config->parameterCount();
  // What Kiln writes, it reads back.
  if (!kiln::models::parseDeepseekV3Config(config->toJson(), "again").ok())
    std::abort();
  return 0;
}
