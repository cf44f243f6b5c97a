// libFuzzer target: arbitrary bytes as a safetensors file, then as a sharded
// index next to it. Every input is read or refused with a message; a read
// file's tensors hold exactly the bytes their headers promise.
#include "executor/Safetensors.h"
#include "tests/fuzz/FuzzUtil.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = kiln::fuzz::writeInput("model.safetensors", data, size);
  auto file = kiln::readSafetensors(path);
  if (!file.ok()) {
    kiln::fuzz::checkMessage(std::string(file.status().message()));
  } else {
    uint64_t total = 0;
    for (const auto &[name, t] : file->tensors) {
      if (!t.valid() || t.byteSize() < 0 || name.empty())
        std::abort();
      total += static_cast<uint64_t>(t.byteSize());
    }
    if (total > size)
      std::abort(); // more tensor bytes than the file holds
  }
  std::string index =
      kiln::fuzz::writeInput("model.safetensors.index.json", data, size);
  auto sharded = kiln::readSafetensorsIndex(index);
  if (!sharded.ok())
    kiln::fuzz::checkMessage(std::string(sharded.status().message()));
  return 0;
}
