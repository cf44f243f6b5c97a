// The safetensors format (github.com/huggingface/safetensors): header building
// and validation, streamed atomic writes through a temporary file, and sharded
// indexes.
#include "executor/Safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "executor/StatusMacros.h"
#include "executor/UntrustedJson.h"

static_assert(
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "safetensors data is little-endian and is copied without byte swapping");

namespace kiln {

namespace {

using Json = nlohmann::json;
// Keeps "__metadata__" first and tensors in data order, as the reference writer
// does.
using OrderedJson = nlohmann::ordered_json;

constexpr const char *kDTypeKeyPrefix = "kiln.dtype.";
// The reference implementation refuses headers above 100 MB; so do we, which
// also keeps a corrupt length from making us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeCode {
  proto::DType dtype;
  const char *name;
};
constexpr DTypeCode kDTypeCodes[] = {
    {proto::F64, "F64"},
    {proto::F32, "F32"},
    {proto::F16, "F16"},
    {proto::BF16, "BF16"},
    {proto::F8E4M3FN, "F8_E4M3"},
    {proto::F8E5M2, "F8_E5M2"},
    {proto::I64, "I64"},
    {proto::I32, "I32"},
    {proto::I8, "I8"},
    {proto::I1, "BOOL"},
};

std::optional<proto::DType> parseSafetensorsDType(const std::string &name) {
  for (const DTypeCode &c : kDTypeCodes)
    if (name == c.name)
      return c.dtype;
  return std::nullopt;
}

std::string supportedDTypes() {
  std::vector<std::string> names;
  for (const DTypeCode &c : kDTypeCodes)
    names.push_back(c.name);
  return absl::StrJoin(names, " ");
}

std::string errnoText(int err) { return std::strerror(err); }

std::string joinPath(const std::string &dir, const std::string &name) {
  if (dir.empty())
    return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string dirOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// A file written under `path.tmp.<pid>` and renamed over `path` by commit();
/// destroyed uncommitted, it removes the temporary, so `path` only ever holds a
/// complete file.
class AtomicFile {
public:
  explicit AtomicFile(std::string path)
      : path_(std::move(path)), tmp_(absl::StrCat(path_, ".tmp.", ::getpid())) {
  }
  ~AtomicFile() {
    if (fd_ >= 0)
      ::close(fd_);
    if (opened_ && !committed_)
      ::unlink(tmp_.c_str());
  }
  AtomicFile(const AtomicFile &) = delete;
  AtomicFile &operator=(const AtomicFile &) = delete;

  absl::Status open() {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
      return absl::PermissionDeniedError(absl::StrCat("cannot create '", tmp_,
                                                      "' to write '", path_,
                                                      "': ", errnoText(errno)));
    opened_ = true;
    return absl::OkStatus();
  }

  absl::Status write(const void *data, size_t size) {
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
      // Linux writes at most ~2 GiB per call; stay well below.
      size_t chunk = std::min<size_t>(size, size_t{1} << 30);
      ssize_t n = ::write(fd_, p, chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return absl::DataLossError(
            absl::StrCat("error writing '", tmp_, "' (for '", path_,
                         "'): ", n < 0 ? errnoText(errno) : "no progress"));
      p += n;
      size -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status commit() {
    if (::fsync(fd_) != 0)
      return absl::DataLossError(absl::StrCat("cannot flush '", tmp_,
                                              "' to disk: ", errnoText(errno)));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0)
      return absl::DataLossError(
          absl::StrCat("error closing '", tmp_, "': ", errnoText(errno)));
    if (::rename(tmp_.c_str(), path_.c_str()) != 0)
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot rename '", tmp_, "' to '", path_, "': ", errnoText(errno)));
    committed_ = true;
    // The rename is durable only once the directory entry is; failure here
    // loses nothing that is not already written, so it is not reported.
    int dirFd =
        ::open(dirOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
      ::fsync(dirFd);
      ::close(dirFd);
    }
    return absl::OkStatus();
  }

private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool opened_ = false, committed_ = false;
};

absl::Status writeFileAtomically(const std::string &path,
                                 const std::string &bytes) {
  AtomicFile file(path);
  KILN_RETURN_IF_ERROR(file.open());
  KILN_RETURN_IF_ERROR(file.write(bytes.data(), bytes.size()));
  return file.commit();
}

/// Checks names, dtypes and storage before any byte is written, so a bad tensor
/// never costs the caller the file it already had.
absl::Status
validateForWrite(const std::string &path,
                 const std::vector<std::pair<std::string, HostTensor>> &tensors,
                 const std::map<std::string, std::string> &metadata) {
  std::set<std::string> seen;
  for (const auto &[name, t] : tensors) {
    if (name.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write '", path, "': a tensor has an empty name"));
    if (name == "__metadata__")
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write '", path,
          "': '__metadata__' is reserved and cannot name a tensor"));
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write '", path, "': tensor '", name, "' appears twice"));
    if (!t.valid() || safetensorsDTypeName(t.dtype()) == nullptr)
      return absl::InvalidArgumentError(
          absl::StrCat("cannot write '", path, "': tensor '", name,
                       "' has no valid dtype (", dtypeName(t.dtype()), ")"));
    for (int64_t d : t.shape())
      if (d < 0)
        return absl::InvalidArgumentError(
            absl::StrCat("cannot write '", path, "': tensor '", name,
                         "' has a negative dimension (", t.typeString(), ")"));
    if (t.byteSize() > 0 && t.data() == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write '", path, "': tensor '", name, "' has no storage"));
  }
  for (const auto &[key, value] : metadata)
    if (absl::StartsWith(key, kDTypeKeyPrefix))
      return absl::InvalidArgumentError(
          absl::StrCat("cannot write '", path, "': metadata key '", key,
                       "' is reserved for Kiln's dtypes"));
  return absl::OkStatus();
}

absl::Status
writeValidated(const std::string &path,
               const std::vector<std::pair<std::string, HostTensor>> &tensors,
               const std::map<std::string, std::string> &metadata) {
  // Widest element first (stable, so the caller's order survives within a
  // width): with the header padded to 8 bytes, every tensor then starts aligned
  // to its element size, which is what mmap-based readers need.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return storageBytes(tensors[a].second.dtype()) >
           storageBytes(tensors[b].second.dtype());
  });

  OrderedJson header = OrderedJson::object();
  OrderedJson meta = OrderedJson::object();
  for (const auto &[key, value] : metadata)
    meta[key] = value;
  // An i4 tensor is its packed bytes as a flat I8 tensor, its type in the
  // metadata ("i4[4096,1408]"): other readers see a valid file.
  for (const auto &[name, t] : tensors)
    if (t.dtype() == proto::I4)
      meta[kDTypeKeyPrefix + name] =
          absl::StrCat("i4[", absl::StrJoin(t.shape(), ","), "]");
  if (!meta.empty())
    header["__metadata__"] = std::move(meta);
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto &[name, t] = tensors[i];
    OrderedJson info = OrderedJson::object();
    info["dtype"] = safetensorsDTypeName(t.dtype());
    if (t.dtype() == proto::I4)
      info["shape"] =
          std::vector<int64_t>{bufferBytes(t.dtype(), t.numElements())};
    else
      info["shape"] = t.shape();
    uint64_t end =
        offset + static_cast<uint64_t>(bufferBytes(t.dtype(), t.numElements()));
    info["data_offsets"] = {offset, end};
    header[name] = std::move(info);
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t n = text.size();
  unsigned char lengthBytes[8];
  for (int i = 0; i < 8; ++i)
    lengthBytes[i] = static_cast<unsigned char>(n >> (8 * i));

  AtomicFile file(path);
  KILN_RETURN_IF_ERROR(file.open());
  KILN_RETURN_IF_ERROR(file.write(lengthBytes, 8));
  KILN_RETURN_IF_ERROR(file.write(text.data(), text.size()));
  // Straight from each tensor's storage: a checkpoint is never staged whole in
  // memory.
  for (size_t i : order) {
    // A tensor in the kernels' unpacked i4 layout is packed as the header
    // says (every other tensor is itself).
    HostTensor t = tensors[i].second.withLayout(HostTensor::Layout::Packed);
    if (t.byteSize() > 0)
      KILN_RETURN_IF_ERROR(
          file.write(t.data(), static_cast<size_t>(t.byteSize())));
  }
  return file.commit();
}

/// Reads exactly `size` bytes at `offset`; a short read means the file shrank
/// under us.
absl::Status readAt(int fd, const std::string &path, uint64_t offset, void *out,
                    size_t size) {
  char *p = static_cast<char *>(out);
  while (size > 0) {
    size_t chunk = std::min<size_t>(size, size_t{1} << 30);
    ssize_t n = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return absl::DataLossError(absl::StrCat(
          "error reading safetensors file '", path, "': ", errnoText(errno)));
    if (n == 0)
      return absl::DataLossError(
          absl::StrCat("safetensors file '", path,
                       "' ended early while reading (truncated?)"));
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

struct TensorInfo {
  std::string name;
  proto::DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
  // An i4 tensor written one element per byte (Kiln before packed i4).
  bool unpackedI4 = false;
};

/// The shape of a packed i4 tensor's metadata value, "i4[4096,1408]".
std::optional<std::vector<int64_t>> parsePackedI4(const std::string &value) {
  if (!absl::StartsWith(value, "i4[") || !absl::EndsWith(value, "]"))
    return std::nullopt;
  std::string dims = value.substr(3, value.size() - 4);
  std::vector<int64_t> shape;
  if (dims.empty())
    return shape;
  for (absl::string_view d : absl::StrSplit(dims, ',')) {
    int64_t v;
    if (!absl::SimpleAtoi(d, &v) || v < 0)
      return std::nullopt;
    shape.push_back(v);
  }
  if (!checkedNumElements(shape, 1))
    return std::nullopt;
  return shape;
}

/// Interprets the parsed header; `bufferSize` is the byte count after the
/// header.
absl::StatusOr<std::vector<TensorInfo>>
parseHeader(const std::string &path, const OrderedJson &header,
            uint64_t bufferSize, std::map<std::string, std::string> &metadata) {
  auto bad = [&](const std::string &what) {
    return absl::DataLossError(
        absl::StrCat("safetensors file '", path, "': ", what));
  };
  if (!header.is_object())
    return bad(absl::StrCat("header is JSON but not an object (it is a ",
                            header.type_name(), ")"));

  std::map<std::string, std::string> raw;
  if (auto it = header.find("__metadata__"); it != header.end()) {
    if (!it->is_object())
      return bad("'__metadata__' is not an object");
    for (const auto &[key, value] : it->items()) {
      if (!value.is_string())
        return bad(absl::StrCat("metadata '", quoteBounded(key),
                                "' is not a string (", jsonSnippet(value),
                                ")"));
      raw[key] = value.get<std::string>();
    }
  }

  std::vector<TensorInfo> infos;
  for (const auto &[name, info] : header.items()) {
    if (name == "__metadata__")
      continue;
    auto badTensor = [&](const std::string &what) {
      return bad(absl::StrCat("tensor '", quoteBounded(name), "': ", what));
    };
    // The writer refuses an empty name; a reader keyed by name could not
    // tell it from a missing one.
    if (name.empty())
      return bad("a tensor has an empty name");
    if (!info.is_object())
      return badTensor("entry is not an object");
    auto dt = info.find("dtype"), sh = info.find("shape"),
         off = info.find("data_offsets");
    if (dt == info.end() || sh == info.end() || off == info.end())
      return badTensor("entry needs 'dtype', 'shape' and 'data_offsets'");
    if (!dt->is_string())
      return badTensor(
          absl::StrCat("dtype is not a string (", jsonSnippet(*dt), ")"));
    std::string dtName = dt->get<std::string>();
    std::optional<proto::DType> dtype = parseSafetensorsDType(dtName);
    if (!dtype)
      return badTensor(absl::StrCat("unknown or unsupported dtype '",
                                    quoteBounded(dtName), "' (Kiln reads ",
                                    supportedDTypes(), ")"));
    TensorInfo t{name, *dtype, {}, 0, 0};
    if (!sh->is_array())
      return badTensor(
          absl::StrCat("shape is not a list (", jsonSnippet(*sh), ")"));
    uint64_t elements = 1;
    bool overflow = false;
    for (const auto &d : *sh) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t{INT64_MAX})
        return badTensor(absl::StrCat("shape ", jsonSnippet(*sh),
                                      " has an entry that is not a "
                                      "non-negative integer"));
      uint64_t dim = d.get<uint64_t>();
      t.shape.push_back(static_cast<int64_t>(dim));
      overflow |= __builtin_mul_overflow(elements, dim, &elements);
    }
    if (!off->is_array() || off->size() != 2 ||
        !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      return badTensor(
          absl::StrCat("data_offsets must be two non-negative integers, not ",
                       jsonSnippet(*off)));
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.end < t.begin)
      return badTensor(absl::StrCat("data_offsets ", jsonSnippet(*off),
                                    " end before they begin"));
    if (t.end > bufferSize)
      return badTensor(absl::StrCat("data_offsets ", jsonSnippet(*off),
                                    " go beyond the data buffer (", bufferSize,
                                    " bytes)"));
    uint64_t expected;
    overflow |= __builtin_mul_overflow(
        elements, static_cast<uint64_t>(storageBytes(*dtype)), &expected);
    if (overflow || expected != t.end - t.begin)
      return badTensor(
          absl::StrCat(dtName, " shape ", jsonSnippet(*sh), " needs ",
                       overflow ? std::string("an impossible number of")
                                : absl::StrCat(expected),
                       " bytes but data_offsets ", jsonSnippet(*off), " hold ",
                       t.end - t.begin));
    infos.push_back(std::move(t));
  }

  // Kiln dtypes that safetensors lacks ride in the metadata; they are read back
  // into the tensor and not shown to the caller.
  std::map<std::string, size_t> byName;
  for (size_t i = 0; i < infos.size(); ++i)
    byName[infos[i].name] = i;
  for (const auto &[key, value] : raw) {
    if (!absl::StartsWith(key, kDTypeKeyPrefix)) {
      metadata[key] = value;
      continue;
    }
    std::string name = key.substr(std::strlen(kDTypeKeyPrefix));
    auto it = byName.find(name);
    if (it == byName.end())
      return bad(absl::StrCat("metadata '", quoteBounded(key),
                              "' names no tensor in the file"));
    TensorInfo &info = infos[it->second];
    std::optional<std::vector<int64_t>> packed = parsePackedI4(value);
    if (!packed && value != "i4")
      return bad(absl::StrCat(
          "metadata '", quoteBounded(key), "' = '", quoteBounded(value),
          "' is not a Kiln dtype carried in metadata (\"i4[d0,d1,...]\", "
          "or \"i4\" for one element per byte)"));
    if (info.dtype != proto::I8)
      return bad(absl::StrCat("tensor '", quoteBounded(name),
                              "' is marked i4 but is stored as ",
                              safetensorsDTypeName(info.dtype), ", not I8"));
    if (packed) {
      int64_t bytes = bufferBytes(proto::I4, numElements(*packed));
      if (info.shape != std::vector<int64_t>{bytes})
        return bad(absl::StrCat("tensor '", quoteBounded(name), "' is marked ",
                                quoteBounded(value), ", which packs into ",
                                bytes, " bytes, but is stored as I8[",
                                absl::StrJoin(info.shape, ","), "]"));
      info.shape = *packed;
    } else {
      info.unpackedI4 = true;
    }
    info.dtype = proto::I4;
  }

  // The tensors must tile the buffer exactly, as the reference reader demands:
  // sorted by range, each begins where the previous ended, and the last ends at
  // the end of file.
  std::stable_sort(
      infos.begin(), infos.end(), [](const TensorInfo &a, const TensorInfo &b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
      });
  uint64_t cursor = 0;
  const TensorInfo *prev = nullptr;
  for (const TensorInfo &t : infos) {
    if (t.begin < cursor)
      return bad(absl::StrCat("tensors '", prev->name, "' [", prev->begin, ", ",
                              prev->end, ") and '", t.name, "' [", t.begin,
                              ", ", t.end, ") overlap"));
    if (t.begin > cursor)
      return bad(absl::StrCat(
          "bytes [", cursor, ", ", t.begin,
          ") of the data buffer belong to no tensor (before '", t.name, "')"));
    cursor = t.end;
    prev = &t;
  }
  if (cursor != bufferSize)
    return bad(absl::StrCat(bufferSize - cursor,
                            " trailing bytes after the last tensor (data "
                            "buffer is ",
                            bufferSize, " bytes, tensors cover ", cursor, ")"));
  return infos;
}

std::string shardName(const std::string &stem, int index, int count) {
  return absl::StrFormat("%s-%05d-of-%05d.safetensors", stem, index, count);
}

} // namespace

const char *safetensorsDTypeName(proto::DType dtype) {
  if (dtype == proto::I4)
    return "I8";
  for (const DTypeCode &c : kDTypeCodes)
    if (c.dtype == dtype)
      return c.name;
  return nullptr;
}

absl::Status
writeSafetensors(const std::string &path,
                 const std::vector<std::pair<std::string, HostTensor>> &tensors,
                 const std::map<std::string, std::string> &metadata) {
  KILN_RETURN_IF_ERROR(validateForWrite(path, tensors, metadata));
  return writeValidated(path, tensors, metadata);
}

absl::StatusOr<SafetensorsFile> readSafetensors(const std::string &path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    std::string msg = absl::StrCat("cannot open safetensors file '", path,
                                   "': ", errnoText(err));
    return err == ENOENT ? absl::NotFoundError(msg)
                         : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return absl::DataLossError(absl::StrCat("cannot stat safetensors file '",
                                            path, "': ", errnoText(errno)));
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors path '", path, "' is not a regular file"));
  uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  if (fileSize < 8)
    return absl::DataLossError(
        absl::StrCat("safetensors file '", path, "' is ", fileSize,
                     " bytes, shorter than its 8-byte header length"));
  unsigned char lengthBytes[8];
  KILN_RETURN_IF_ERROR(readAt(fd.get(), path, 0, lengthBytes, 8));
  uint64_t headerSize = 0;
  for (int i = 0; i < 8; ++i)
    headerSize |= uint64_t{lengthBytes[i]} << (8 * i);
  if (headerSize > fileSize - 8)
    return absl::DataLossError(
        absl::StrCat("safetensors file '", path, "': header length ",
                     headerSize, " goes beyond the end of the file (", fileSize,
                     " bytes; truncated or not safetensors?)"));
  if (headerSize > kMaxHeaderBytes)
    return absl::DataLossError(absl::StrCat(
        "safetensors file '", path, "': header length ", headerSize,
        " exceeds the ", kMaxHeaderBytes, "-byte limit"));
  std::string text(headerSize, '\0');
  KILN_RETURN_IF_ERROR(readAt(fd.get(), path, 8, text.data(), text.size()));
  KILN_ASSIGN_OR_RETURN(OrderedJson header,
                        parseUntrustedJson<OrderedJson>(
                            text,
                            absl::StrCat("safetensors file '", path, "': the ",
                                         headerSize, "-byte header"),
                            absl::StatusCode::kDataLoss));

  SafetensorsFile file;
  uint64_t bufferStart = 8 + headerSize;
  std::vector<TensorInfo> infos;
  try {
    KILN_ASSIGN_OR_RETURN(
        infos,
        parseHeader(path, header, fileSize - bufferStart, file.metadata));
  } catch (const nlohmann::json::exception &e) {
    // The checks above should leave nothing to throw; this keeps a missed case
    // an error.
    return absl::DataLossError(absl::StrCat("safetensors file '", path,
                                            "': malformed header: ", e.what()));
  }
  for (const TensorInfo &info : infos) {
    KILN_ASSIGN_OR_RETURN(
        HostTensor t,
        HostTensor::create(info.dtype, info.shape,
                           absl::StrCat("safetensors file '", path,
                                        "': tensor '", quoteBounded(info.name),
                                        "'")));
    if (info.unpackedI4)
      t = t.withLayout(HostTensor::Layout::Unpacked);
    if (t.byteSize() > 0)
      KILN_RETURN_IF_ERROR(readAt(fd.get(), path, bufferStart + info.begin,
                                  t.data(), static_cast<size_t>(t.byteSize())));
    if (info.unpackedI4) {
      const int8_t *v = t.data<int8_t>();
      for (int64_t i = 0; i < t.numElements(); ++i)
        if (v[i] < -8 || v[i] > 7)
          return absl::DataLossError(absl::StrCat(
              "safetensors file '", path, "': tensor '",
              quoteBounded(info.name), "' is marked i4 but element ", i, " is ",
              int(v[i]), ", outside [-8, 7]"));
      t = t.withLayout(HostTensor::Layout::Packed);
    } else if (info.dtype == proto::I4 && t.numElements() % 2 == 1) {
      // The spare nibble of an odd count is zero, as every writer leaves it.
      static_cast<uint8_t *>(t.data())[t.byteSize() - 1] &= 0x0F;
    } else if (info.dtype == proto::I1) {
      // Any non-zero byte is true (as numpy and torch read it); Kiln stores
      // exactly 1.
      uint8_t *v = t.data<uint8_t>();
      for (int64_t i = 0; i < t.numElements(); ++i)
        v[i] = v[i] != 0;
    }
    file.order.push_back(info.name);
    file.tensors.emplace(info.name, std::move(t));
  }
  return file;
}

absl::StatusOr<SafetensorsFile>
readSafetensorsIndex(const std::string &indexPath) {
  Fd fd(::open(indexPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    std::string msg = absl::StrCat("cannot open safetensors index '", indexPath,
                                   "': ", errnoText(err));
    return err == ENOENT ? absl::NotFoundError(msg)
                         : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors index '", indexPath, "' is not a readable regular file"));
  if (static_cast<uint64_t>(st.st_size) > kMaxHeaderBytes)
    return absl::DataLossError(
        absl::StrCat("safetensors index '", indexPath, "' is ", st.st_size,
                     " bytes, beyond the ", kMaxHeaderBytes, "-byte limit"));
  std::string text(static_cast<size_t>(st.st_size), '\0');
  KILN_RETURN_IF_ERROR(
      readAt(fd.get(), indexPath, 0, text.data(), text.size()));
  KILN_ASSIGN_OR_RETURN(
      Json index, parseUntrustedJson<Json>(
                      text, absl::StrCat("safetensors index '", indexPath, "'"),
                      absl::StatusCode::kDataLoss));
  auto bad = [&](const std::string &what) {
    return absl::DataLossError(
        absl::StrCat("safetensors index '", indexPath, "': ", what));
  };
  if (!index.is_object())
    return bad("not a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object())
    return bad("has no 'weight_map' object");

  std::map<std::string, std::vector<std::string>>
      byShard; // shard -> listed tensors
  for (const auto &[name, shard] : wm->items()) {
    if (!shard.is_string())
      return bad(absl::StrCat("weight_map['", name, "'] is not a file name (",
                              jsonSnippet(shard), ")"));
    std::string file = shard.get<std::string>();
    // Shards live beside the index; a path elsewhere is a malformed (or
    // hostile) index.
    if (file.empty() || file.find('/') != std::string::npos || file == "." ||
        file == "..")
      return bad(absl::StrCat("weight_map['", name, "'] = '", file,
                              "' is not a file name in the index's folder"));
    byShard[file].push_back(name);
  }

  SafetensorsFile out;
  std::string dir = dirOf(indexPath);
  for (const auto &[shard, names] : byShard) {
    std::string shardPath = joinPath(dir, shard);
    KILN_ASSIGN_OR_RETURN(SafetensorsFile part, readSafetensors(shardPath));
    std::set<std::string> listed(names.begin(), names.end());
    for (const std::string &name : names)
      if (!part.tensors.count(name))
        return bad(absl::StrCat("tensor '", name, "' is listed in shard '",
                                shard, "' but that file does not hold it"));
    for (const std::string &name : part.order) {
      if (!listed.count(name))
        return bad(absl::StrCat("shard '", shard, "' holds tensor '", name,
                                "', which the weight_map does not list there"));
      out.order.push_back(name);
      out.tensors.emplace(name, std::move(part.tensors.at(name)));
    }
    for (auto &[key, value] : part.metadata)
      out.metadata.emplace(key, std::move(value));
  }

  if (auto md = index.find("metadata"); md != index.end() && !md->is_null()) {
    if (!md->is_object())
      return bad("'metadata' is not an object");
    for (const auto &[key, value] : md->items()) {
      // transformers writes total_size as a number; it describes the shards,
      // not the model.
      if (key == "total_size")
        continue;
      out.metadata[key] =
          value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  return out;
}

absl::Status writeSafetensorsSharded(
    const std::string &dir, const std::string &stem,
    const std::vector<std::pair<std::string, HostTensor>> &tensors,
    int64_t maxShardBytes, const std::map<std::string, std::string> &metadata) {
  std::string indexPath = joinPath(dir, stem + ".safetensors.index.json");
  if (stem.empty() || stem.find('/') != std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("sharded checkpoint stem '", stem,
                     "' must be a plain, non-empty name"));
  if (maxShardBytes <= 0)
    return absl::InvalidArgumentError(
        absl::StrCat("maxShardBytes must be positive, not ", maxShardBytes));
  // Everything is checked up front: a bad tensor must not leave half the shards
  // rewritten.
  KILN_RETURN_IF_ERROR(validateForWrite(indexPath, tensors, metadata));

  std::vector<std::vector<std::pair<std::string, HostTensor>>> shards(1);
  int64_t used = 0, total = 0;
  for (const auto &entry : tensors) {
    int64_t bytes = entry.second.byteSize();
    if (!shards.back().empty() && used + bytes > maxShardBytes) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(entry);
    used += bytes;
    total += bytes;
  }
  int count = static_cast<int>(shards.size());
  if (count == 1)
    return writeValidated(joinPath(dir, stem + ".safetensors"), shards[0],
                          metadata);

  Json weightMap = Json::object();
  for (int i = 0; i < count; ++i) {
    std::string name = shardName(stem, i + 1, count);
    KILN_RETURN_IF_ERROR(
        writeValidated(joinPath(dir, name), shards[i], metadata));
    for (const auto &entry : shards[i])
      weightMap[entry.first] = name;
  }
  // The index goes last, so a reader never finds an index naming shards not yet
  // written.
  Json indexMeta = Json::object();
  for (const auto &[key, value] : metadata)
    indexMeta[key] = value;
  indexMeta["total_size"] = total;
  Json index = {{"metadata", std::move(indexMeta)},
                {"weight_map", std::move(weightMap)}};
  return writeFileAtomically(indexPath, index.dump(2) + "\n");
}

} // namespace kiln
