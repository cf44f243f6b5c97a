// libFuzzer target for the Hugging Face tokenizer: the first byte picks
// whether the rest is a tokenizer.json to load (and then encode a fixed text
// with) or text to encode and decode with the committed byte-level fixture.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "models/tokenizer/BpeTokenizer.h"
#include "models/tokenizer/Utf8.h"
#include "tests/fuzz/FuzzUtil.h"

using kiln::tokenizer::BpeTokenizer;

namespace {
const BpeTokenizer &fixture() {
  static const BpeTokenizer *tok = [] {
    auto t = BpeTokenizer::fromJson(KILN_SOURCE_DIR
                                    "/tests/fixtures/tokenizer/bytelevel.json");
    if (!t.ok())
      std::abort();
    return new BpeTokenizer(*std::move(t));
  }();
  return *tok;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view rest(reinterpret_cast<const char *>(data) + 1, size - 1);
  if (data[0] & 1) {
    auto tok = BpeTokenizer::fromJsonString(rest, "tokenizer.json");
    if (!tok.ok()) {
      kiln::fuzz::checkMessage(std::string(tok.status().message()));
      return 0;
    }
    auto ids = tok->encode("Hello world, 12 + 34 = 46 <think>", true);
    if (ids.ok())
      for (int64_t id : *ids)
        if (id < 0 || id >= tok->vocabSize())
          std::abort();
    return 0;
  }
  const BpeTokenizer &tok = fixture();
  auto ids = tok.encode(rest, false);
  if (!ids.ok()) {
    // Only text that is not UTF-8 is refused.
    if (kiln::tokenizer::findInvalidUtf8(rest) == std::string_view::npos)
      std::abort();
    return 0;
  }
  // Every id names a token, so decoding them never fails. (Text does not
  // round-trip exactly: the fixture adds a prefix space and strips around
  // <sep>, as Hugging Face does.)
  for (int64_t id : *ids)
    if (id < 0 || id >= tok.vocabSize())
      std::abort();
  if (!tok.decode(*ids, false).ok())
    std::abort();
  return 0;
}
