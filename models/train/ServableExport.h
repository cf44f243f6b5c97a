//===- ServableExport.h - a kiln-train output directory that kiln-serve reads
//-*- C++ -*-===//
//
// Beside its checkpoint, kiln-train writes the policy as a Hugging Face model
// directory: config.json, model.safetensors and a tokenizer_config.json naming
// Kiln's byte tokenizer and the task's prompt template as the chat template
// (models/tokenizer/TokenizerConfig.h), so `kiln-serve --model=OUT` serves a
// trained policy as it stands.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_SERVABLEEXPORT_H
#define KILN_MODELS_TRAIN_SERVABLEEXPORT_H

#include <string>

#include "absl/status/status.h"
#include "executor/EntryRunner.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// Writes the three files into config.output_dir() (each through a
/// temporary and a rename). `promptTemplate` is the task's, with
/// "{question}".
absl::Status writeServableModel(const EntryRunner &executor,
                                const TrainConfig &config,
                                const std::string &promptTemplate);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_SERVABLEEXPORT_H
