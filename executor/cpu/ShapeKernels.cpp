// Data-movement ops: reshape, transpose, broadcast_to, slice,
// dynamic_update_slice, concat, gather, take_along_axis, put_along_axis,
// scatter_add, one_hot, bincount. Indices are clamped or dropped as docs/OPS.md
// says, so bad indices never touch memory out of range.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

/// out[o] = in[inOffset(o)] for every output element (a strided gather of raw elements).
void stridedCopy(const KernelContext &ctx, const HostTensor &in, HostTensor &out,
                 const std::vector<int64_t> &strides, int64_t base) {
  int64_t eb = storageBytes(in.dtype());
  const uint8_t *src = in.data<uint8_t>() + base * eb;
  uint8_t *dst = out.data<uint8_t>();
  std::array<std::vector<int64_t>, 1> s = {strides};
  ctx.parallelFor(out.numElements(), 4, [&](int64_t b, int64_t e) {
    auto run = [&](auto tag) {
      using E = decltype(tag);
      forEachBroadcast<1>(out.shape(), s, b, e, [&](int64_t o, const std::array<int64_t, 1> &off) {
        std::memcpy(dst + o * sizeof(E), src + off[0] * sizeof(E), sizeof(E));
      });
    };
    // Fixed-size element copies let the compiler turn memcpy into one move.
    switch (eb) {
    case 8:
      run(uint64_t{});
      break;
    case 4:
      run(uint32_t{});
      break;
    case 2:
      run(uint16_t{});
      break;
    default:
      run(uint8_t{});
    }
  });
}

absl::Status unaryShapeChecks(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  return ctx.expectOutputs(1);
}

absl::Status reshapeKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(unaryShapeChecks(ctx));
  const HostTensor &x = ctx.input(0);
  std::vector<int64_t> shape = ctx.output(0).shape();
  if (ctx.hasAttr("shape")) {
    KILN_ASSIGN_OR_RETURN(shape, ctx.attrInts("shape"));
  }
  if (numElements(shape) != x.numElements())
    return ctx.error(absl::StrCat("cannot reshape ", x.typeString(), " to [",
                                  absl::StrJoin(shape, ","), "]"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  // Buffers are immutable once written, so the result can share the operand's storage.
  ctx.output(0) = x.reshaped(shape);
  return absl::OkStatus();
}

absl::Status transposeKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(unaryShapeChecks(ctx));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.attrInts("perm"));
  if (static_cast<int64_t>(perm.size()) != x.rank())
    return ctx.error(absl::StrCat("perm has ", perm.size(), " entries for ", x.typeString()));
  std::vector<bool> seen(x.rank(), false);
  std::vector<int64_t> shape(x.rank()), strides(x.rank());
  std::vector<int64_t> inStrides = rowMajorStrides(x.shape());
  for (int64_t i = 0; i < x.rank(); ++i) {
    KILN_ASSIGN_OR_RETURN(int64_t p, ctx.axis(perm[i], x.rank()));
    if (seen[p])
      return ctx.error(absl::StrCat("perm [", absl::StrJoin(perm, ","), "] is not a permutation"));
    seen[p] = true;
    shape[i] = x.dim(p);
    strides[i] = inStrides[p];
  }
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  stridedCopy(ctx, x, ctx.output(0), strides, 0);
  return absl::OkStatus();
}

absl::Status broadcastToKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(unaryShapeChecks(ctx));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.attrInts("shape"));
  auto b = broadcastShapes(x.shape(), shape);
  if (!b || *b != shape)
    return ctx.error(absl::StrCat("cannot broadcast ", x.typeString(), " to [",
                                  absl::StrJoin(shape, ","), "]"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  stridedCopy(ctx, x, ctx.output(0), broadcastStrides(x.shape(), shape), 0);
  return absl::OkStatus();
}

absl::Status sliceKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(unaryShapeChecks(ctx));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> start, ctx.attrInts("start"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> limit, ctx.attrInts("limit"));
  std::vector<int64_t> stride(x.rank(), 1);
  if (ctx.hasAttr("stride")) {
    KILN_ASSIGN_OR_RETURN(stride, ctx.attrInts("stride"));
  }
  int64_t r = x.rank();
  if (static_cast<int64_t>(start.size()) != r || static_cast<int64_t>(limit.size()) != r ||
      static_cast<int64_t>(stride.size()) != r)
    return ctx.error(absl::StrCat("start/limit/stride need ", r, " entries for ", x.typeString()));
  std::vector<int64_t> inStrides = rowMajorStrides(x.shape());
  std::vector<int64_t> shape(r), strides(r);
  int64_t base = 0;
  for (int64_t d = 0; d < r; ++d) {
    if (start[d] < 0 || start[d] > limit[d] || limit[d] > x.dim(d) || stride[d] < 1)
      return ctx.error(absl::StrCat("bad window on dim ", d, ": start ", start[d], " limit ",
                                    limit[d], " stride ", stride[d], " for ", x.typeString()));
    shape[d] = (limit[d] - start[d] + stride[d] - 1) / stride[d];
    strides[d] = stride[d] * inStrides[d];
    base += start[d] * inStrides[d];
  }
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  if (numElements(shape) > 0)
    stridedCopy(ctx, x, ctx.output(0), strides, base);
  return absl::OkStatus();
}

absl::Status dynamicUpdateSliceKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &u = ctx.input(1), &st = ctx.input(2);
  if (u.rank() != x.rank() || u.dtype() != x.dtype() || st.numElements() != x.rank() ||
      !isInteger(st.dtype()))
    return ctx.error(absl::StrCat("bad operands ", x.typeString(), ", ", u.typeString(), ", ",
                                  st.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  std::vector<int64_t> outStrides = rowMajorStrides(x.shape());
  int64_t base = 0;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (u.dim(d) > x.dim(d))
      return ctx.error(absl::StrCat("update ", u.typeString(), " is larger than ", x.typeString()));
    int64_t s = std::clamp<int64_t>(st.getInt(d), 0, x.dim(d) - u.dim(d));
    base += s * outStrides[d];
  }
  HostTensor out = x.clone();
  int64_t eb = storageBytes(x.dtype());
  uint8_t *dst = out.data<uint8_t>() + base * eb;
  const uint8_t *src = u.data<uint8_t>();
  std::array<std::vector<int64_t>, 1> s = {outStrides};
  forEachBroadcast<1>(u.shape(), s, 0, u.numElements(),
                      [&](int64_t o, const std::array<int64_t, 1> &off) {
                        std::memcpy(dst + off[0] * eb, src + o * eb, eb);
                      });
  ctx.output(0) = out;
  return absl::OkStatus();
}

absl::Status concatKernel(const KernelContext &ctx) {
  if (ctx.numInputs() < 1)
    return ctx.error("needs at least one operand");
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x0 = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x0.rank()));
  std::vector<int64_t> shape = x0.shape();
  shape[axis] = 0;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    const HostTensor &xi = ctx.input(i);
    bool ok = xi.dtype() == x0.dtype() && xi.rank() == x0.rank();
    for (int64_t d = 0; ok && d < x0.rank(); ++d)
      ok = d == axis || xi.dim(d) == x0.dim(d);
    if (!ok)
      return ctx.error(absl::StrCat("operand ", i, " ", xi.typeString(),
                                    " does not match operand 0 ", x0.typeString()));
    shape[axis] += xi.dim(axis);
  }
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x0.dtype()));
  int64_t eb = storageBytes(x0.dtype());
  AxisSplit os = splitAt(shape, axis);
  uint8_t *dst = ctx.output(0).data<uint8_t>();
  int64_t at = 0;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    const HostTensor &xi = ctx.input(i);
    int64_t chunk = xi.dim(axis) * os.inner * eb;
    const uint8_t *src = xi.data<uint8_t>();
    for (int64_t o = 0; o < os.outer; ++o)
      std::memcpy(dst + (o * os.n * os.inner + at) * eb, src + o * chunk, chunk);
    at += xi.dim(axis) * os.inner;
  }
  return absl::OkStatus();
}

absl::Status gatherKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &idx = ctx.input(1);
  if (!isInteger(idx.dtype()))
    return ctx.error(absl::StrCat("indices must be int, got ", idx.typeString()));
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  std::vector<int64_t> shape(x.shape().begin(), x.shape().begin() + axis);
  shape.insert(shape.end(), idx.shape().begin(), idx.shape().end());
  shape.insert(shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  AxisSplit s = splitAt(x.shape(), axis);
  int64_t nIdx = idx.numElements();
  if (s.n == 0 && nIdx > 0 && s.outer * s.inner > 0)
    return ctx.error(absl::StrCat("cannot gather from empty axis of ", x.typeString()));
  ReadView<int64_t> iv(idx);
  int64_t eb = storageBytes(x.dtype());
  int64_t row = s.inner * eb;
  const uint8_t *src = x.data<uint8_t>();
  uint8_t *dst = ctx.output(0).data<uint8_t>();
  ctx.parallelFor(s.outer * nIdx, 2.0 * s.inner + 10, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t o = t / nIdx, j = t % nIdx;
      int64_t k = std::clamp<int64_t>(iv[j], 0, s.n - 1);
      std::memcpy(dst + t * row, src + (o * s.n + k) * row, row);
    }
  });
  return absl::OkStatus();
}

absl::Status takeAlongAxisKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &idx = ctx.input(1);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  bool ok = isInteger(idx.dtype()) && idx.rank() == x.rank();
  for (int64_t d = 0; ok && d < x.rank(); ++d)
    ok = d == axis || idx.dim(d) == x.dim(d);
  if (!ok)
    return ctx.error(absl::StrCat("indices ", idx.typeString(), " do not fit ", x.typeString(),
                                  " along axis ", axis));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, idx.shape(), x.dtype()));
  AxisSplit xs = splitAt(x.shape(), axis), is = splitAt(idx.shape(), axis);
  if (xs.n == 0 && idx.numElements() > 0)
    return ctx.error(absl::StrCat("cannot take from empty axis of ", x.typeString()));
  ReadView<int64_t> iv(idx);
  int64_t eb = storageBytes(x.dtype());
  const uint8_t *src = x.data<uint8_t>();
  uint8_t *dst = ctx.output(0).data<uint8_t>();
  for (int64_t o = 0; o < is.outer; ++o)
    for (int64_t j = 0; j < is.n; ++j)
      for (int64_t i = 0; i < is.inner; ++i) {
        int64_t t = (o * is.n + j) * is.inner + i;
        int64_t k = std::clamp<int64_t>(iv[t], 0, xs.n - 1);
        std::memcpy(dst + t * eb, src + ((o * xs.n + k) * xs.inner + i) * eb, eb);
      }
  return absl::OkStatus();
}

/// Offsets into a broadcast operand (size-1 dims read at 0) of each flat
/// position of the dims [from, to) of `shape`, row-major.
std::vector<int64_t> broadcastOffsets(const std::vector<int64_t> &shape,
                                      const std::vector<int64_t> &operand,
                                      int64_t from, int64_t to) {
  std::vector<int64_t> strides = rowMajorStrides(operand);
  std::vector<int64_t> offsets{0};
  for (int64_t d = from; d < to; ++d) {
    std::vector<int64_t> next;
    next.reserve(offsets.size() * shape[d]);
    for (int64_t base : offsets)
      for (int64_t c = 0; c < shape[d]; ++c)
        next.push_back(base + (operand[d] == 1 ? 0 : c * strides[d]));
    offsets = std::move(next);
  }
  return offsets;
}

absl::Status putAlongAxisKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &idx = ctx.input(1), &val = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  bool ok = isInteger(idx.dtype()) && idx.rank() == x.rank() &&
            val.dtype() == x.dtype() && val.rank() == x.rank();
  for (int64_t d = 0; ok && d < x.rank(); ++d)
    ok = d == axis ? val.dim(d) == idx.dim(d)
                   : val.dim(d) == x.dim(d) &&
                         (idx.dim(d) == 1 || idx.dim(d) == x.dim(d));
  if (!ok)
    return ctx.error(absl::StrCat("indices ", idx.typeString(), " and values ",
                                  val.typeString(), " do not fit ",
                                  x.typeString(), " along axis ", axis));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  AxisSplit xs = splitAt(x.shape(), axis), vs = splitAt(val.shape(), axis);
  std::vector<int64_t> outerAt =
      broadcastOffsets(val.shape(), idx.shape(), 0, axis);
  std::vector<int64_t> innerAt =
      broadcastOffsets(val.shape(), idx.shape(), axis + 1, val.rank());
  int64_t axisStride = rowMajorStrides(idx.shape())[axis];
  ReadView<int64_t> iv(idx);
  int64_t eb = storageBytes(x.dtype());
  HostTensor out = x.clone();
  const uint8_t *src = val.data<uint8_t>();
  uint8_t *dst = out.data<uint8_t>();
  // Positions along the axis in ascending order: a later entry naming the
  // same slot overwrites an earlier one.
  for (int64_t o = 0; o < vs.outer; ++o)
    for (int64_t j = 0; j < vs.n; ++j)
      for (int64_t i = 0; i < vs.inner; ++i) {
        int64_t k = iv[outerAt[o] + j * axisStride + innerAt[i]];
        if (k < 0 || k >= xs.n)
          continue;
        std::memcpy(dst + ((o * xs.n + k) * xs.inner + i) * eb,
                    src + ((o * vs.n + j) * vs.inner + i) * eb, eb);
      }
  ctx.output(0) = out;
  return absl::OkStatus();
}

absl::Status scatterAddKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &idx = ctx.input(1), &upd = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  std::vector<int64_t> updShape(x.shape().begin(), x.shape().begin() + axis);
  updShape.insert(updShape.end(), idx.shape().begin(), idx.shape().end());
  updShape.insert(updShape.end(), x.shape().begin() + axis + 1, x.shape().end());
  if (!isInteger(idx.dtype()) || upd.shape() != updShape || upd.dtype() != x.dtype())
    return ctx.error(absl::StrCat("updates ", upd.typeString(), " must be ", dtypeName(x.dtype()),
                                  "[", absl::StrJoin(updShape, ","), "] for ", x.typeString(),
                                  " and indices ", idx.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  AxisSplit s = splitAt(x.shape(), axis);
  int64_t nIdx = idx.numElements();
  ReadView<int64_t> iv(idx);
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> xv(x), uv(upd);
    WriteView<T> out(ctx.output(0));
    std::copy(xv.data(), xv.data() + x.numElements(), out.data());
    // Each outer slice is independent; inside one, updates land in index order.
    ctx.parallelFor(s.outer, 2.0 * nIdx * s.inner, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t j = 0; j < nIdx; ++j) {
          int64_t k = iv[j];
          if (k < 0 || k >= s.n)
            continue;
          T *dst = out.data() + (o * s.n + k) * s.inner;
          const T *src = uv.data() + (o * nIdx + j) * s.inner;
          for (int64_t i = 0; i < s.inner; ++i) {
            if constexpr (std::is_integral_v<T>)
              dst[i] = static_cast<T>(static_cast<uint64_t>(dst[i]) + static_cast<uint64_t>(src[i]));
            else
              dst[i] += src[i];
          }
        }
    });
    out.commit();
    return absl::OkStatus();
  });
}

absl::Status oneHotKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(unaryShapeChecks(ctx));
  const HostTensor &idx = ctx.input(0);
  if (!isInteger(idx.dtype()))
    return ctx.error(absl::StrCat("indices must be int, got ", idx.typeString()));
  KILN_ASSIGN_OR_RETURN(int64_t depth, ctx.attrInt("depth"));
  proto::DType dtype = ctx.output(0).dtype();
  if (ctx.hasAttr("dtype")) {
    KILN_ASSIGN_OR_RETURN(dtype, ctx.attrType("dtype"));
  }
  std::vector<int64_t> shape = idx.shape();
  shape.push_back(depth);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, dtype));
  HostTensor &out = ctx.output(0);
  for (int64_t i = 0; i < idx.numElements(); ++i) {
    int64_t k = idx.getInt(i);
    if (k >= 0 && k < depth)
      out.setInt(i * depth + k, 1);
  }
  return absl::OkStatus();
}

absl::Status bincountKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(unaryShapeChecks(ctx));
  const HostTensor &x = ctx.input(0);
  if (!isInteger(x.dtype()) || x.rank() != 1)
    return ctx.error(absl::StrCat("operand must be a rank-1 int, got ", x.typeString()));
  KILN_ASSIGN_OR_RETURN(int64_t length, ctx.attrInt("length"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {length}, proto::I64));
  int64_t *out = ctx.output(0).data<int64_t>();
  for (int64_t i = 0; i < x.numElements(); ++i) {
    int64_t v = x.getInt(i);
    if (v >= 0 && v < length)
      ++out[v];
  }
  return absl::OkStatus();
}

} // namespace

void registerShapeKernels(KernelRegistry &r) {
  r["reshape"] = reshapeKernel;
  r["transpose"] = transposeKernel;
  r["broadcast_to"] = broadcastToKernel;
  r["slice"] = sliceKernel;
  r["dynamic_update_slice"] = dynamicUpdateSliceKernel;
  r["concat"] = concatKernel;
  r["gather"] = gatherKernel;
  r["take_along_axis"] = takeAlongAxisKernel;
  r["scatter_add"] = scatterAddKernel;
  r["put_along_axis"] = putAlongAxisKernel;
  r["one_hot"] = oneHotKernel;
  r["bincount"] = bincountKernel;
}

} // namespace kiln
