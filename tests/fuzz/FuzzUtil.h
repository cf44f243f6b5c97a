//===- FuzzUtil.h - helpers shared by the libFuzzer targets -----*- C++ -*-===//
//
// The readers take paths, so each input is written to a file in a private
// temporary folder (tmpfs where present) first.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_FUZZ_FUZZUTIL_H
#define KILN_TESTS_FUZZ_FUZZUTIL_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace kiln::fuzz {

/// A folder of this process, made once.
inline const std::string &scratchDir() {
  static const std::string dir = [] {
    std::string pattern =
        (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
        std::string("/kiln-fuzz-XXXXXX");
    if (!::mkdtemp(pattern.data()))
      std::abort();
    return pattern;
  }();
  return dir;
}

/// Writes `size` bytes to scratchDir()/name and returns the path.
inline std::string writeInput(const std::string &name, const uint8_t *data,
                              size_t size) {
  std::string path = scratchDir() + "/" + name;
  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);
  return path;
}

/// A message must stay a message: bounded, whatever the input.
inline void checkMessage(const std::string &message) {
  if (message.size() > 64 * 1024)
    std::abort();
}

} // namespace kiln::fuzz

#endif // KILN_TESTS_FUZZ_FUZZUTIL_H
