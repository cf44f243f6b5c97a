//===- EventFile.cpp - TensorBoard event records, encoded by hand ---------===//

#include "models/grpo/EventFile.h"

#include <bit>

#include "models/grpo/Crc32c.h"

namespace kiln::models {

namespace {

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void putVarint(std::string &out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Little-endian whatever the host, as protobuf and TFRecord require.
void putLittleEndian(std::string &out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void putTag(std::string &out, int field, int wireType) {
  putVarint(out, static_cast<uint64_t>(field) << 3 | wireType);
}

void putBytes(std::string &out, int field, std::string_view bytes) {
  putTag(out, field, kLengthDelimited);
  putVarint(out, bytes.size());
  out.append(bytes);
}

std::string eventHeader(double wallTime, int64_t step) {
  std::string event;
  if (wallTime != 0) {
    putTag(event, 1, kFixed64);
    putLittleEndian(event, std::bit_cast<uint64_t>(wallTime), 8);
  }
  if (step != 0) {
    putTag(event, 2, kVarint);
    putVarint(event, static_cast<uint64_t>(step)); // negative: 10 bytes
  }
  return event;
}

} // namespace

std::string tfRecord(std::string_view payload) {
  std::string record;
  putLittleEndian(record, payload.size(), 8);
  putLittleEndian(record, maskCrc32c(crc32c(record)), 4);
  record.append(payload);
  putLittleEndian(record, maskCrc32c(crc32c(payload)), 4);
  return record;
}

std::string fileVersionEvent(double wallTime) {
  std::string event = eventHeader(wallTime, 0);
  putBytes(event, 3, kEventFileVersion);
  return event;
}

std::string scalarsEvent(double wallTime, int64_t step,
                         const Scalars &scalars) {
  std::string summary;
  for (const auto &[tag, value] : scalars) {
    std::string v;
    putBytes(v, 1, tag);
    putTag(v, 2, kFixed32);
    putLittleEndian(v, std::bit_cast<uint32_t>(static_cast<float>(value)), 4);
    putBytes(summary, 1, v);
  }
  std::string event = eventHeader(wallTime, step);
  putBytes(event, 5, summary);
  return event;
}

} // namespace kiln::models
