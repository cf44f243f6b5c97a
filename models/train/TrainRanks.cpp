//===- TrainRanks.cpp - the ranks of a data-parallel kiln-train run -------===//

#include "models/train/TrainRanks.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::train {

TrainRanks::TrainRanks() : communicator(singleProcessCommunicator()) {}

TrainRanks::TrainRanks(std::shared_ptr<Communicator> world)
    : communicator(world ? std::move(world) : singleProcessCommunicator()) {}

std::pair<int64_t, int64_t> TrainRanks::share(int64_t count, int r) const {
  if (r < 0)
    r = rank();
  const int64_t n = size();
  return {count * r / n, count * (r + 1) / n};
}

absl::StatusOr<std::vector<std::string>>
TrainRanks::allGather(const std::string &mine, const std::string &what) const {
  const int n = size();
  if (n == 1)
    return std::vector<std::string>{mine};
  // The lengths first, then every rank's bytes padded to the longest.
  CollectiveSite site{"all_gather", "kiln-train " + what};
  int64_t length = static_cast<int64_t>(mine.size());
  std::vector<int64_t> lengths(n);
  if (absl::Status s = communicator->allGather(&length, lengths.data(),
                                               sizeof(int64_t), site);
      !s.ok())
    return s;
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  std::string padded = mine;
  padded.resize(longest);
  std::string all(longest * n, '\0');
  if (longest > 0) {
    if (absl::Status s =
            communicator->allGather(padded.data(), all.data(), longest, site);
        !s.ok())
      return s;
  }
  std::vector<std::string> out(n);
  for (int r = 0; r < n; ++r)
    out[r] = all.substr(r * longest, lengths[r]);
  return out;
}

absl::StatusOr<std::vector<double>>
TrainRanks::sum(const std::vector<double> &values,
                const std::string &what) const {
  if (size() == 1)
    return values;
  ByteWriter writer;
  for (double v : values)
    writer.putDouble(v);
  absl::StatusOr<std::vector<std::string>> all =
      allGather(writer.bytes(), what);
  if (!all.ok())
    return all.status();
  std::vector<double> total(values.size(), 0.0);
  for (int r = 0; r < size(); ++r) {
    if ((*all)[r].size() != values.size() * sizeof(double))
      return absl::InternalError(
          absl::StrCat("kiln-train ", what, ": rank ", r, " sent ",
                       (*all)[r].size() / sizeof(double), " values, this rank ",
                       values.size()));
    ByteReader reader((*all)[r]);
    for (double &t : total) {
      absl::StatusOr<double> v = reader.getDouble();
      if (!v.ok())
        return v.status();
      t += *v;
    }
  }
  return total;
}

absl::StatusOr<bool> TrainRanks::any(bool mine, const std::string &what) const {
  if (size() == 1)
    return mine;
  absl::StatusOr<std::vector<std::string>> all =
      allGather(std::string(1, mine ? '\1' : '\0'), what);
  if (!all.ok())
    return all.status();
  for (const std::string &one : *all)
    if (one == std::string(1, '\1'))
      return true;
  return false;
}

absl::Status TrainRanks::agree(const absl::Status &mine,
                               const std::string &what) const {
  if (size() == 1)
    return mine;
  ByteWriter writer;
  writer.putInt(static_cast<int64_t>(mine.code()));
  writer.putString(std::string(mine.message()));
  absl::StatusOr<std::vector<std::string>> all =
      allGather(writer.bytes(), what);
  if (!all.ok())
    return all.status();
  for (int r = 0; r < size(); ++r) {
    ByteReader reader((*all)[r]);
    absl::StatusOr<int64_t> code = reader.getInt();
    absl::StatusOr<std::string> message = reader.getString();
    if (!code.ok() || !message.ok())
      return absl::DataLossError(absl::StrCat("kiln-train ", what, ": rank ", r,
                                              " sent a malformed outcome"));
    if (*code == 0)
      continue;
    if (r == rank())
      return mine;
    return absl::Status(
        static_cast<absl::StatusCode>(*code),
        absl::StrCat("rank ", r, " of ", size(), ": ", what, ": ", *message));
  }
  return absl::OkStatus();
}

void ByteWriter::putInt(int64_t v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof v);
}

void ByteWriter::putDouble(double v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof v);
}

void ByteWriter::putInts(const std::vector<int64_t> &values) {
  putInt(static_cast<int64_t>(values.size()));
  out.append(reinterpret_cast<const char *>(values.data()),
             values.size() * sizeof(int64_t));
}

void ByteWriter::putString(const std::string &text) {
  putInt(static_cast<int64_t>(text.size()));
  out.append(text);
}

absl::Status ByteReader::need(size_t bytes) const {
  if (in.size() - at < bytes)
    return absl::DataLossError(absl::StrCat("a rank's message ends after ",
                                            in.size(), " bytes; reading ",
                                            bytes, " more at ", at));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ByteReader::getInt() {
  if (absl::Status s = need(sizeof(int64_t)); !s.ok())
    return s;
  int64_t v;
  std::memcpy(&v, in.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

absl::StatusOr<double> ByteReader::getDouble() {
  if (absl::Status s = need(sizeof(double)); !s.ok())
    return s;
  double v;
  std::memcpy(&v, in.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

absl::StatusOr<std::vector<int64_t>> ByteReader::getInts() {
  absl::StatusOr<int64_t> n = getInt();
  if (!n.ok())
    return n.status();
  if (*n < 0 || static_cast<uint64_t>(*n) > (in.size() - at) / sizeof(int64_t))
    return absl::DataLossError(
        absl::StrCat("a rank's message claims ", *n, " values past its end"));
  std::vector<int64_t> values(*n);
  std::memcpy(values.data(), in.data() + at, *n * sizeof(int64_t));
  at += *n * sizeof(int64_t);
  return values;
}

absl::StatusOr<std::string> ByteReader::getString() {
  absl::StatusOr<int64_t> n = getInt();
  if (!n.ok())
    return n.status();
  if (*n < 0 || static_cast<uint64_t>(*n) > in.size() - at)
    return absl::DataLossError(
        absl::StrCat("a rank's message claims ", *n, " bytes past its end"));
  std::string text = in.substr(at, *n);
  at += *n;
  return text;
}

} // namespace kiln::train
