//===- MetricsTest.cpp - CRC-32C, TensorBoard event files and JSONL -------===//
//
// Known CRC-32C vectors; event files read back by a small TFRecord/protobuf
// reader written here (lengths, both CRCs, every field); the committed event
// file that TensorBoard's own reader accepted (tests/fixtures/tensorboard);
// JSONL lines that parse, survive reopening and a torn last line.
//
//===----------------------------------------------------------------------===//

#include <bit>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "models/grpo/Crc32c.h"
#include "models/grpo/EventFile.h"
#include "models/grpo/Metrics.h"
#include "nlohmann/json.hpp"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string freshDir(const std::string &name) {
  std::string dir = ::testing::TempDir() + "/kiln-metrics-" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ScalarMeans, AveragesEachNameOverItsValuesInFirstSeenOrder) {
  // Two GRPO updates of one batch: the logged KL is their mean, not the
  // last update's.
  ScalarMeans means;
  means.add("kl", 0.0);
  means.add("clip_ratio/region_mean", 0.25);
  means.add("kl", 0.5);
  means.add("clip_ratio/region_mean", 0.75);
  means.add("entropy", 2.0);
  EXPECT_EQ(means.means(), (Scalars{{"kl", 0.25},
                                    {"clip_ratio/region_mean", 0.5},
                                    {"entropy", 2.0}}));
  EXPECT_TRUE(ScalarMeans().means().empty());
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  // RFC 3720 (iSCSI), appendix B.4.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(crc32c("56789", crc32c("1234")), 0xE3069283u);
  EXPECT_EQ(maskCrc32c(0), 0xa282ead8u);
  EXPECT_EQ(maskCrc32c(0x00008000u), 0xa282ead9u);
}

//===--- A reader independent of the writer ------------------------------===//

struct Event {
  double wallTime = 0;
  int64_t step = 0;
  std::string fileVersion;
  std::vector<std::pair<std::string, float>> values;
};

uint64_t littleEndian(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  return value;
}

/// Protobuf fields of one message: (field number, wire type, raw value or
/// payload). Fails the test on malformed input.
struct Field {
  int number, wireType;
  uint64_t scalar = 0;
  std::string_view bytes;
};
std::vector<Field> parseMessage(std::string_view data) {
  std::vector<Field> fields;
  size_t pos = 0;
  auto varint = [&]() {
    uint64_t value = 0;
    for (int shift = 0; pos < data.size(); shift += 7) {
      uint8_t byte = static_cast<uint8_t>(data[pos++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        return value;
    }
    ADD_FAILURE() << "truncated varint";
    return value;
  };
  while (pos < data.size()) {
    uint64_t key = varint();
    Field f{static_cast<int>(key >> 3), static_cast<int>(key & 7)};
    switch (f.wireType) {
    case 0:
      f.scalar = varint();
      break;
    case 1:
    case 5: {
      size_t n = f.wireType == 1 ? 8 : 4;
      EXPECT_LE(pos + n, data.size());
      f.scalar = littleEndian(data.substr(pos, n));
      pos += n;
      break;
    }
    case 2: {
      uint64_t n = varint();
      EXPECT_LE(pos + n, data.size());
      f.bytes = data.substr(pos, n);
      pos += n;
      break;
    }
    default:
      ADD_FAILURE() << "wire type " << f.wireType;
      return fields;
    }
    fields.push_back(f);
  }
  return fields;
}

Event parseEvent(std::string_view payload) {
  Event event;
  for (const Field &f : parseMessage(payload)) {
    if (f.number == 1 && f.wireType == 1)
      event.wallTime = std::bit_cast<double>(f.scalar);
    else if (f.number == 2 && f.wireType == 0)
      event.step = static_cast<int64_t>(f.scalar);
    else if (f.number == 3 && f.wireType == 2)
      event.fileVersion = std::string(f.bytes);
    else if (f.number == 5 && f.wireType == 2) {
      for (const Field &value : parseMessage(f.bytes)) {
        EXPECT_EQ(value.number, 1);
        std::pair<std::string, float> tagged;
        for (const Field &v : parseMessage(value.bytes)) {
          if (v.number == 1 && v.wireType == 2)
            tagged.first = std::string(v.bytes);
          else if (v.number == 2 && v.wireType == 5)
            tagged.second =
                std::bit_cast<float>(static_cast<uint32_t>(v.scalar));
          else
            ADD_FAILURE() << "unexpected Value field " << v.number;
        }
        event.values.push_back(tagged);
      }
    } else
      ADD_FAILURE() << "unexpected Event field " << f.number;
  }
  return event;
}

/// Every record of a TFRecord file, both CRCs checked.
std::vector<Event> readEvents(const std::string &bytes) {
  std::vector<Event> events;
  std::string_view data = bytes;
  size_t pos = 0;
  while (pos < data.size()) {
    EXPECT_GE(data.size() - pos, 12u) << "truncated record header";
    if (data.size() - pos < 12)
      break;
    std::string_view length = data.substr(pos, 8);
    uint64_t n = littleEndian(length);
    EXPECT_EQ(littleEndian(data.substr(pos + 8, 4)), maskCrc32c(crc32c(length)))
        << "length CRC of record " << events.size();
    EXPECT_GE(data.size() - pos - 12, n + 4) << "truncated record";
    if (data.size() - pos - 12 < n + 4)
      break;
    std::string_view payload = data.substr(pos + 12, n);
    EXPECT_EQ(littleEndian(data.substr(pos + 12 + n, 4)),
              maskCrc32c(crc32c(payload)))
        << "payload CRC of record " << events.size();
    events.push_back(parseEvent(payload));
    pos += 12 + n + 4;
  }
  return events;
}

TEST(EventFile, RecordsAndFieldsReadBack) {
  std::string bytes =
      tfRecord(fileVersionEvent(1234.5)) +
      tfRecord(scalarsEvent(1235.25, 7, {{"loss", 0.125}, {"kl", 1e-3}})) +
      tfRecord(scalarsEvent(1236, -2, {{"a/b", -3}}));
  std::vector<Event> events = readEvents(bytes);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].fileVersion, "brain.Event:2");
  EXPECT_EQ(events[0].wallTime, 1234.5);
  EXPECT_EQ(events[0].step, 0);
  EXPECT_TRUE(events[0].values.empty());
  EXPECT_EQ(events[1].wallTime, 1235.25);
  EXPECT_EQ(events[1].step, 7);
  ASSERT_EQ(events[1].values.size(), 2u);
  EXPECT_EQ(events[1].values[0],
            (std::pair<std::string, float>{"loss", 0.125f}));
  EXPECT_EQ(events[1].values[1], (std::pair<std::string, float>{"kl", 1e-3f}));
  EXPECT_EQ(events[2].step, -2);
  EXPECT_EQ(events[2].values[0].second, -3.0f);
  // The framing itself: 8-byte length, then its masked CRC.
  EXPECT_EQ(littleEndian(std::string_view(bytes).substr(0, 8)),
            fileVersionEvent(1234.5).size());
}

TEST(TensorBoardWriter, WritesAReadableFileNamedAsTensorFlowDoes) {
  std::string dir = freshDir("tb");
  auto writer = TensorBoardWriter::open(dir + "/run1");
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::string name = fs::path(writer->path()).filename().string();
  EXPECT_TRUE(std::regex_match(
      name, std::regex(R"(events\.out\.tfevents\.\d{10}\..+)")))
      << name;
  for (int64_t step = 1; step <= 3; ++step)
    ASSERT_TRUE(writer
                    ->write(step,
                            {{"loss", 1.0 / step}, {"reward", 0.25 * step}},
                            1000.0 + step)
                    .ok());
  // Flushed per step: readable while the writer is still open.
  std::vector<Event> events = readEvents(readFile(writer->path()));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].fileVersion, kEventFileVersion);
  EXPECT_GT(events[0].wallTime, 1.7e9);
  for (int64_t step = 1; step <= 3; ++step) {
    EXPECT_EQ(events[step].step, step);
    EXPECT_EQ(events[step].wallTime, 1000.0 + step);
    ASSERT_EQ(events[step].values.size(), 2u);
    EXPECT_EQ(events[step].values[0].first, "loss");
    EXPECT_EQ(events[step].values[0].second, static_cast<float>(1.0 / step));
    EXPECT_EQ(events[step].values[1].second, static_cast<float>(0.25 * step));
  }
  EXPECT_FALSE(writer->write(4, {{"", 1}}).ok());

  // A second writer in the same second gets its own file.
  auto other = TensorBoardWriter::open(dir + "/run1");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->path(), writer->path());
  EXPECT_EQ(readEvents(readFile(writer->path())).size(), 4u);
}

/// The committed fixture, which tests/fixtures/tensorboard/check_events.py
/// read back with TensorBoard's EventAccumulator on the GPU machine.
std::string fixtureBytes() {
  return tfRecord(fileVersionEvent(1764288000.5)) +
         tfRecord(scalarsEvent(1764288001.0, 1,
                               {{"loss", 0.6931471805599453},
                                {"kl", 0.0012},
                                {"clip_ratio/region_mean", 0.0625}})) +
         tfRecord(scalarsEvent(1764288002.0, 2,
                               {{"loss", 0.5},
                                {"kl", 0.0025},
                                {"clip_ratio/region_mean", 0.125}})) +
         tfRecord(scalarsEvent(1764288003.0, 300, {{"reward/mean", -1.75}}));
}

TEST(TensorBoardWriter, MatchesTheFixtureTensorBoardRead) {
  std::string path = std::string(KILN_SOURCE_DIR) +
                     "/tests/fixtures/tensorboard/"
                     "events.out.tfevents.1764288000.kiln-fixture";
  if (std::getenv("KILN_UPDATE_FIXTURES")) {
    std::ofstream(path, std::ios::binary) << fixtureBytes();
    GTEST_SKIP() << "rewrote " << path;
  }
  ASSERT_TRUE(fs::exists(path)) << path;
  EXPECT_EQ(readFile(path), fixtureBytes());
}

//===--- JSONL -----------------------------------------------------------===//

std::vector<std::string> lines(const std::string &path) {
  std::vector<std::string> result;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

TEST(JsonlWriter, OneObjectPerStepAppendedAcrossRuns) {
  std::string path = freshDir("jsonl") + "/sub/metrics.jsonl";
  {
    auto writer = JsonlWriter::open(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->write(1, {{"loss", 0.5}, {"kl", 1e-3}}, 10.0).ok());
    ASSERT_TRUE(writer->write(2, {{"loss", NAN}, {"reward", -2}}).ok());
    // Flushed: visible before the writer closes.
    EXPECT_EQ(lines(path).size(), 2u);
    EXPECT_FALSE(writer->write(3, {{"step", 1}}).ok());
    EXPECT_FALSE(writer->write(3, {{"a", 1}, {"a", 2}}).ok());
  }
  {
    auto writer = JsonlWriter::open(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->write(3, {{"loss", 0.25}}).ok());
  }
  std::vector<std::string> all = lines(path);
  ASSERT_EQ(all.size(), 3u);
  auto first = nlohmann::ordered_json::parse(all[0]);
  EXPECT_EQ(first.dump(),
            R"({"step":1,"wall_time":10.0,"loss":0.5,"kl":0.001})");
  auto second = nlohmann::json::parse(all[1]);
  EXPECT_EQ(second["step"], 2);
  EXPECT_TRUE(second["loss"].is_null()); // NaN: JSON has none
  EXPECT_EQ(second["reward"], -2.0);
  EXPECT_GT(second["wall_time"].get<double>(), 1.7e9);
  EXPECT_EQ(nlohmann::json::parse(all[2])["step"], 3);
}

TEST(JsonlWriter, ATornLastLineDoesNotSpoilTheNext) {
  std::string path = freshDir("torn") + "/metrics.jsonl";
  std::ofstream(path) << "{\"step\":1,\"loss\":0.5}\n{\"step\":2,\"lo";
  auto writer = JsonlWriter::open(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->write(3, {{"loss", 0.1}}).ok());
  std::vector<std::string> all = lines(path);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_FALSE(nlohmann::json::accept(all[1])); // the crash's fragment
  EXPECT_EQ(nlohmann::json::parse(all[2])["step"], 3);
}

} // namespace
} // namespace kiln::models
