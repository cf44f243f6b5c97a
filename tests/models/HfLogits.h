//===- HfLogits.h - Kiln's CPU forward of a Hugging Face folder -*- C++ -*-===//
//
// Shared by the tests that hold Kiln's logits against transformers': one
// compiled f32 forward over a padded batch, the last real position of each
// row read out (attention is causal, so padding after it changes nothing).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_MODELS_HFLOGITS_H
#define KILN_TESTS_MODELS_HFLOGITS_H

#include <algorithm>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/HfCheckpoint.h"

namespace kiln::models {

/// A CPU executor of `config`'s forward ("logits": input_ids [batch, seq]
/// -> [batch, seq, vocab]) holding the weights of the Hugging Face folder
/// `dir`, loaded as kiln-serve and kiln-train load them.
inline absl::StatusOr<std::unique_ptr<Executor>>
loadHfForward(const DeepseekV3Config &config, const std::string &dir,
              int64_t batch, int64_t seq) {
  Graph graph("hf_logits");
  DeepseekV3Model model(graph, config, DType::f32);
  Function &fn = graph.function("logits");
  fn.output("logits",
            model.logits(fn, fn.input("input_ids", {batch, seq}, DType::i64)));
  KILN_ASSIGN_OR_RETURN(IrModule module, graph.build());
  KILN_ASSIGN_OR_RETURN(proto::Executable exe, codegen::compile(module));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executor> executor,
                        Executor::create(exe));
  KILN_RETURN_IF_ERROR(loadHfCheckpoint(*executor, config, dir));
  return executor;
}

/// The logits at the last position of each of `rows` under the weights of
/// the Hugging Face folder `dir`.
inline absl::StatusOr<std::vector<std::vector<float>>>
lastPositionLogits(const DeepseekV3Config &config, const std::string &dir,
                   const std::vector<std::vector<int64_t>> &rows) {
  int64_t seq = 1;
  for (const auto &r : rows)
    seq = std::max<int64_t>(seq, r.size());
  const int64_t batch = rows.size();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executor> executor,
                        loadHfForward(config, dir, batch, seq));
  HostTensor ids(proto::I64, {batch, seq});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t)
      ids.data<int64_t>()[b * seq + t] =
          t < static_cast<int64_t>(rows[b].size()) ? rows[b][t] : 0;
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> out,
                        executor->run("logits", {ids}));
  const float *logits = out[0].data<float>();
  const int64_t vocab = config.vocabSize;
  std::vector<std::vector<float>> last;
  for (int64_t b = 0; b < batch; ++b) {
    const float *row =
        logits + (b * seq + static_cast<int64_t>(rows[b].size()) - 1) * vocab;
    last.emplace_back(row, row + vocab);
  }
  return last;
}

} // namespace kiln::models

#endif // KILN_TESTS_MODELS_HFLOGITS_H
