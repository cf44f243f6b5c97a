//===- HfTrainTest.cpp - kiln-train from a Hugging Face checkpoint on JSONL
//===//
//
// kiln-train starts from tests/fixtures/hf_policy/r1 (a transformers-made
// random-init DeepseekV3ForCausalLM with an R1-style chat template), runs two
// GRPO steps on a small JSONL file and saves the policy as a transformers
// checkpoint: the source's files copied through, the weights in the source's
// bf16 and, reloaded through the same Hugging Face loader, bit for bit the
// bf16 rounding of the f32 weights training left in its checkpoint. A broken
// source folder stops kiln-train with a message naming what is wrong.
//
// With KILN_HF_POLICY_KEEP=DIR the trained folder is copied to DIR with
// kiln_reference.json (a conversation, its rendering, ids and Kiln's logits
// of its last position), for tests/fixtures/hf_policy/check_trained_policy.py
// to hold transformers to on a machine that has it.
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "executor/DType.h"
#include "executor/Safetensors.h"
#include "models/deepseek/HfModelDir.h"
#include "nlohmann/json.hpp"
#include "tests/models/HfLogits.h"
#include "tests/models/RunCommand.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kSource =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/hf_policy/r1";

using kiln::tests::Command;
using kiln::tests::runCommand;

std::string freshDir(const std::string &name) {
  std::string dir = testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string fileBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

/// 40 additions "What is a + b?" with integer answers.
std::string writeJsonl(const std::string &dir) {
  std::string path = dir + "/sums.jsonl";
  std::ofstream out(path);
  for (int i = 0; i < 40; ++i)
    out << json{{"question", "What is " + std::to_string(i) + " + " +
                                 std::to_string(2 * i) + "?"},
                {"answer", 3 * i}}
               .dump()
        << "\n";
  return path;
}

/// kiln-train with the small run: two GRPO steps whose entropy bonus and
/// large learning rate move weights by more than a bf16 step (a random
/// policy earns no reward, and unmasked truncated completions keep tokens
/// in the loss).
Command train(const std::string &hfDir, const std::string &jsonl,
              const std::string &out, const std::string &extra = "") {
  std::string config =
      "mode: \"grpo\" model { hf_checkpoint: \"" + hfDir +
      "\" } task { name: \"jsonl\" jsonl { path: \"" + jsonl +
      "\" prompt_field: \"question\" eval_fraction: 0.25 } } "
      "grpo { steps: 2 prompts_per_step: 2 group_size: 2 max_new_tokens: 6 "
      "learning_rate: 0.01 entropy_coeff: 1 dynamic_sampling: false "
      "mask_truncated_completions: false } eval { problems: 2 } " +
      extra;
  std::string path = out + ".textproto";
  std::ofstream(path) << config;
  return runCommand(std::string(KILN_TRAIN_BIN) + " --config=" + path +
                    " --output-dir=" + out);
}

/// The f32 value rounded to bf16 and back: what a bf16 save keeps.
HostTensor bf16Rounded(const HostTensor &t) {
  HostTensor out(proto::F32, t.shape());
  const float *in = t.data<float>();
  float *o = out.data<float>();
  for (int64_t i = 0; i < t.numElements(); ++i)
    o[i] = bf16ToFloat(floatToBf16(in[i]));
  return out;
}

TEST(HfTrain, GrpoFromHfCheckpointSavesATransformersCheckpoint) {
  std::string work = freshDir("kiln-hf-train");
  std::string jsonl = writeJsonl(work);
  std::string out = work + "/out";
  Command run = train(kSource, jsonl, out);
  ASSERT_EQ(run.rc, 0) << run.output;
  EXPECT_NE(run.output.find("accuracy after GRPO"), std::string::npos)
      << run.output;

  // The source's files, byte for byte.
  for (const char *name :
       {"config.json", "tokenizer.json", "tokenizer_config.json",
        "chat_template.jinja", "generation_config.json"})
    EXPECT_EQ(fileBytes(out + "/" + name), fileBytes(kSource + "/" + name))
        << name;

  // The weights in transformers' names and the source's dtypes.
  auto source = readSafetensors(kSource + "/model.safetensors");
  ASSERT_TRUE(source.ok()) << source.status();
  auto saved = readSafetensors(out + "/model.safetensors");
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->tensors.size(), source->tensors.size());
  for (const auto &[name, t] : source->tensors) {
    auto it = saved->tensors.find(name);
    ASSERT_NE(it, saved->tensors.end()) << name;
    EXPECT_EQ(it->second.dtype(), t.dtype()) << name;
    EXPECT_EQ(it->second.shape(), t.shape()) << name;
  }
  EXPECT_EQ(saved->metadata.at("format"), "pt");

  // Reloaded through the loader kiln-serve and kiln-train use: the same
  // template, and in the executor the trained weights (kiln-train's f32
  // checkpoint) rounded to bf16, bit for bit.
  auto reloaded = openHfModelDir(out);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  ASSERT_TRUE(reloaded->chatTemplate);
  EXPECT_EQ(reloaded->chatTemplate->name(), "deepseek-r1");
  auto executor = loadHfForward(reloaded->config, out, 1, 8);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto before = hfToKilnState(reloaded->config, source->tensors, proto::F32);
  ASSERT_TRUE(before.ok()) << before.status();
  auto checkpoint = readSafetensors(out + "/checkpoint.safetensors");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  int64_t moved = 0, entries = 0;
  for (const DeepseekStateEntry &entry :
       deepseekStateEntries(reloaded->config)) {
    ++entries;
    auto t = (*executor)->getState(entry.name);
    ASSERT_TRUE(t.ok()) << t.status();
    auto it = checkpoint->tensors.find(entry.name);
    ASSERT_NE(it, checkpoint->tensors.end()) << entry.name;
    HostTensor want = bf16Rounded(it->second);
    ASSERT_EQ(t->byteSize(), want.byteSize()) << entry.name;
    EXPECT_EQ(std::memcmp(t->data(), want.data(), want.byteSize()), 0)
        << entry.name;
    moved += std::memcmp(t->data(), before->at(entry.name).data(),
                         want.byteSize()) != 0;
  }
  // Training changed the policy (a save of the source would pass the above).
  EXPECT_GT(moved, entries / 2)
      << moved << " of " << entries << " tensors changed";

  const char *keep = std::getenv("KILN_HF_POLICY_KEEP");
  if (keep == nullptr || *keep == '\0')
    return;
  // The reference check_trained_policy.py holds transformers to.
  std::vector<tokenizer::ChatMessage> conversation = {
      {"system", "You are a helpful assistant."}, {"user", "What is 12 + 24?"}};
  auto text = reloaded->chatTemplate->render(conversation);
  ASSERT_TRUE(text.ok()) << text.status();
  auto ids = reloaded->tokenizer->encode(*text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  auto logits = lastPositionLogits(reloaded->config, out, {*ids});
  ASSERT_TRUE(logits.ok()) << logits.status();
  fs::remove_all(keep);
  fs::create_directories(keep);
  for (const char *name : {"config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json", "chat_template.jinja",
                           "generation_config.json"})
    fs::copy_file(out + "/" + name, std::string(keep) + "/" + name);
  json messages = json::array();
  for (const auto &m : conversation)
    messages.push_back({{"role", m.role}, {"content", m.content}});
  std::ofstream(std::string(keep) + "/kiln_reference.json") << json{
      {"messages", messages},
      {"text", *text},
      {"ids", *ids},
      {"last_logits", (*logits)[0]}}.dump(1);
  std::printf("kept the trained policy and kiln_reference.json in %s\n", keep);
}

TEST(HfTrain, BrokenSourceFoldersStopKilnTrain) {
  std::string work = freshDir("kiln-hf-train-broken");
  std::string jsonl = writeJsonl(work);
  auto brokenCopy = [&](const std::string &name) {
    std::string dir = work + "/" + name;
    fs::copy(kSource, dir);
    return dir;
  };
  struct Case {
    std::string name, message;
    std::function<void(const std::string &)> breakIt;
  };
  std::vector<Case> cases = {
      {"no-template", "has no chat template",
       [](const std::string &d) { fs::remove(d + "/chat_template.jinja"); }},
      {"unknown-template",
       "chat_template.jinja: unknown chat template \"<s>[INST]",
       [](const std::string &d) {
         std::ofstream(d + "/chat_template.jinja")
             << "<s>[INST] {{ messages[0]['content'] }} [/INST]";
       }},
      {"no-tokenizer", "has no tokenizer.json",
       [](const std::string &d) { fs::remove(d + "/tokenizer.json"); }},
      {"llama", "model_type",
       [](const std::string &d) {
         std::ofstream(d + "/config.json")
             << R"({"architectures": ["LlamaForCausalLM"],
                   "model_type": "llama", "vocab_size": 400})";
       }},
      {"missing", "has no config.json",
       [](const std::string &d) { fs::remove_all(d); }},
  };
  for (const Case &c : cases) {
    std::string dir = brokenCopy(c.name);
    c.breakIt(dir);
    Command run = train(dir, jsonl, work + "/out-" + c.name);
    EXPECT_EQ(run.rc, 1) << c.name << ": " << run.output;
    EXPECT_NE(run.output.find(c.message), std::string::npos)
        << c.name << ": " << run.output;
  }
  // A size beside hf_checkpoint contradicts its config.json.
  Command sized =
      train(kSource, jsonl, work + "/out-sized", "model { hidden_size: 32 }");
  EXPECT_EQ(sized.rc, 1) << sized.output;
  EXPECT_NE(sized.output.find("model.hidden_size is set, but "
                              "model.hf_checkpoint's config.json sets the "
                              "architecture"),
            std::string::npos)
      << sized.output;
}

} // namespace
} // namespace kiln::models
