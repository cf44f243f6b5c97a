// libFuzzer target: arbitrary bytes as an Executable file (binary protobuf, or
// text format after a leading 't'), then handed to the CPU executor. Loading
// validates everything a run relies on, so Executor::create refuses or
// accepts; it is not run (an accepted Executable may loop for long).
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

#include "executor/Executor.h"
#include "tests/fuzz/FuzzUtil.h"

// The text-format parser logs every refused input to stderr; the status says
// the same, and the log would fill the disk over a long run.
extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool text = size > 0 && data[0] == 't';
  std::string path =
      text ? kiln::fuzz::writeInput("exe.txtpb", data + 1, size - 1)
           : kiln::fuzz::writeInput("exe.kx", data, size);
  auto exe = kiln::readExecutable(path);
  if (!exe.ok()) {
    kiln::fuzz::checkMessage(std::string(exe.status().message()));
    return 0;
  }
  kiln::ExecutorOptions options;
  options.numThreads = 1;
  auto executor = kiln::Executor::create(*exe, options);
  if (!executor.ok())
    kiln::fuzz::checkMessage(std::string(executor.status().message()));
  return 0;
}
