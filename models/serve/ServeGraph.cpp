//===- ServeGraph.cpp - the compiled entries kiln-serve runs --------------===//

#include "models/serve/ServeGraph.h"

#include "absl/strings/str_cat.h"
#include "codegen/Compile.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/DeepseekInference.h"
#include "models/deepseek/DeepseekModel.h"

namespace kiln::models {

absl::StatusOr<proto::Executable>
compileServeModel(const DeepseekV3Config &config, const ServeShape &shape,
                  const std::string &target, uint64_t seed) {
  if (shape.slots < 1 || shape.context < 2)
    return absl::InvalidArgumentError(
        absl::StrCat("serving needs at least 1 slot and a context of 2, got ",
                     shape.slots, " slots and ", shape.context));
  if (shape.context > config.maxPositionEmbeddings)
    return absl::InvalidArgumentError(
        absl::StrCat("context ", shape.context, " exceeds the model's ",
                     "max_position_embeddings ", config.maxPositionEmbeddings));
  KILN_RETURN_IF_ERROR(config.validate());
  Graph graph("serve");
  DeepseekV3Model model(graph, config, DType::f32, seed);
  KILN_RETURN_IF_ERROR(addDeepseekInference(
      graph, model, {shape.slots, shape.context, shape.context}));
  KILN_ASSIGN_OR_RETURN(IrModule module, graph.build());
  codegen::CompileOptions options;
  options.target = target;
  return codegen::compile(module, options);
}

} // namespace kiln::models
