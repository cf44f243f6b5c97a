//===- HostCodegen.cpp - kiln IR to host-target steps ----------------------===//
//
// The host target needs no per-op code here: every kiln op maps to the kernel of
// the same name, and attributes are encoded generically (docs/OPS.md, "Attribute
// kinds"), so a new op only needs its kernel in executor/.
//
//===----------------------------------------------------------------------===//

#include "codegen/HostCodegen.h"

#include "codegen/AttrEncoding.h"
#include "codegen/Compile.h"
#include "executor/DType.h"
#include "ir/Diagnostics.h"
#include "ir/KilnDialect.h"
#include "ir/KilnOps.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace kiln::codegen {
namespace {

std::string locationString(Location loc) {
  return llvm::isa<UnknownLoc>(loc) ? std::string() : formatLocation(loc);
}

absl::Status errorAt(Location loc, const std::string &message) {
  std::string where = locationString(loc);
  return absl::InvalidArgumentError(where.empty() ? message
                                                  : where + ": " + message);
}

std::string stringAttr(DictionaryAttr attrs, StringRef name) {
  if (!attrs)
    return "";
  if (auto s = llvm::dyn_cast_or_null<StringAttr>(attrs.get(name)))
    return s.str();
  return "";
}

/// Reads the module's `kiln.state` table (written by the frontend) into `exe`.
absl::Status readStateTable(ModuleOp module, proto::Executable &exe,
                            llvm::StringMap<proto::TensorType> &declared) {
  auto table = module->getAttrOfType<ArrayAttr>("kiln.state");
  if (!table)
    return absl::OkStatus();
  for (Attribute entryAttr : table) {
    auto entry = llvm::dyn_cast<DictionaryAttr>(entryAttr);
    auto name = entry ? entry.getAs<StringAttr>("name") : StringAttr();
    auto type = entry ? entry.getAs<TypeAttr>("type") : TypeAttr();
    if (!name || !type)
      return errorAt(module.getLoc(),
                     "kiln.state entries need a name and a type attribute");
    auto tensorType = toTensorType(type.getValue());
    if (!tensorType.ok())
      return errorAt(module.getLoc(), absl::StrCat("state '", name.str(), "': ",
                                                   tensorType.status().message()));
    if (declared.count(name.getValue()))
      return errorAt(module.getLoc(),
                     absl::StrCat("state '", name.str(), "' is declared twice"));
    proto::StateEntry *state = exe.add_state();
    state->set_name(name.str());
    *state->mutable_type() = *tensorType;
    std::string kind = stringAttr(entry, "kind");
    state->set_kind(kind.empty() ? "other" : kind);
    if (auto derive = entry.getAs<StringAttr>("entry")) {
      state->set_derive_entry(derive.str());
      if (auto sources = entry.getAs<ArrayAttr>("sources"))
        for (Attribute source : sources)
          if (auto s = llvm::dyn_cast<StringAttr>(source))
            state->add_sources(s.str());
    }
    std::string init = stringAttr(entry, "init");
    if (!init.empty() && init != "none") {
      proto::Initializer *initializer = state->mutable_init();
      initializer->set_kind(init);
      if (auto a = entry.getAs<FloatAttr>("a"))
        initializer->set_a(a.getValueAsDouble());
      if (auto b = entry.getAs<FloatAttr>("b"))
        initializer->set_b(b.getValueAsDouble());
      if (auto seed = entry.getAs<IntegerAttr>("seed"))
        initializer->set_seed(seed.getInt());
    }
    declared[name.getValue()] = *tensorType;
  }
  return absl::OkStatus();
}

/// Records a state argument of an entry, adding it to the table if the module had
/// no declaration for it (hand-written IR).
absl::Status noteStateUse(func::FuncOp func, const std::string &name,
                          const proto::TensorType &type, proto::Executable &exe,
                          llvm::StringMap<proto::TensorType> &declared) {
  auto it = declared.find(name);
  if (it == declared.end()) {
    proto::StateEntry *state = exe.add_state();
    state->set_name(name);
    *state->mutable_type() = type;
    state->set_kind("other");
    declared[name] = type;
    return absl::OkStatus();
  }
  if (it->second.SerializeAsString() != type.SerializeAsString())
    return errorAt(func.getLoc(),
                   absl::StrCat("entry '", func.getSymName().str(), "' uses state '",
                                name, "' as ", typeString(type),
                                " but it is declared as ", typeString(it->second)));
  return absl::OkStatus();
}

class EntryLowering {
public:
  EntryLowering(func::FuncOp func, proto::Executable &exe,
                llvm::StringMap<proto::TensorType> &declared)
      : func(func), exe(exe), declared(declared) {}

  absl::Status run() {
    if (!func.getBody().hasOneBlock())
      return errorAt(func.getLoc(), "entry '" + func.getSymName().str() +
                                        "' must have exactly one block");
    entry = exe.add_entries();
    entry->set_name(func.getSymName().str());
    if (auto s = lowerArguments(); !s.ok())
      return s;
    Block &body = func.getBody().front();
    absl::Status status;
    forEachStepOp(func, [&](Operation &op) {
      if (status.ok())
        status = lowerOp(op);
    });
    if (!status.ok())
      return status;
    if (auto s = lowerResults(body.getTerminator()); !s.ok())
      return s;
    scheduleReleases();
    return absl::OkStatus();
  }

private:
  absl::StatusOr<int> bufferFor(Value value) {
    // A region's results are its root's: the same buffers.
    if (auto dispatch = value.getDefiningOp<ir::DispatchOp>())
      return bufferFor(dispatch.getBody().front().getTerminator()->getOperand(
          llvm::cast<OpResult>(value).getResultNumber()));
    auto it = buffers.find(value);
    if (it != buffers.end())
      return it->second;
    auto type = toTensorType(value.getType());
    if (!type.ok())
      return errorAt(value.getLoc(), std::string(type.status().message()));
    int id = entry->buffers_size();
    *entry->add_buffers() = *type;
    buffers[value] = id;
    return id;
  }

  absl::Status lowerArguments() {
    for (BlockArgument arg : func.getArguments()) {
      auto id = bufferFor(arg);
      if (!id.ok())
        return id.status();
      DictionaryAttr attrs = func.getArgAttrDict(arg.getArgNumber());
      proto::Argument *out = entry->add_arguments();
      out->set_buffer(*id);
      std::string state = stringAttr(attrs, "kiln.state");
      std::string name = stringAttr(attrs, "kiln.name");
      if (!state.empty()) {
        if (auto s = noteStateUse(func, state, entry->buffers(*id), exe, declared);
            !s.ok())
          return s;
        out->set_state(state);
        if (name.empty())
          name = state;
      }
      out->set_name(name.empty() ? absl::StrCat("arg", arg.getArgNumber()) : name);
      argumentBuffers.insert(*id);
    }
    return absl::OkStatus();
  }

  absl::Status lowerOp(Operation &op) {
    if (!llvm::isa<ir::KilnDialect>(op.getDialect()))
      return errorAt(op.getLoc(),
                     absl::StrCat("the host target cannot run '",
                                  op.getName().getStringRef().str(),
                                  "': only kiln ops may appear in an entry"));
    proto::Step *step = entry->add_steps();
    step->set_op(op.getName().stripDialect().str());
    step->set_location(locationString(op.getLoc()));
    for (Value operand : op.getOperands()) {
      auto id = bufferFor(operand);
      if (!id.ok())
        return id.status();
      step->add_inputs(*id);
      lastUse[*id] = entry->steps_size() - 1;
    }
    // kiln-update-in-place: the result is written into its x's buffer.
    if (op.hasAttr("kiln.in_place") && op.getNumResults() == 1 &&
        op.getNumOperands() > 0)
      buffers[op.getResult(0)] = step->inputs(0);
    for (Value result : op.getResults()) {
      auto id = bufferFor(result);
      if (!id.ok())
        return id.status();
      step->add_outputs(*id);
      lastUse[*id] = entry->steps_size() - 1;
    }
    for (NamedAttribute attr : op.getAttrs()) {
      // Dialect-prefixed attributes (kiln.precision, kiln.remat) record
      // compiler decisions already carried out; the kernel reads none.
      if (attr.getName().getValue().starts_with("kiln."))
        continue;
      auto encoded = encodeAttr(attr.getValue());
      if (!encoded.ok())
        return errorAt(op.getLoc(),
                       absl::StrCat("'", op.getName().getStringRef().str(),
                                    "' attribute '", attr.getName().str(),
                                    "': ", encoded.status().message()));
      (*step->mutable_attrs())[attr.getName().str()] = *encoded;
    }
    return absl::OkStatus();
  }

  absl::Status lowerResults(Operation *terminator) {
    for (auto [index, value] : llvm::enumerate(terminator->getOperands())) {
      auto id = bufferFor(value);
      if (!id.ok())
        return id.status();
      DictionaryAttr attrs = func.getResultAttrDict(index);
      proto::Result *out = entry->add_results();
      out->set_buffer(*id);
      out->set_aliases_argument(-1);
      std::string state = stringAttr(attrs, "kiln.state");
      std::string name = stringAttr(attrs, "kiln.name");
      if (!state.empty()) {
        if (auto s = noteStateUse(func, state, entry->buffers(*id), exe, declared);
            !s.ok())
          return s;
        out->set_state(state);
        for (int i = 0; i < entry->arguments_size(); ++i)
          if (entry->arguments(i).state() == state)
            out->set_aliases_argument(i);
        if (name.empty())
          name = state;
      }
      out->set_name(name.empty() ? absl::StrCat("result", index) : name);
      resultBuffers.insert(*id);
    }
    return absl::OkStatus();
  }

  /// Frees every step-produced buffer after its last reader, and measures the
  /// peak of live bytes that schedule gives.
  void scheduleReleases() {
    std::vector<std::vector<int>> releaseAt(entry->steps_size());
    for (auto [buffer, step] : lastUse)
      if (!argumentBuffers.count(buffer) && !resultBuffers.count(buffer))
        releaseAt[step].push_back(buffer);
    int64_t live = 0, peak = 0;
    for (int id : argumentBuffers)
      live += bufferBytes(entry->buffers(id));
    peak = live;
    for (int i = 0; i < entry->steps_size(); ++i) {
      proto::Step *step = entry->mutable_steps(i);
      for (int out : step->outputs())
        if (!llvm::is_contained(step->inputs(), out)) // in place: no new bytes
          live += bufferBytes(entry->buffers(out));
      peak = std::max(peak, live);
      std::sort(releaseAt[i].begin(), releaseAt[i].end());
      for (int id : releaseAt[i]) {
        step->add_release(id);
        live -= bufferBytes(entry->buffers(id));
      }
    }
    entry->set_peak_bytes(peak);
  }

  func::FuncOp func;
  proto::Executable &exe;
  llvm::StringMap<proto::TensorType> &declared;
  proto::EntryPoint *entry = nullptr;
  llvm::DenseMap<Value, int> buffers;
  std::map<int, int> lastUse;
  std::set<int> argumentBuffers, resultBuffers;
};

} // namespace

void forEachStepOp(func::FuncOp func, llvm::function_ref<void(Operation &)> fn) {
  for (Operation &op : func.getBody().front().without_terminator()) {
    auto dispatch = llvm::dyn_cast<ir::DispatchOp>(op);
    if (!dispatch) {
      fn(op);
      continue;
    }
    for (Operation &inner : dispatch.getBody().front().without_terminator())
      fn(inner);
  }
}

absl::StatusOr<proto::Executable> lowerToHost(ModuleOp module) {
  proto::Executable exe;
  exe.set_target("host");
  exe.set_compiler_version(kCompilerVersion);
  llvm::StringMap<proto::TensorType> declared;
  if (auto s = readStateTable(module, exe, declared); !s.ok())
    return s;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    EntryLowering lowering(func, exe, declared);
    if (auto s = lowering.run(); !s.ok())
      return s;
  }
  if (exe.entries_size() == 0)
    return errorAt(module.getLoc(), "the module has no public func.func entry point");
  return exe;
}

} // namespace kiln::codegen
