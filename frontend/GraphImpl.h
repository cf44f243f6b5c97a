//===- GraphImpl.h - the MLIR side of Graph, Function and Tensor -*- C++
//-*-===//
//
// Private to frontend/. Holds the module being built, the table that gives
// Tensor ids their mlir::Value, the sticky error, and the one routine every op
// goes through (check operands, infer result types, create the op).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_GRAPHIMPL_H
#define KILN_FRONTEND_GRAPHIMPL_H

#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <functional>

#include "frontend/Graph.h"
#include "ir/IrModule.h"

#include "absl/status/status.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/ADT/ArrayRef.h"

namespace kiln::detail {

/// One attribute of an op, described without a context so that op functions can
/// spell it before the graph (and its MLIRContext) is known.
struct Attr {
  /// A dialect attribute (an enum), made once the context is known.
  using Maker = std::function<mlir::Attribute(mlir::MLIRContext &)>;
  using Value = std::variant<int64_t, double, bool, std::string,
                             std::vector<int64_t>, DType, std::vector<int32_t>,
                             Maker>;
  std::string name;
  Value value;
};
inline Attr intAttr(std::string name, int64_t v) {
  return {std::move(name), v};
}
inline Attr floatAttr(std::string name, double v) {
  return {std::move(name), v};
}
inline Attr boolAttr(std::string name, bool v) { return {std::move(name), v}; }
inline Attr strAttr(std::string name, std::string v) {
  return {std::move(name), std::move(v)};
}
inline Attr intsAttr(std::string name, std::vector<int64_t> v) {
  return {std::move(name), std::move(v)};
}
inline Attr typeAttr(std::string name, DType v) { return {std::move(name), v}; }
/// operandSegmentSizes of ops with optional operands.
inline Attr segmentsAttr(std::vector<int32_t> v) {
  return {"operandSegmentSizes", std::move(v)};
}

/// The static `inferReturnTypes` of an ODS op class.
using InferFn = llvm::LogicalResult (*)(mlir::MLIRContext *,
                                        std::optional<mlir::Location>,
                                        mlir::ValueRange, mlir::DictionaryAttr,
                                        mlir::OpaqueProperties,
                                        mlir::RegionRange,
                                        llvm::SmallVectorImpl<mlir::Type> &);

mlir::Type toMlir(mlir::MLIRContext &ctx, DType dtype);
std::optional<DType> fromMlir(mlir::Type type);
/// "tensor<2x3xf32>", the spelling the inference messages use.
std::string typeString(const Shape &shape, DType dtype);
/// Empty, or why `shape` cannot be a tensor shape.
std::string checkShape(const Shape &shape);

class GraphImpl {
public:
  explicit GraphImpl(std::string name);

  //===--- Errors ---------------------------------------------------------===//

  bool failed() const { return !error.ok(); }
  const absl::Status &status() const { return error; }
  /// Keeps the first error: "<file>:<line>: <what>: <message>".
  void fail(const SourceLoc &loc, const std::string &what,
            const std::string &message);

  //===--- Op creation ----------------------------------------------------===//

  /// Checks that `operands` are valid tensors of one graph and one function
  /// (`fn`'s, when given, as for sources) and that no error is pending. On a
  /// problem records it (unless an earlier error is propagating) and returns
  /// null; otherwise the graph to build in and the function index in
  /// `function`.
  static GraphImpl *resolve(const std::string &op, const SourceLoc &loc,
                            llvm::ArrayRef<const Tensor *> operands,
                            Function *fn, int &function);

  /// Builds op `name` once `infer` accepts it: one Tensor per result, or as
  /// many invalid tensors after recording the error.
  static std::vector<Tensor> build(const std::string &name, InferFn infer,
                                   llvm::ArrayRef<const Tensor *> operands,
                                   const std::vector<Attr> &attrs,
                                   const SourceLoc &loc, size_t numResults,
                                   Function *fn = nullptr);
  /// Builds an op whose result type is declared (iota, random_*), then runs its
  /// verifier; a failure erases the op and records the verifier's message.
  static Tensor buildDeclared(const std::string &name,
                              llvm::ArrayRef<const Tensor *> operands,
                              const std::vector<Attr> &attrs,
                              const Shape &shape, DType dtype,
                              const SourceLoc &loc, Function *fn = nullptr);
  /// A kiln.constant of `values` (one per element, or one splat value).
  static Tensor constant(Function &fn, const std::vector<double> &values,
                         const Shape &shape, DType dtype, const SourceLoc &loc);

  static GraphImpl &of(Function &fn) { return *fn.graph; }
  static GraphImpl *of(const Tensor &t) { return t.graph; }
  static GraphImpl *of(const State &s) { return s.graph; }
  static int64_t indexOf(const State &s) { return s.index; }
  /// An invalid tensor of `t`'s graph (the result of a rejected call).
  static Tensor invalidLike(const Tensor &t) { return invalid(t.graph); }
  static int functionIndex(const Function &fn) { return fn.index; }

  //===--- Functions and state --------------------------------------------===//

  struct StateInfo {
    std::string name;
    Shape shape;
    DType dtype;
    Init init;
    StateKind kind;
    /// "experts" when the parameter is sharded over its first (expert)
    /// axis by kiln-expert-parallel; empty when every rank holds it whole.
    std::string sharding;
  };
  struct ArgInfo {
    bool isState;
    std::string name;
  };
  struct ResultInfo {
    bool isState;
    std::string name;
    int64_t value; // tensor id
    SourceLoc loc;
  };
  struct FunctionInfo {
    std::string name;
    mlir::func::FuncOp func;
    std::unique_ptr<Function> handle;
    std::vector<ArgInfo> args;
    std::map<int64_t, int64_t> stateArgs; // state index -> tensor id
    std::map<int64_t, int64_t> substitutes; // state index -> tensor id
    std::set<std::string> inputNames, outputNames, updatedStates;
    std::vector<ResultInfo> results;
  };

  Function &function(const std::string &name, const SourceLoc &loc);
  /// Handles of every state entry of `kind` (all kinds when empty), in
  /// creation order.
  std::vector<State> statesOfKind(std::optional<StateKind> kind);
  void shardOverExperts(const State &state, const SourceLoc &loc);
  State addState(std::string name, Shape shape, DType dtype, Init init,
                 StateKind kind, const SourceLoc &loc);
  Tensor input(int function, std::string name, Shape shape, DType dtype,
               const SourceLoc &loc);
  Tensor read(int function, const State &state, const SourceLoc &loc);
  void output(int function, std::string name, const Tensor &value,
              const SourceLoc &loc);
  void update(int function, const State &state, const Tensor &value,
              const SourceLoc &loc);
  void substitute(int function, const State &state, const Tensor &value,
                  const SourceLoc &loc);
  absl::StatusOr<IrModule> finish();

  //===--- Value table ----------------------------------------------------===//

  struct ValueInfo {
    mlir::Value value;
    int function;
    Shape shape;
    DType dtype;
  };
  const ValueInfo &value(int64_t id) const { return values[id]; }
  Function *functionHandle(int index) { return functions[index]->handle.get(); }
  const FunctionInfo &functionInfo(int index) const {
    return *functions[index];
  }
  const StateInfo &stateInfo(int64_t index) const { return states[index]; }
  const std::string &name() const { return graphName; }

private:
  Tensor addValue(mlir::Value value, int function);
  /// An invalid tensor that still names its graph, so later ops stay no-ops.
  static Tensor invalid(GraphImpl *graph) { return Tensor(graph, -1); }
  mlir::Location location(const SourceLoc &loc);
  mlir::Value argument(int function, mlir::Type type, mlir::Location loc);
  mlir::Attribute toMlir(const Attr::Value &value);
  mlir::OpBuilder builderAt(int function);
  /// False (after recording why) once build() has handed the module out.
  bool open(const SourceLoc &loc, const std::string &what);

  std::string graphName;
  std::optional<IrModule> module;
  mlir::MLIRContext *ctx;
  absl::Status error;
  std::vector<ValueInfo> values;
  std::vector<std::unique_ptr<FunctionInfo>> functions;
  std::vector<StateInfo> states;
  std::map<std::string, int64_t> stateByName;

public:
  /// While a Remat scope is open, the group its ops join (`kiln.remat`), else -1.
  int64_t rematGroup = -1;
  int64_t nextRematGroup = 0;
};

/// `value` as a rank-0 constant of `like`'s dtype in `like`'s function (for
/// scalar operands). An invalid `like` passes through: the op that follows
/// reports or ignores it.
Tensor scalarLike(const Tensor &like, double value, const SourceLoc &loc);

/// Records `message` as the error of `anchor`'s graph, for checks the frontend
/// makes itself (e.g. reshape's -1); nothing when `anchor` is invalid.
void failAt(const Tensor &anchor, const SourceLoc &loc, const std::string &what,
            const std::string &message);

/// Builds op class `OpT` with its own type inference.
template <typename OpT>
std::vector<Tensor> buildOp(llvm::ArrayRef<const Tensor *> operands,
                            const std::vector<Attr> &attrs,
                            const SourceLoc &loc, size_t numResults = 1) {
  return GraphImpl::build(OpT::getOperationName().str(), &OpT::inferReturnTypes,
                          operands, attrs, loc, numResults);
}

template <typename OpT>
Tensor buildOne(llvm::ArrayRef<const Tensor *> operands,
                const std::vector<Attr> &attrs, const SourceLoc &loc) {
  return buildOp<OpT>(operands, attrs, loc, 1).front();
}

} // namespace kiln::detail

#endif // KILN_FRONTEND_GRAPHIMPL_H
