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
  // One byte from each rank, in one exchange: expert-parallel decoding asks
  // this before every step.
  const char flag = mine ? 1 : 0;
  std::string all(size(), '\0');
  if (absl::Status s = communicator->allGather(
          &flag, all.data(), 1, {"all_gather", "kiln-train " + what});
      !s.ok())
    return s;
  return all.find('\1') != std::string::npos;
}

absl::StatusOr<std::optional<TrainRanks::Mismatch>>
TrainRanks::differFromLeader(const std::vector<uint64_t> &words,
                             const std::string &what) const {
  if (size() == 1)
    return std::nullopt;
  std::string mine(words.size() * sizeof(uint64_t), '\0');
  if (!words.empty())
    std::memcpy(mine.data(), words.data(), mine.size());
  absl::StatusOr<std::vector<std::string>> all = allGather(mine, what);
  if (!all.ok())
    return all.status();
  auto wordAt = [](const std::string &bytes, int64_t i) -> uint64_t {
    if (static_cast<size_t>(i + 1) * sizeof(uint64_t) > bytes.size())
      return 0;
    uint64_t w;
    std::memcpy(&w, bytes.data() + i * sizeof(uint64_t), sizeof w);
    return w;
  };
  const std::string &leader = (*all)[0];
  for (int r = 1; r < size(); ++r) {
    const std::string &theirs = (*all)[r];
    if (theirs == leader)
      continue;
    // The first word that differs, or where the shorter list ends.
    const int64_t n = static_cast<int64_t>(
        std::min(leader.size(), theirs.size()) / sizeof(uint64_t));
    int64_t i = 0;
    while (i < n && wordAt(leader, i) == wordAt(theirs, i))
      ++i;
    return Mismatch{r, i, wordAt(leader, i), wordAt(theirs, i)};
  }
  return std::nullopt;
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
