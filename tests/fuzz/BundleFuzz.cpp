// libFuzzer target: arbitrary bytes as a bundle's manifest.json. Opening reads
// or refuses it; every entry of an opened bundle names a file inside it, and
// loading one is an error, never a crash.
#include <cstdlib>

#include "executor/Bundle.h"
#include "tests/fuzz/FuzzUtil.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::fuzz::writeInput("manifest.json", data, size);
  auto bundle = kiln::openBundle(kiln::fuzz::scratchDir());
  if (!bundle.ok()) {
    kiln::fuzz::checkMessage(std::string(bundle.status().message()));
    return 0;
  }
  for (const kiln::BundleEntry &e : bundle->entries()) {
    if (e.file.empty() || e.file[0] == '/' ||
        e.file.find("..") != std::string::npos)
      std::abort();
    auto exe = bundle->load(e.key);
    if (!exe.ok())
      kiln::fuzz::checkMessage(std::string(exe.status().message()));
  }
  return 0;
}
