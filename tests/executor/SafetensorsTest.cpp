// The safetensors reader and writer: bit-exact round trips of every dtype, a
// file laid out by hand as the reference writer does, corrupt files, atomic
// writes, sharding.
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include <pthread.h>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "executor/Safetensors.h"

namespace kiln {
namespace {
using namespace test;
namespace fs = std::filesystem;
using Named = std::vector<std::pair<std::string, HostTensor>>;

bool contains(const absl::Status &s, const std::string &text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

/// A file as any writer may lay it out: length, header text as given, then the
/// buffer.
std::string fileBytes(const std::string &header, const std::string &buffer) {
  return le64(header.size()) + header + buffer;
}

/// Random bytes, so float tensors carry NaN payloads, infinities and subnormals
/// too.
HostTensor randomBits(proto::DType dtype, Shape shape) {
  HostTensor t(dtype, shape);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t i = 0; i < t.byteSize(); ++i)
    t.data<uint8_t>()[i] = static_cast<uint8_t>(byte(rng()));
  return t;
}

void expectBitEqual(const HostTensor &got, const HostTensor &want,
                    const std::string &what) {
  ASSERT_EQ(got.typeString(), want.typeString()) << what;
  ASSERT_EQ(got.byteSize(), want.byteSize()) << what;
  if (want.byteSize() > 0) {
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.byteSize()), 0) << what;
  }
}

/// Runs `fn` on a thread with a 256 KiB stack: a walk whose recursion is
/// bounded only by the input would overflow it on the inputs below, so a
/// missing bound fails the test instead of passing on a big default stack.
void onSmallStack(const std::function<void()> &fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 << 10);
  pthread_t thread;
  auto *task = new std::function<void()>(fn);
  int rc = pthread_create(
      &thread, &attr,
      [](void *arg) -> void * {
        auto *f = static_cast<std::function<void()> *>(arg);
        (*f)();
        delete f;
        return nullptr;
      },
      task);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(rc, 0);
  pthread_join(thread, nullptr);
}

std::vector<std::string> tempFilesIn(const std::string &dir) {
  std::vector<std::string> out;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

class SafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const {
    return (dir_ / name).string();
  }

  /// A small valid file used as the base of the corruption cases.
  std::string goodFile() {
    std::string p = path("good.safetensors");
    Named tensors = {{"w", fromDoubles(proto::F32, {2, 3}, {1, 2, 3, 4, 5, 6})},
                     {"b", fromDoubles(proto::BF16, {3}, {0.5, -1, 2})},
                     {"step", ints(proto::I64, {}, {7})}};
    EXPECT_TRUE(writeSafetensors(p, tensors, {{"format", "pt"}}).ok());
    return p;
  }
  static HostTensor fromDoubles(proto::DType d, Shape s,
                                std::vector<double> v) {
    return HostTensor::fromDoubles(d, s, v);
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDTypeBitExactly) {
  Named tensors = {
      {"f64", randomBits(proto::F64, {3, 2})},
      {"f32", randomBits(proto::F32, {5})},
      {"f16", randomBits(proto::F16, {2, 3})},
      {"bf16", randomBits(proto::BF16, {7})},
      {"f8e4m3", randomBits(proto::F8E4M3FN, {9})},
      {"f8e5m2", randomBits(proto::F8E5M2, {3, 3})},
      {"i64", randomInts(proto::I64, {4}, INT64_MIN, INT64_MAX)},
      {"i32", randomInts(proto::I32, {2, 2}, INT32_MIN, INT32_MAX)},
      {"i8", randomInts(proto::I8, {5}, -128, 127)},
      {"i4", randomInts(proto::I4, {11}, -8, 7)},
      {"i1", randomInts(proto::I1, {6}, 0, 1)},
      {"scalar", ints(proto::I32, {}, {-42})},
      {"empty", HostTensor(proto::BF16, {0, 3})},
      {"empty_f64", HostTensor(proto::F64, {4, 0})},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"note", "ünïcode ✓"}};
  std::string p = path("all.safetensors");
  ASSERT_TRUE(writeSafetensors(p, tensors, meta).ok());

  absl::StatusOr<SafetensorsFile> file = readSafetensors(p);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata, meta); // the i4 marker is not shown to the caller
  ASSERT_EQ(file->tensors.size(), tensors.size());
  ASSERT_EQ(file->order.size(), tensors.size());
  for (const auto &[name, t] : tensors) {
    ASSERT_TRUE(file->tensors.count(name)) << name;
    expectBitEqual(file->tensors.at(name), t, name);
  }
  // Widest first, the caller's order kept within a width.
  EXPECT_EQ(file->order.front(), "f64");
  EXPECT_EQ(file->order.back(), "i1");
}

TEST_F(SafetensorsTest, LayoutMatchesTheReferenceWriter) {
  std::string p = path("layout.safetensors");
  Named tensors = {{"q", ints(proto::I4, {3}, {-8, 0, 7})},
                   {"w", HostTensor::fromDoubles(proto::F32, {2}, {1, -1})},
                   {"m", ints(proto::I1, {2}, {1, 0})},
                   {"e", HostTensor::fromDoubles(proto::F8E4M3FN, {1}, {448})}};
  ASSERT_TRUE(writeSafetensors(p, tensors, {{"format", "pt"}}).ok());
  std::string bytes = readBytes(p);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  // Padding is spaces after the closing brace.
  size_t close = header.rfind('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(header);
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  // i4 is its packed bytes, a flat I8 tensor; its type is in the metadata.
  EXPECT_EQ(j["__metadata__"]["kiln.dtype.q"], "i4[3]");
  EXPECT_EQ(j["q"]["dtype"], "I8");
  EXPECT_EQ(j["q"]["shape"], nlohmann::json({2}));
  EXPECT_EQ(j["m"]["dtype"], "BOOL");
  EXPECT_EQ(j["e"]["dtype"], "F8_E4M3");
  EXPECT_EQ(j["w"]["dtype"], "F32");
  EXPECT_EQ(j["w"]["data_offsets"], nlohmann::json({0, 8})); // widest first
  EXPECT_EQ(j["w"]["shape"], nlohmann::json({2}));
  EXPECT_EQ(bytes.size(), 8 + n + 8 + 2 + 2 + 1);
  // Row-major little-endian data: f32 1.0 is 00 00 80 3f.
  EXPECT_EQ(bytes.substr(8 + n, 4), std::string("\x00\x00\x80\x3f", 4));
}

TEST_F(SafetensorsTest, ReadsAFileLaidOutByHand) {
  // What safetensors.torch.save_file({"w": f32[2,2], "b": bf16[2]},
  // metadata={"format": "pt"}) writes: metadata first, tensors sorted widest
  // first then by name, header padded with spaces to a multiple of 8.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string buffer;
  for (float f : {1.0f, 2.5f, -3.0f, 4.0f})
    buffer.append(reinterpret_cast<const char *>(&f), 4);
  buffer += std::string("\x80\x3f\x00\xc0", 4); // bf16 1.0, -2.0
  std::string p = path("hand.safetensors");
  writeBytes(p, fileBytes(header, buffer));

  absl::StatusOr<SafetensorsFile> file = readSafetensors(p);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata,
            (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(file->order, (std::vector<std::string>{"w", "b"}));
  EXPECT_EQ(file->tensors.at("w").typeString(), "f32[2,2]");
  EXPECT_EQ(file->tensors.at("w").toDoubles(),
            (std::vector<double>{1, 2.5, -3, 4}));
  EXPECT_EQ(file->tensors.at("b").typeString(), "bf16[2]");
  EXPECT_EQ(file->tensors.at("b").toDoubles(), (std::vector<double>{1, -2}));

  // No metadata, no padding, a rank-0 and an empty tensor: also valid.
  std::string h2 = R"({"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]},)"
                   R"("z":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}})";
  writeBytes(p, fileBytes(h2, std::string("\x05\x00\x00\x00", 4)));
  file = readSafetensors(p);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors.at("s").typeString(), "i32[]");
  EXPECT_EQ(file->tensors.at("s").getInt(0), 5);
  EXPECT_EQ(file->tensors.at("z").typeString(), "f16[0]");
  EXPECT_TRUE(file->metadata.empty());
}

// Written by safetensors.torch.save_file
// (tests/fixtures/safetensors/make_safetensors.py).
TEST_F(SafetensorsTest, ReadsFilesWrittenByTorch) {
  absl::StatusOr<SafetensorsFile> file = readSafetensors(
      KILN_SOURCE_DIR
      "/tests/fixtures/safetensors/torch_all_dtypes.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata,
            (std::map<std::string, std::string>{{"format", "pt"}}));
  std::vector<double> quarters = {-0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75};
  auto first = [&](int n) {
    return std::vector<double>(quarters.begin(), quarters.begin() + n);
  };
  struct Want {
    const char *name, *type;
    std::vector<double> values;
  };
  std::vector<Want> wants = {
      {"f64", "f64[2,3]", first(6)},
      {"f32", "f32[3]", first(3)},
      {"f16", "f16[5]", first(5)},
      {"bf16", "bf16[7]", first(7)},
      {"f8e4m3", "f8E4M3FN[3]", first(3)},
      {"f8e5m2", "f8E5M2[3]", first(3)},
      {"i64", "i64[2]", {-5, 1e12}},
      {"i32", "i32[2]", {-7, 9}},
      {"i8", "i8[3]", {-128, 0, 127}},
      {"i4", "i8[3]", {-8, 1, 7}}, // torch has no i4
      {"bool", "i1[3]", {1, 0, 1}},
      {"scalar", "f32[]", {3.5}},
      {"empty", "bf16[0,4]", {}},
  };
  ASSERT_EQ(file->tensors.size(), wants.size());
  for (const Want &w : wants) {
    ASSERT_TRUE(file->tensors.count(w.name)) << w.name;
    const HostTensor &t = file->tensors.at(w.name);
    EXPECT_EQ(t.typeString(), w.type) << w.name;
    EXPECT_EQ(t.toDoubles(), w.values) << w.name;
  }
}

// A sharded checkpoint as transformers' save_pretrained writes it (five bf16
// shards).
TEST_F(SafetensorsTest, ReadsAShardedTransformersCheckpoint) {
  absl::StatusOr<SafetensorsFile> file = readSafetensorsIndex(
      KILN_SOURCE_DIR
      "/tests/fixtures/safetensors/hf/model.safetensors.index.json");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors.size(), 21u);
  EXPECT_EQ(file->order.size(), 21u);
  EXPECT_EQ(file->metadata.at("format"), "pt");
  EXPECT_FALSE(file->metadata.count("total_size"));
  // Sums printed by make_safetensors.py (torch accumulates in f32).
  std::map<std::string, std::pair<std::string, double>> sums = {
      {"lm_head.weight", {"bf16[64,16]", 0.355373}},
      {"model.embed_tokens.weight", {"bf16[64,16]", 0.600629}},
      {"model.layers.1.mlp.down_proj.weight", {"bf16[16,32]", 0.882993}},
      {"model.norm.weight", {"bf16[16]", 16.0}},
  };
  for (const auto &[name, want] : sums) {
    ASSERT_TRUE(file->tensors.count(name)) << name;
    const HostTensor &t = file->tensors.at(name);
    EXPECT_EQ(t.typeString(), want.first) << name;
    double sum = 0;
    for (double v : t.toDoubles())
      sum += v;
    EXPECT_NEAR(sum, want.second, 1e-4) << name;
  }
}

TEST_F(SafetensorsTest, MissingAndShortFilesAreErrors) {
  absl::StatusOr<SafetensorsFile> r = readSafetensors(path("nope.safetensors"));
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_TRUE(contains(r.status(), "nope.safetensors"));

  for (int n : {0, 3, 7}) {
    writeBytes(path("short"), std::string(n, '\x01'));
    r = readSafetensors(path("short"));
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.status(), "shorter than its 8-byte header length"))
        << r.status();
    EXPECT_TRUE(contains(r.status(), path("short"))) << r.status();
  }
  r = readSafetensors(dir_.string());
  EXPECT_TRUE(contains(r.status(), "not a regular file")) << r.status();
}

TEST_F(SafetensorsTest, EveryTruncationIsAnError) {
  std::string good = readBytes(goodFile());
  for (size_t n = 0; n < good.size(); ++n) {
    writeBytes(path("cut"), good.substr(0, n));
    absl::StatusOr<SafetensorsFile> r = readSafetensors(path("cut"));
    EXPECT_FALSE(r.ok()) << "truncated at " << n << " of " << good.size();
    EXPECT_TRUE(contains(r.status(), path("cut"))) << r.status();
  }
  writeBytes(path("cut"), good);
  EXPECT_TRUE(readSafetensors(path("cut")).ok());
}

TEST_F(SafetensorsTest, FlippedHeaderBytesNeverCrash) {
  std::string good = readBytes(goodFile());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= uint64_t{static_cast<uint8_t>(good[i])} << (8 * i);
  int errors = 0;
  for (size_t i = 0; i < 8 + n; ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      writeBytes(path("flip"), bad);
      absl::StatusOr<SafetensorsFile> r = readSafetensors(path("flip"));
      // A flip inside a name or metadata value can leave a valid file;
      // otherwise error.
      if (!r.ok())
        ++errors;
      else
        EXPECT_EQ(r->tensors.size(), 3u) << "byte " << i;
    }
  }
  EXPECT_GT(errors, static_cast<int>(8 + n)); // most flips are caught
}

struct BadHeader {
  std::string header, buffer, expect;
};

TEST_F(SafetensorsTest, BadHeadersGiveNamedErrors) {
  const std::string f8(8, '\0');
  std::vector<BadHeader> cases = {
      {"not json at all", f8, "not valid JSON"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", f8,
       "not valid JSON"},
      {R"([1,2,3])", "", "not an object"},
      {R"("str")", "", "not an object"},
      {R"({"a":{"dtype":"U16","shape":[4],"data_offsets":[0,8]}})", f8,
       "dtype 'U16'"},
      {R"({"a":{"dtype":"F4","shape":[4],"data_offsets":[0,8]}})", f8,
       "dtype 'F4'"},
      {R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", f8,
       "dtype is not a string"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", f8, "needs 'dtype'"},
      {R"({"a":[1]})", f8, "not an object"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f8,
       "needs 12 bytes"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f8,
       "non-negative"},
      {R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", f8,
       "non-negative"},
      {R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", f8,
       "not a list"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", f8,
       "beyond the data"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", f8,
       "beyond the data"},
      {R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", f8,
       "end before"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", f8,
       "two non-negative"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f8,
       "two non-negative"},
      {R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})",
       f8, "impossible"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       f8, "overlap"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8,
       "belong to no tensor"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f8,
       "4 trailing bytes"},
      {R"({"__metadata__":{"k":3},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       f8, "metadata 'k' is not a string"},
      {R"({"__metadata__":[],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       f8, "'__metadata__' is not an object"},
      {R"({"__metadata__":{"kiln.dtype.a":"i4"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       f8, "stored as F32"},
      {R"({"__metadata__":{"kiln.dtype.zz":"i4"},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})",
       f8, "names no tensor"},
      {R"({"__metadata__":{"kiln.dtype.a":"u3"},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})",
       f8, "not a Kiln dtype"},
      {R"({"__metadata__":{"kiln.dtype.a":"i4[2,x]"},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})",
       f8, "not a Kiln dtype"},
      {R"({"__metadata__":{"kiln.dtype.a":"i4[2,-8]"},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})",
       f8, "not a Kiln dtype"},
      {R"({"__metadata__":{"kiln.dtype.a":"i4[4,5]"},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})",
       f8, "packs into 10 bytes"},
      {R"({"__metadata__":{"kiln.dtype.a":"i4[16]"},"a":{"dtype":"I8","shape":[2,4],"data_offsets":[0,8]}})",
       f8, "stored as I8[2,4]"},
      {R"({"__metadata__":{"kiln.dtype.a":"i4"},"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})",
       std::string("\0\0\0\x09\0\0\0\0", 8), "element 3 is 9"},
  };
  for (const BadHeader &c : cases) {
    writeBytes(path("bad"), fileBytes(c.header, c.buffer));
    absl::StatusOr<SafetensorsFile> r = readSafetensors(path("bad"));
    ASSERT_FALSE(r.ok()) << c.header;
    EXPECT_TRUE(contains(r.status(), c.expect))
        << c.header << "\n  gave: " << r.status();
    EXPECT_TRUE(contains(r.status(), path("bad"))) << r.status();
  }
  // A header length far beyond the file.
  writeBytes(path("bad"), le64(uint64_t{1} << 40) + "{}");
  absl::StatusOr<SafetensorsFile> r = readSafetensors(path("bad"));
  EXPECT_TRUE(contains(r.status(), "goes beyond the end of the file"))
      << r.status();
  // Trailing garbage after a good file.
  std::string good = readBytes(goodFile());
  writeBytes(path("bad"), good + "garbage");
  r = readSafetensors(path("bad"));
  EXPECT_TRUE(contains(r.status(), "7 trailing bytes")) << r.status();
}

// Hostile headers that the JSON layer itself must stop: nesting deep enough
// to overflow a recursive walk (read on a small stack), a
// repeated tensor name (which entry wins differs between readers), an empty
// name, and a huge value echoed into a message.
TEST_F(SafetensorsTest, HostileJsonHeadersAreBoundedErrors) {
  const std::string f8(8, '\0');
  std::string deep = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("__metadata__":{"k":)" +
                     std::string(200000, '[') + std::string(200000, ']') + "}}";
  std::string deepShape = R"({"a":{"dtype":"F32","shape":)" +
                          std::string(100000, '[') + std::string(100000, ']') +
                          R"(,"data_offsets":[0,8]}})";
  std::string hugeDtype = R"({"a":{"dtype":")" + std::string(1 << 20, 'x') +
                          R"(","shape":[2],"data_offsets":[0,8]}})";
  std::string hugeShape = R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8],)"
                          R"("x":0},"b":{"dtype":"F32","shape":)" +
                          std::string(1, '[');
  for (int i = 0; i < 100000; ++i)
    hugeShape += "1,";
  hugeShape += R"(1],"data_offsets":[0,8]}})";
  struct Case {
    std::string header, expect;
  };
  std::vector<Case> cases = {
      {deep, "nesting deeper than"},
      {deepShape, "nesting deeper than"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
       "key \"a\" appears twice"},
      {R"({"a":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}})",
       "key \"shape\" appears twice in the object at /a"},
      {R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "empty name"},
      {hugeDtype, "more bytes"},
      {hugeShape, "dtype is not a string"},
  };
  for (const Case &c : cases) {
    writeBytes(path("bad"), fileBytes(c.header, f8));
    absl::Status status;
    onSmallStack([&] { status = readSafetensors(path("bad")).status(); });
    ASSERT_FALSE(status.ok()) << c.expect;
    EXPECT_TRUE(contains(status, c.expect)) << status.message().substr(0, 300);
    EXPECT_TRUE(contains(status, path("bad"))) << status;
    EXPECT_LT(status.message().size(), 1000u) << "messages quote bounded text";
  }
  // The index reader uses the same parser.
  std::string indexPath = path("model.safetensors.index.json");
  writeBytes(indexPath, R"({"weight_map":)" + std::string(100000, '[') +
                            std::string(100000, ']') + "}");
  absl::Status status;
  onSmallStack([&] { status = readSafetensorsIndex(indexPath).status(); });
  EXPECT_TRUE(contains(status, "nesting deeper than")) << status;
}

TEST_F(SafetensorsTest, BoolBytesReadAsZeroOrOne) {
  std::string h = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  writeBytes(path("b"), fileBytes(h, std::string("\x00\x02\xff", 3)));
  absl::StatusOr<SafetensorsFile> r = readSafetensors(path("b"));
  ASSERT_TRUE(r.ok()) << r.status();
  const uint8_t *v = r->tensors.at("m").data<uint8_t>();
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 1);
  EXPECT_EQ(v[2], 1);
}

TEST_F(SafetensorsTest, I4IsReadPackedOrOneElementPerByte) {
  // Packed, as Kiln writes it: [2, 3] in three bytes, the low nibble first.
  std::string packed =
      R"({"__metadata__":{"kiln.dtype.q":"i4[2,3]"},)"
      R"("q":{"dtype":"I8","shape":[3],"data_offsets":[0,3]}})";
  writeBytes(path("p"), fileBytes(packed, std::string("\x81\x7f\x0a", 3)));
  absl::StatusOr<SafetensorsFile> r = readSafetensors(path("p"));
  ASSERT_TRUE(r.ok()) << r.status();
  const HostTensor &q = r->tensors.at("q");
  EXPECT_EQ(q.typeString(), "i4[2,3]");
  EXPECT_EQ(q.toDoubles(), (std::vector<double>{1, -8, -1, 7, -6, 0}));

  // An odd count's spare nibble is cleared, so equal tensors have equal bytes.
  std::string odd = R"({"__metadata__":{"kiln.dtype.q":"i4[3]"},)"
                    R"("q":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})";
  writeBytes(path("o"), fileBytes(odd, std::string("\x21\xf3", 2)));
  r = readSafetensors(path("o"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tensors.at("q").toDoubles(), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(r->tensors.at("q").data<uint8_t>()[1], 0x03);

  // A tensor in the kernels' unpacked layout is written packed.
  HostTensor unpacked = HostTensor::fromDoubles(proto::I4, {3}, {1, -8, 7})
                            .withLayout(HostTensor::Layout::Unpacked);
  ASSERT_TRUE(writeSafetensors(path("u"), {{"q", unpacked}}).ok());
  r = readSafetensors(path("u"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tensors.at("q").toDoubles(), (std::vector<double>{1, -8, 7}));
  EXPECT_EQ(r->tensors.at("q").byteSize(), 2);

  // One sign-extended element per byte, as Kiln wrote i4 before packing.
  std::string wide = R"({"__metadata__":{"kiln.dtype.q":"i4"},)"
                     R"("q":{"dtype":"I8","shape":[3],"data_offsets":[0,3]}})";
  writeBytes(path("w"), fileBytes(wide, std::string("\x01\xf8\x07", 3)));
  r = readSafetensors(path("w"));
  ASSERT_TRUE(r.ok()) << r.status();
  const HostTensor &w = r->tensors.at("q");
  EXPECT_EQ(w.toDoubles(), (std::vector<double>{1, -8, 7}));
  ASSERT_EQ(w.byteSize(), 2);
  EXPECT_EQ(w.data<uint8_t>()[0], 0x81);
  EXPECT_EQ(w.data<uint8_t>()[1], 0x07);
}

TEST_F(SafetensorsTest, BadTensorsAreRefusedBeforeWriting) {
  std::string p = goodFile();
  std::string before = readBytes(p);
  HostTensor x = HostTensor::fromDoubles(proto::F32, {1}, {1});
  struct Case {
    Named tensors;
    std::map<std::string, std::string> meta;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{{"a", x}, {"a", x}}, {}, "'a' appears twice"},
      {{{"", x}}, {}, "empty name"},
      {{{"__metadata__", x}}, {}, "reserved"},
      {{{"a", HostTensor()}}, {}, "no valid dtype"},
      {{{"a", x}}, {{"kiln.dtype.a", "i4"}}, "reserved for Kiln"},
  };
  for (const Case &c : cases) {
    absl::Status s = writeSafetensors(p, c.tensors, c.meta);
    EXPECT_FALSE(s.ok()) << c.expect;
    EXPECT_TRUE(contains(s, c.expect)) << s;
    EXPECT_EQ(readBytes(p), before);
  }
  EXPECT_TRUE(tempFilesIn(dir_.string()).empty());
}

TEST_F(SafetensorsTest, FailedWritesKeepTheOldFile) {
  std::string p = goodFile();
  std::string before = readBytes(p);

  // The write fails half-way: the process may not grow a file past 4 KiB, and
  // the tensor is 1 MiB.
  Named big = {{"big", HostTensor(proto::F32, {256, 1024})}};
  {
    struct rlimit old;
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    absl::Status s = writeSafetensors(p, big);
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, oldHandler);
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(contains(s, "error writing")) << s;
  }
  EXPECT_EQ(readBytes(p), before);
  EXPECT_TRUE(tempFilesIn(dir_.string()).empty());

  // Everything written, but the final rename fails (the target is a non-empty
  // folder).
  fs::create_directories(path("taken/child"));
  absl::Status s = writeSafetensors(path("taken"), big);
  EXPECT_TRUE(contains(s, "cannot rename")) << s;
  EXPECT_TRUE(fs::is_directory(path("taken/child")));
  EXPECT_TRUE(tempFilesIn(dir_.string()).empty());

  // No such folder: nothing can be created at all.
  s = writeSafetensors(path("no/such/dir/x.safetensors"), big);
  EXPECT_TRUE(contains(s, "cannot create")) << s;
  EXPECT_EQ(readBytes(p), before);
  EXPECT_TRUE(readSafetensors(p).ok());
}

TEST_F(SafetensorsTest, ShardedRoundTripWithIndex) {
  Named tensors;
  for (int i = 0; i < 5; ++i)
    tensors.emplace_back("layer." + std::to_string(i) + ".weight",
                         randomBits(proto::BF16, {10, 20})); // 400 bytes each
  tensors.emplace_back("huge",
                       randomBits(proto::F32, {300})); // 1200 bytes, own shard
  tensors.emplace_back("q", randomInts(proto::I4, {3}, -8, 7));
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"kiln.step", "12"}};
  ASSERT_TRUE(
      writeSafetensorsSharded(dir_.string(), "model", tensors, 1000, meta)
          .ok());
  // Greedy, in order: 400+400 | 400+400 | 400 | 1200 (alone, over the limit)
  // | 2 (three i4, packed).
  for (const char *f :
       {"model-00001-of-00005.safetensors", "model-00002-of-00005.safetensors",
        "model-00003-of-00005.safetensors", "model-00004-of-00005.safetensors",
        "model-00005-of-00005.safetensors", "model.safetensors.index.json"})
    EXPECT_TRUE(fs::exists(path(f))) << f;
  EXPECT_FALSE(fs::exists(path("model.safetensors")));
  EXPECT_TRUE(tempFilesIn(dir_.string()).empty());

  nlohmann::json index =
      nlohmann::json::parse(readBytes(path("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 400 + 1200 + 2);
  EXPECT_EQ(index["weight_map"]["layer.4.weight"],
            "model-00003-of-00005.safetensors");
  EXPECT_EQ(index["weight_map"]["huge"], "model-00004-of-00005.safetensors");
  EXPECT_EQ(index["weight_map"]["q"], "model-00005-of-00005.safetensors");

  absl::StatusOr<SafetensorsFile> file =
      readSafetensorsIndex(path("model.safetensors.index.json"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata, meta);
  ASSERT_EQ(file->tensors.size(), tensors.size());
  for (const auto &[name, t] : tensors)
    expectBitEqual(file->tensors.at(name), t, name);
  EXPECT_EQ(file->order.front(), "layer.0.weight");

  // Everything fits in one shard: a single file and no index.
  fs::create_directories(path("one"));
  ASSERT_TRUE(
      writeSafetensorsSharded(path("one"), "model", tensors, 1 << 20, meta)
          .ok());
  EXPECT_TRUE(fs::exists(path("one/model.safetensors")));
  EXPECT_FALSE(fs::exists(path("one/model.safetensors.index.json")));
  file = readSafetensors(path("one/model.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata, meta);
  EXPECT_EQ(file->tensors.size(), tensors.size());

  EXPECT_FALSE(
      writeSafetensorsSharded(dir_.string(), "model", tensors, 0, meta).ok());
  EXPECT_FALSE(
      writeSafetensorsSharded(dir_.string(), "a/b", tensors, 100, meta).ok());
}

TEST_F(SafetensorsTest, InconsistentIndexesAreErrors) {
  // Shards [a, c] and [b].
  Named tensors = {{"a", randomBits(proto::F32, {100})},
                   {"c", randomBits(proto::F32, {100})},
                   {"b", randomBits(proto::F32, {100})}};
  ASSERT_TRUE(
      writeSafetensorsSharded(dir_.string(), "model", tensors, 800).ok());
  std::string indexPath = path("model.safetensors.index.json");
  nlohmann::json good = nlohmann::json::parse(readBytes(indexPath));

  auto expectError = [&](const nlohmann::json &index, const std::string &text) {
    writeBytes(indexPath, index.dump());
    absl::StatusOr<SafetensorsFile> r = readSafetensorsIndex(indexPath);
    ASSERT_FALSE(r.ok()) << index.dump();
    EXPECT_TRUE(contains(r.status(), text)) << r.status();
  };
  nlohmann::json j = good;
  j["weight_map"]["ghost"] = "model-00001-of-00002.safetensors";
  expectError(
      j,
      "tensor 'ghost' is listed in shard 'model-00001-of-00002.safetensors'");
  j = good;
  j["weight_map"].erase("c");
  expectError(j, "holds tensor 'c', which the weight_map does not list");
  j = good;
  j["weight_map"]["a"] = "../elsewhere.safetensors";
  expectError(j, "not a file name in the index's folder");
  j = good;
  j["weight_map"]["a"] = "missing.safetensors";
  expectError(j, "missing.safetensors");
  j = good;
  j.erase("weight_map");
  expectError(j, "no 'weight_map'");
  writeBytes(indexPath, "{not json");
  EXPECT_TRUE(
      contains(readSafetensorsIndex(indexPath).status(), "not valid JSON"));
  EXPECT_TRUE(
      absl::IsNotFound(readSafetensorsIndex(path("none.index.json")).status()));

  // A corrupt shard names the shard file.
  writeBytes(indexPath, good.dump());
  writeBytes(path("model-00002-of-00002.safetensors"), "short");
  absl::StatusOr<SafetensorsFile> r = readSafetensorsIndex(indexPath);
  EXPECT_TRUE(contains(r.status(), "model-00002-of-00002.safetensors"))
      << r.status();
}

} // namespace
} // namespace kiln
