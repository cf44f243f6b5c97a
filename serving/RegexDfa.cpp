//===- RegexDfa.cpp - a regular expression as a byte automaton ------------===//
//
// Parse to a small tree, build a Thompson NFA over bytes (each code point
// class split into UTF-8 byte-range sequences, as RE2 and Rust's regex do),
// then the subset construction, then drop the states that cannot reach
// acceptance so that kDead marks every byte that would leave the language.
//
//===----------------------------------------------------------------------===//

#include "serving/RegexDfa.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/tokenizer/Utf8.h"

namespace kiln::serving {

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr size_t kMaxNfaStates = 1 << 20;

/// Sorted, disjoint, non-adjacent code point ranges.
using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

Ranges normalize(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (auto [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1)
      out.back().second = std::max(out.back().second, hi);
    else
      out.push_back({lo, hi});
  }
  return out;
}

Ranges complement(const Ranges &r) {
  Ranges out;
  uint32_t next = 0;
  for (auto [lo, hi] : r) {
    if (lo > next)
      out.push_back({next, lo - 1});
    next = hi + 1;
  }
  if (next <= kMaxCodePoint)
    out.push_back({next, kMaxCodePoint});
  return out;
}

struct Node {
  enum Kind { empty, set, concat, alt, repeat } kind = empty;
  Ranges ranges;
  std::vector<int> kids;
  int min = 0, max = 0; // max -1: unbounded
};

class Parser {
public:
  explicit Parser(std::string_view pattern) : p(pattern) {}

  std::optional<absl::Status> error;
  std::vector<Node> nodes;

  int parse() {
    int root = parseAlt();
    if (!error && pos < p.size())
      fail("unmatched ')'");
    return root;
  }

private:
  std::string_view p;
  size_t pos = 0;

  int fail(const std::string &what) {
    if (!error)
      error = absl::InvalidArgumentError(
          absl::StrCat("regex: ", what, " at offset ", pos));
    return -1;
  }
  int add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  }
  int single(uint32_t c) {
    Node n;
    n.kind = Node::set;
    n.ranges = {{c, c}};
    return add(std::move(n));
  }
  bool more() const { return !error && pos < p.size(); }

  uint32_t codePoint() {
    size_t len = 1;
    char32_t c = tokenizer::decodeUtf8At(p, pos, len);
    pos += std::max<size_t>(len, 1);
    return static_cast<uint32_t>(c);
  }

  int parseAlt() {
    std::vector<int> alts = {parseConcat()};
    while (more() && p[pos] == '|') {
      ++pos;
      alts.push_back(parseConcat());
    }
    if (error)
      return -1;
    if (alts.size() == 1)
      return alts[0];
    Node n;
    n.kind = Node::alt;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  int parseConcat() {
    std::vector<int> kids;
    while (more() && p[pos] != '|' && p[pos] != ')') {
      if (p[pos] == '^' || p[pos] == '$') {
        bool first = p[pos] == '^' && pos == 0;
        bool last = p[pos] == '$' && pos + 1 == p.size();
        if (!first && !last)
          return fail(absl::StrCat(
              "'", std::string(1, p[pos]),
              "' anchors only at the pattern's start ('^') or end ('$'): "
              "the whole output always matches"));
        ++pos;
        continue;
      }
      int atom = parseAtom();
      atom = parseQuantifiers(atom);
      if (error)
        return -1;
      kids.push_back(atom);
    }
    if (kids.size() == 1)
      return kids[0];
    Node n;
    n.kind = kids.empty() ? Node::empty : Node::concat;
    n.kids = std::move(kids);
    return add(std::move(n));
  }

  /// {n}, {n,} or {n,m} at pos; nullopt (pos unchanged) when it is not one,
  /// and then '{' is a literal, as in Python and PCRE.
  std::optional<std::pair<int, int>> braces() {
    size_t i = pos + 1;
    auto number = [&](int &out) {
      size_t begin = i;
      int64_t v = 0;
      while (i < p.size() && p[i] >= '0' && p[i] <= '9' && i - begin < 9)
        v = v * 10 + (p[i++] - '0');
      out = static_cast<int>(v);
      return i > begin;
    };
    int lo = 0, hi = 0;
    if (!number(lo))
      return std::nullopt;
    if (i < p.size() && p[i] == '}') {
      pos = i + 1;
      return std::pair{lo, lo};
    }
    if (i >= p.size() || p[i] != ',')
      return std::nullopt;
    ++i;
    if (i < p.size() && p[i] == '}') {
      pos = i + 1;
      return std::pair{lo, -1};
    }
    if (!number(hi) || i >= p.size() || p[i] != '}')
      return std::nullopt;
    pos = i + 1;
    return std::pair{lo, hi};
  }

  int parseQuantifiers(int atom) {
    while (more()) {
      int lo = 0, hi = 0;
      char c = p[pos];
      if (c == '*' || c == '+' || c == '?') {
        ++pos;
        lo = c == '+' ? 1 : 0;
        hi = c == '?' ? 1 : -1;
      } else if (c == '{') {
        size_t at = pos;
        auto counts = braces();
        if (!counts)
          return atom;
        std::tie(lo, hi) = *counts;
        if ((hi >= 0 && lo > hi) || lo > kMaxRepeat || hi > kMaxRepeat) {
          pos = at;
          return fail(absl::StrCat("repeat counts must satisfy n <= m <= ",
                                   kMaxRepeat));
        }
      } else {
        return atom;
      }
      if (more() && p[pos] == '?')
        ++pos; // lazy: the same language
      else if (more() && p[pos] == '+')
        return fail("possessive quantifiers are not supported");
      Node n;
      n.kind = Node::repeat;
      n.kids = {atom};
      n.min = lo;
      n.max = hi;
      atom = add(std::move(n));
    }
    return atom;
  }

  /// After a backslash: a class escape's ranges, or one code point.
  std::optional<Ranges> escape() {
    if (pos >= p.size()) {
      fail("trailing backslash");
      return std::nullopt;
    }
    char c = p[pos];
    auto hex = [&](int digits) -> std::optional<uint32_t> {
      if (pos + digits > p.size())
        return std::nullopt;
      uint32_t v = 0;
      for (int i = 0; i < digits; ++i) {
        char h = p[pos + i];
        int d = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                       : -1;
        if (d < 0)
          return std::nullopt;
        v = v * 16 + d;
      }
      pos += digits;
      return v;
    };
    static const Ranges digit = {{'0', '9'}};
    static const Ranges word = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static const Ranges space = {{'\t', '\r'}, {' ', ' '}};
    ++pos;
    switch (c) {
    case 'd':
      return digit;
    case 'w':
      return word;
    case 's':
      return space;
    case 'D':
      return complement(digit);
    case 'W':
      return complement(word);
    case 'S':
      return complement(space);
    case 'n':
      return Ranges{{'\n', '\n'}};
    case 'r':
      return Ranges{{'\r', '\r'}};
    case 't':
      return Ranges{{'\t', '\t'}};
    case 'f':
      return Ranges{{'\f', '\f'}};
    case 'v':
      return Ranges{{'\v', '\v'}};
    case '0':
      return Ranges{{0, 0}};
    case 'x':
    case 'u': {
      auto v = hex(c == 'x' ? 2 : 4);
      if (!v || *v > kMaxCodePoint) {
        --pos;
        fail(absl::StrCat("'\\", std::string(1, c), "' needs ",
                          c == 'x' ? 2 : 4, " hex digits"));
        return std::nullopt;
      }
      return Ranges{{*v, *v}};
    }
    default:
      break;
    }
    --pos;
    if (c >= '1' && c <= '9') {
      fail("backreferences are not supported (not regular)");
      return std::nullopt;
    }
    if (c == 'b' || c == 'B' || c == 'A' || c == 'z' || c == 'Z' || c == 'G') {
      fail(absl::StrCat("'\\", std::string(1, c),
                        "' (a boundary or anchor) is not supported"));
      return std::nullopt;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      fail(absl::StrCat("unknown escape '\\", std::string(1, c), "'"));
      return std::nullopt;
    }
    uint32_t cp = codePoint();
    return Ranges{{cp, cp}};
  }

  int parseClass() {
    size_t open = pos++;
    bool negate = more() && p[pos] == '^';
    if (negate)
      ++pos;
    Ranges r;
    bool firstItem = true;
    while (true) {
      if (error)
        return -1;
      if (pos >= p.size()) {
        pos = open;
        return fail("unclosed '['");
      }
      if (p[pos] == ']' && !firstItem) {
        ++pos;
        break;
      }
      firstItem = false;
      // One item: a class escape, or a character that may start a range.
      std::optional<uint32_t> lo;
      if (p[pos] == '\\') {
        ++pos;
        auto e = escape();
        if (!e)
          return -1;
        if (e->size() == 1 && (*e)[0].first == (*e)[0].second)
          lo = (*e)[0].first;
        else {
          r.insert(r.end(), e->begin(), e->end());
          continue;
        }
      } else {
        lo = codePoint();
      }
      if (pos + 1 < p.size() && p[pos] == '-' && p[pos + 1] != ']') {
        ++pos;
        uint32_t hi = 0;
        if (p[pos] == '\\') {
          ++pos;
          auto e = escape();
          if (!e)
            return -1;
          if (e->size() != 1 || (*e)[0].first != (*e)[0].second)
            return fail("a class range cannot end in a class escape");
          hi = (*e)[0].first;
        } else {
          hi = codePoint();
        }
        if (hi < *lo)
          return fail("a class range runs backwards");
        r.push_back({*lo, hi});
      } else {
        r.push_back({*lo, *lo});
      }
    }
    Node n;
    n.kind = Node::set;
    n.ranges = negate ? complement(normalize(r)) : normalize(r);
    return add(std::move(n));
  }

  int parseAtom() {
    char c = p[pos];
    switch (c) {
    case '(': {
      size_t open = pos++;
      if (more() && p[pos] == '?') {
        if (pos + 1 < p.size() && p[pos + 1] == ':')
          pos += 2;
        else
          return fail("'(?' groups (lookaround, named groups, flags) are not "
                      "supported; use '(' or '(?:'");
      }
      int inner = parseAlt();
      if (error)
        return -1;
      if (pos >= p.size() || p[pos] != ')') {
        pos = open;
        return fail("unclosed '('");
      }
      ++pos;
      return inner;
    }
    case '[':
      return parseClass();
    case '.': {
      ++pos;
      Node n;
      n.kind = Node::set;
      n.ranges = complement({{'\n', '\n'}});
      return add(std::move(n));
    }
    case '\\': {
      ++pos;
      auto e = escape();
      if (!e)
        return -1;
      Node n;
      n.kind = Node::set;
      n.ranges = normalize(*e);
      return add(std::move(n));
    }
    case '*':
    case '+':
    case '?':
      return fail(
          absl::StrCat("'", std::string(1, c), "' has nothing to repeat"));
    case '{': {
      size_t at = pos;
      if (braces()) {
        pos = at;
        return fail("'{' has nothing to repeat");
      }
      ++pos;
      return single('{');
    }
    default:
      return single(codePoint());
    }
  }
};

/// A code point range as UTF-8 byte-range sequences: each sequence is the set
/// of byte strings whose k-th byte lies in its k-th range.
using ByteSeq = std::vector<std::pair<uint8_t, uint8_t>>;

int encodeUtf8(uint32_t c, uint8_t out[4]) {
  if (c < 0x80) {
    out[0] = static_cast<uint8_t>(c);
    return 1;
  }
  if (c < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (c >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (c >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xF0 | (c >> 18));
  out[1] = static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F));
  out[2] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
  out[3] = static_cast<uint8_t>(0x80 | (c & 0x3F));
  return 4;
}

void utf8Sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq> &out) {
  if (lo > hi)
    return;
  if (lo <= 0xDFFF && hi >= 0xD800) { // surrogates have no UTF-8 form
    if (lo < 0xD800)
      utf8Sequences(lo, 0xD7FF, out);
    if (hi > 0xDFFF)
      utf8Sequences(0xE000, hi, out);
    return;
  }
  for (uint32_t edge : {0x7Fu, 0x7FFu, 0xFFFFu})
    if (lo <= edge && hi > edge) {
      utf8Sequences(lo, edge, out);
      utf8Sequences(edge + 1, hi, out);
      return;
    }
  if (hi < 0x80) {
    out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  // Split until every continuation byte spans its full range or one value.
  for (int i = 1; i < 4; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8Sequences(lo, lo | m, out);
        utf8Sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8Sequences(lo, (hi & ~m) - 1, out);
        utf8Sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  int n = encodeUtf8(lo, a);
  encodeUtf8(hi, b);
  ByteSeq seq;
  for (int k = 0; k < n; ++k)
    seq.push_back({a[k], b[k]});
  out.push_back(std::move(seq));
}

struct Nfa {
  struct Edge {
    uint8_t lo, hi;
    int to;
  };
  struct State {
    std::vector<int> eps;
    std::vector<Edge> edges;
  };
  std::vector<State> states;
  const std::vector<Node> &nodes;
  bool tooLarge = false;

  explicit Nfa(const std::vector<Node> &nodes) : nodes(nodes) {}

  int add() {
    if (states.size() >= kMaxNfaStates) {
      tooLarge = true;
      return 0;
    }
    states.emplace_back();
    return static_cast<int>(states.size()) - 1;
  }
  void eps(int from, int to) {
    if (!tooLarge)
      states[from].eps.push_back(to);
  }

  /// Builds node `n` as a fragment; returns its (start, end).
  std::pair<int, int> build(int n) {
    const Node &node = nodes[n];
    int start = add();
    if (tooLarge)
      return {0, 0};
    switch (node.kind) {
    case Node::empty:
      return {start, start};
    case Node::set: {
      int end = add();
      std::vector<ByteSeq> seqs;
      for (auto [lo, hi] : node.ranges)
        utf8Sequences(lo, hi, seqs);
      for (const ByteSeq &seq : seqs) {
        int cur = start;
        for (size_t k = 0; k < seq.size() && !tooLarge; ++k) {
          int to = k + 1 == seq.size() ? end : add();
          if (tooLarge)
            break;
          states[cur].edges.push_back({seq[k].first, seq[k].second, to});
          cur = to;
        }
      }
      return {start, end};
    }
    case Node::concat: {
      int cur = start;
      for (int kid : node.kids) {
        auto [s, e] = build(kid);
        eps(cur, s);
        cur = e;
      }
      return {start, cur};
    }
    case Node::alt: {
      int end = add();
      for (int kid : node.kids) {
        auto [s, e] = build(kid);
        eps(start, s);
        eps(e, end);
      }
      return {start, end};
    }
    case Node::repeat: {
      int cur = start;
      for (int i = 0; i < node.min && !tooLarge; ++i) {
        auto [s, e] = build(node.kids[0]);
        eps(cur, s);
        cur = e;
      }
      int end = add();
      if (node.max < 0) {
        auto [s, e] = build(node.kids[0]);
        eps(cur, s);
        eps(e, cur);
        eps(cur, end);
        return {start, end};
      }
      for (int i = node.min; i < node.max && !tooLarge; ++i) {
        eps(cur, end);
        auto [s, e] = build(node.kids[0]);
        eps(cur, s);
        cur = e;
      }
      eps(cur, end);
      return {start, end};
    }
    }
    return {start, start};
  }

  /// Generation marks, so that a closure costs its own size and not the
  /// NFA's.
  std::vector<uint32_t> mark;
  uint32_t generation = 0;

  std::vector<int> closure(const std::vector<int> &set) {
    if (mark.size() != states.size())
      mark.assign(states.size(), 0);
    ++generation;
    std::vector<int> stack, out;
    for (int s : set)
      if (mark[s] != generation) {
        mark[s] = generation;
        stack.push_back(s);
      }
    while (!stack.empty()) {
      int s = stack.back();
      stack.pop_back();
      out.push_back(s);
      for (int t : states[s].eps)
        if (mark[t] != generation) {
          mark[t] = generation;
          stack.push_back(t);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

} // namespace

std::string escapeRegex(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\.^$|?*+()[]{}-/").find(c) != std::string_view::npos)
      out += '\\';
    out += c;
  }
  return out;
}

absl::StatusOr<ByteDfa> compileRegex(std::string_view pattern) {
  if (tokenizer::findInvalidUtf8(pattern) != std::string_view::npos)
    return absl::InvalidArgumentError("regex: the pattern is not valid UTF-8");
  Parser parser(pattern);
  int root = parser.parse();
  if (parser.error)
    return *parser.error;

  Nfa nfa(parser.nodes);
  auto [nfaStart, nfaEnd] = nfa.build(root);
  if (nfa.tooLarge)
    return absl::InvalidArgumentError(
        absl::StrCat("regex: the pattern needs more than ", kMaxNfaStates,
                     " automaton states (nested or large repeat counts)"));

  // Subset construction; each DFA state is a sorted set of NFA states.
  std::map<std::vector<int>, int32_t> ids;
  std::vector<std::vector<int>> sets;
  std::vector<int32_t> next;
  auto intern = [&](std::vector<int> set) -> int32_t {
    auto [it, added] = ids.emplace(set, static_cast<int32_t>(sets.size()));
    if (added) {
      sets.push_back(std::move(set));
      next.resize(sets.size() * 256, ByteDfa::kDead);
    }
    return it->second;
  };
  intern(nfa.closure({nfaStart}));
  for (size_t d = 0; d < sets.size(); ++d) {
    if (sets.size() > static_cast<size_t>(kMaxDfaStates))
      return absl::InvalidArgumentError(
          absl::StrCat("regex: the pattern needs more than ", kMaxDfaStates,
                       " automaton states"));
    std::vector<const Nfa::Edge *> edges;
    std::vector<int> cuts = {0, 256};
    for (int s : sets[d])
      for (const Nfa::Edge &e : nfa.states[s].edges) {
        edges.push_back(&e);
        cuts.push_back(e.lo);
        cuts.push_back(e.hi + 1);
      }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t k = 0; k + 1 < cuts.size(); ++k) {
      int b = cuts[k];
      std::vector<int> targets;
      for (const Nfa::Edge *e : edges)
        if (e->lo <= b && b <= e->hi)
          targets.push_back(e->to);
      if (targets.empty())
        continue;
      int32_t to = intern(nfa.closure(targets));
      for (int x = b; x < cuts[k + 1]; ++x)
        next[d * 256 + x] = to;
    }
  }

  // Keep the states from which acceptance is reachable.
  int32_t n = static_cast<int32_t>(sets.size());
  std::vector<std::vector<int32_t>> from(n);
  std::vector<bool> live(n, false);
  std::vector<int32_t> stack;
  for (int32_t d = 0; d < n; ++d) {
    for (int b = 0; b < 256; ++b)
      if (int32_t t = next[d * 256 + b]; t != ByteDfa::kDead)
        from[t].push_back(d);
    if (std::binary_search(sets[d].begin(), sets[d].end(), nfaEnd)) {
      live[d] = true;
      stack.push_back(d);
    }
  }
  while (!stack.empty()) {
    int32_t t = stack.back();
    stack.pop_back();
    for (int32_t d : from[t])
      if (!live[d]) {
        live[d] = true;
        stack.push_back(d);
      }
  }
  if (!live[0])
    return absl::InvalidArgumentError("regex: the pattern matches no text");
  std::vector<int32_t> renumber(n, ByteDfa::kDead);
  int32_t kept = 0;
  for (int32_t d = 0; d < n; ++d)
    if (live[d])
      renumber[d] = kept++;
  ByteDfa dfa;
  dfa.next.assign(static_cast<size_t>(kept) * 256, ByteDfa::kDead);
  dfa.accepting.assign(kept, false);
  dfa.continues.assign(kept, false);
  for (int32_t d = 0; d < n; ++d) {
    if (!live[d])
      continue;
    int32_t r = renumber[d];
    dfa.accepting[r] =
        std::binary_search(sets[d].begin(), sets[d].end(), nfaEnd);
    for (int b = 0; b < 256; ++b) {
      int32_t t = next[d * 256 + b];
      int32_t to = t == ByteDfa::kDead ? ByteDfa::kDead : renumber[t];
      dfa.next[static_cast<size_t>(r) * 256 + b] = to;
      if (to != ByteDfa::kDead)
        dfa.continues[r] = true;
    }
  }
  dfa.start = renumber[0];
  return dfa;
}

} // namespace kiln::serving
