// Bundles without a GPU: manifest round trip, loading by key, the missing-key message
// with its kiln-compile command, and malformed manifests.
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "executor/Bundle.h"
#include "executor/Executor.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

bool contains(const absl::Status &s, const std::string &text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

std::string freshDir(const std::string &name) {
  std::string dir = testing::TempDir() + "/kiln_bundle_" + name;
  fs::remove_all(dir);
  return dir;
}

proto::Executable tinyExe(const std::string &target) {
  proto::Executable exe;
  exe.set_target(target);
  exe.set_compiler_version("kiln-0.1");
  exe.add_entries()->set_name("train_step");
  return exe;
}

TEST(Bundle, WriteOpenLoad) {
  std::string dir = freshDir("roundtrip");
  std::vector<BundleEntry> entries;
  for (const char *target : {"host", "ptx"}) {
    BundleKey key{"cfg-1f2e", "train_step", "b8_s128", target, "kiln-0.1"};
    BundleEntry e{key, bundleFileName(key)};
    fs::create_directories(dir);
    ASSERT_TRUE(writeExecutable(tinyExe(target), dir + "/" + e.file, false).ok());
    entries.push_back(e);
  }
  ASSERT_TRUE(writeBundleManifest(dir, entries).ok());
  EXPECT_FALSE(fs::exists(dir + "/manifest.json.tmp"));
  auto bundle = openBundle(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_EQ(bundle->entries().size(), 2u);
  EXPECT_EQ(bundle->entries()[1].file, "train_step.b8_s128.ptx.cfg-1f2e.kx");
  auto exe = bundle->load(entries[1].key);
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_EQ(exe->target(), "ptx");
  EXPECT_EQ(exe->entries(0).name(), "train_step");
}

TEST(Bundle, MissingKeyNamesKeyAndCommand) {
  std::string dir = freshDir("missing");
  BundleKey have{"cfg-1f2e", "train_step", "b8_s128", "host", "kiln-0.1"};
  fs::create_directories(dir);
  ASSERT_TRUE(writeExecutable(tinyExe("host"), dir + "/a.kx", false).ok());
  ASSERT_TRUE(writeBundleManifest(dir, {{have, "a.kx"}}).ok());
  auto bundle = openBundle(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  BundleKey want = have;
  want.target = "ptx";
  auto exe = bundle->load(want);
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(contains(exe.status(), "model_hash=cfg-1f2e entry=train_step bucket=b8_s128 "
                                     "target=ptx compiler_version=kiln-0.1"))
      << exe.status();
  EXPECT_TRUE(contains(exe.status(), "run: kiln-compile <model.mlir> --target=ptx --bundle=" + dir))
      << exe.status();
  EXPECT_TRUE(contains(exe.status(), "target=host")) << "lists the near entries: " << exe.status();
}

TEST(Bundle, KeyAndFileMustAgree) {
  std::string dir = freshDir("disagree");
  BundleKey key{"cfg", "train_step", "b1", "ptx", "kiln-0.1"};
  fs::create_directories(dir);
  ASSERT_TRUE(writeExecutable(tinyExe("host"), dir + "/x.kx", false).ok());
  ASSERT_TRUE(writeBundleManifest(dir, {{key, "x.kx"}}).ok());
  auto exe = openBundle(dir)->load(key);
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(contains(exe.status(), "holds a 'host' Executable")) << exe.status();

  ASSERT_TRUE(writeBundleManifest(dir, {{key, "gone.kx"}}).ok());
  exe = openBundle(dir)->load(key);
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(contains(exe.status(), "gone.kx")) << exe.status();
}

TEST(Bundle, BadManifestsAreErrors) {
  std::string dir = freshDir("bad");
  auto b = openBundle(dir);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(contains(b.status(), "no bundle at")) << b.status();

  fs::create_directories(dir);
  std::ofstream(dir + "/manifest.json") << "{\"entries\": [ {\"key\": {}, ";
  b = openBundle(dir);
  EXPECT_TRUE(contains(b.status(), "not valid JSON")) << b.status();

  std::ofstream(dir + "/manifest.json")
      << R"({"entries": [{"key": {"model_hash": "h", "entry": "e", "bucket": "b",
             "target": "ptx"}, "file": "a.kx"}]})";
  b = openBundle(dir);
  EXPECT_TRUE(contains(b.status(), "entries[0].key.compiler_version")) << b.status();

  std::ofstream(dir + "/manifest.json")
      << R"({"entries": [{"key": {"model_hash": "h", "entry": "e", "bucket": "b",
             "target": "ptx", "compiler_version": "v"}, "file": "../a.kx"}]})";
  b = openBundle(dir);
  EXPECT_TRUE(contains(b.status(), "relative path inside the bundle")) << b.status();

  BundleKey k{"h", "e", "b", "ptx", "v"};
  EXPECT_TRUE(contains(writeBundleManifest(dir, {{k, "a.kx"}, {k, "b.kx"}}), "listed twice"));
  k.bucket = "";
  EXPECT_TRUE(contains(writeBundleManifest(dir, {{k, "a.kx"}}), "non-empty"));
}

TEST(Bundle, HostileManifestsAreBoundedErrors) {
  std::string dir = freshDir("hostile");
  fs::create_directories(dir);
  // Deep enough to overflow any recursive walk of the tree.
  std::ofstream(dir + "/manifest.json")
      << "{\"entries\": [], \"format\": " << std::string(300000, '[')
      << std::string(300000, ']') << "}";
  auto b = openBundle(dir);
  EXPECT_TRUE(contains(b.status(), "nesting deeper than")) << b.status();
  // A repeated key would mean different things to different readers.
  std::ofstream(dir + "/manifest.json") << R"({"entries": [], "entries": []})";
  b = openBundle(dir);
  EXPECT_TRUE(contains(b.status(), "\"entries\" appears twice")) << b.status();
  // Untrusted text is quoted in bounded length.
  std::ofstream(dir + "/manifest.json")
      << R"({"entries": [], "format": ")" << std::string(1 << 20, 'x') << "\"}";
  b = openBundle(dir);
  EXPECT_TRUE(contains(b.status(), "is not kiln-bundle-1")) << b.status();
  EXPECT_LT(b.status().message().size(), 1000u);
}

// kiln-compile --bundle and kiln-train --export-bundle read, extend and write
// the manifest; concurrent writers into one folder must keep every entry.
TEST(Bundle, ConcurrentWritersKeepEveryEntry) {
  std::string dir = freshDir("concurrent");
  constexpr int kWriters = 6, kEach = 15;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      char c;
      // Start together, so the writers overlap.
      if (::read(go[0], &c, 1) != 0)
        ::_exit(3);
      for (int i = 0; i < kEach; ++i) {
        BundleKey key{"h", "e" + std::to_string(w), "b" + std::to_string(i),
                      "host", "kiln-0.1"};
        if (!addToBundle(dir, {{BundleEntry{key, bundleFileName(key)},
                                tinyExe("host")}})
                 .ok())
          ::_exit(1);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]); // EOF releases every child at once
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto b = openBundle(dir);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->entries().size(), size_t{kWriters * kEach});
  for (const BundleEntry &e : b->entries())
    EXPECT_TRUE(b->load(e.key).ok()) << bundleKeyString(e.key);
  for (const auto &f : fs::directory_iterator(dir))
    EXPECT_EQ(f.path().string().find(".tmp"), std::string::npos) << f.path();
}

} // namespace
} // namespace kiln
