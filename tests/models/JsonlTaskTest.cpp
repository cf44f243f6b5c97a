//===- JsonlTaskTest.cpp - prompts and answers from a JSONL file ----------===//
//
// A good file reads into both splits with its fields; every kind of bad line
// is an error naming the file and the line; each reward kind grades
// completions against the line's answer; training passes visit every line.
//
//===----------------------------------------------------------------------===//

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "models/tasks/JsonlTask.h"
#include "models/tasks/Rewards.h"

#include "gtest/gtest.h"

namespace kiln::models::tasks {
namespace {

/// `n` integer lines "What is i + 1?" -> i + 1.
std::string integerLines(int n) {
  std::string text;
  for (int i = 0; i < n; ++i)
    text +=
        "{\"question\": \"What is " + std::to_string(i) +
        " + 1?\", \"solution\": " +
        (i % 2 ? std::to_string(i + 1) : "\"" + std::to_string(i + 1) + "\"") +
        "}\n";
  return text;
}

JsonlOptions integerOptions() {
  JsonlOptions o;
  o.promptField = "question";
  o.answerField = "solution";
  o.evalFraction = 0.25;
  return o;
}

std::string parseError(const std::string &text, JsonlOptions options) {
  auto task = JsonlTask::parse(text, "data.jsonl", std::move(options));
  EXPECT_FALSE(task.ok()) << "parsed:\n" << text;
  return task.ok() ? "" : std::string(task.status().message());
}

TEST(JsonlTask, GoodFileReadsBothSplits) {
  std::string path = testing::TempDir() + "/kiln-jsonl-good.jsonl";
  // CRLF line ends and blank lines are tolerated.
  std::string text = integerLines(40);
  text.insert(0, "\r\n\n");
  std::ofstream(path, std::ios::binary) << text;
  auto task = JsonlTask::fromFile(path, integerOptions());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->size(Split::kTrain) + task->size(Split::kEval), 40u);
  EXPECT_GT(task->size(Split::kEval), 0u);
  EXPECT_GT(task->size(Split::kTrain), task->size(Split::kEval));
  std::set<std::string> train, eval;
  for (uint64_t i = 0; i < task->size(Split::kTrain); ++i) {
    Problem p = task->generate(3, i);
    EXPECT_EQ(p.task, "integer");
    EXPECT_EQ(p.prompt, p.question);
    EXPECT_EQ(p.answer, std::to_string(p.target));
    // "What is i + 1?" -> i + 1
    int64_t i0 = std::stoll(p.question.substr(8));
    EXPECT_EQ(p.target, i0 + 1) << p.question;
    train.insert(p.question);
  }
  // One training pass visits every training line once.
  EXPECT_EQ(train.size(), task->size(Split::kTrain));
  for (uint64_t i = 0; i < task->size(Split::kEval); ++i)
    eval.insert(task->generate(3, i, Split::kEval).question);
  EXPECT_EQ(eval.size(), task->size(Split::kEval));
  for (const std::string &q : eval)
    EXPECT_EQ(train.count(q), 0u) << q << " is in both splits";
  // Pure: the same index gives the same problem; passes reshuffle.
  EXPECT_EQ(task->generate(3, 5).question, task->generate(3, 5).question);
  std::vector<std::string> first, second;
  for (uint64_t i = 0; i < task->size(Split::kTrain); ++i) {
    first.push_back(task->generate(3, i).question);
    second.push_back(task->generate(3, i + task->size(Split::kTrain)).question);
  }
  EXPECT_NE(first, second);

  // A template wraps the question into the prompt.
  JsonlOptions templated = integerOptions();
  templated.prompt = PromptTemplate::bare();
  auto wrapped = JsonlTask::parse(integerLines(40), "data.jsonl", templated);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  Problem p = wrapped->generate(1, 0);
  EXPECT_EQ(p.prompt, "Q: " + p.question + "\nA: ");
}

TEST(JsonlTask, PermutationVisitsEveryIndex) {
  for (uint64_t n : {1u, 2u, 3u, 5u, 16u, 17u, 100u, 1000u}) {
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t j = permutedIndex(i, n, 42);
      EXPECT_LT(j, n);
      seen.insert(j);
    }
    EXPECT_EQ(seen.size(), n) << "n = " << n;
  }
}

TEST(JsonlTask, BadLinesNameTheLine) {
  std::string good = integerLines(3);
  auto withLine = [&](const std::string &bad) {
    return good + bad + "\n" + integerLines(2);
  };
  JsonlOptions o = integerOptions();
  struct Case {
    std::string line, message;
  } cases[] = {
      {"{\"question\": \"x\", ", "data.jsonl:4: not valid JSON"},
      {"[1, 2]", "data.jsonl:4: expected a JSON object, got an array"},
      {"{\"solution\": 3}", "data.jsonl:4: missing field \"question\""},
      {"{\"question\": \"q\"}", "data.jsonl:4: missing field \"solution\""},
      {"{\"question\": 7, \"solution\": 3}",
       "data.jsonl:4: field \"question\" is a number (7); expected a string"},
      {"{\"question\": \"q\", \"solution\": [3]}",
       "data.jsonl:4: field \"solution\" is an array ([3]); expected an "
       "integer or a string holding one"},
      {"{\"question\": \"q\", \"solution\": \"3.5\"}",
       "data.jsonl:4: field \"solution\" is \"3.5\", not an integer"},
      {"{\"question\": \"q\", \"solution\": 1.5}",
       "data.jsonl:4: field \"solution\" is a number (1.5)"},
      {"{\"question\": \"\", \"solution\": 1}",
       "data.jsonl:4: field \"question\" is empty"},
      {"{\"question\": \"q\", \"question\": \"r\", \"solution\": 1}",
       "data.jsonl:4: key \"question\" appears twice"},
      {"{\"question\": \"\xff\", \"solution\": 1}",
       "data.jsonl:4: not valid JSON"},
      {"{\"question\": \"q\", \"solution\": 18446744073709551615}",
       "data.jsonl:4: field \"solution\""},
  };
  for (const Case &c : cases) {
    std::string message = parseError(withLine(c.line), o);
    EXPECT_EQ(message.rfind(c.message, 0), 0u)
        << "line " << c.line << "\n got: " << message;
  }

  JsonlOptions countdown;
  countdown.reward = JsonlReward::kCountdown;
  std::string cdGood = "{\"prompt\": \"a\", \"nums\": [1, 2], \"target\": 3}\n"
                       "{\"prompt\": \"b\", \"nums\": [2, 2], \"target\": 4}\n";
  EXPECT_EQ(parseError(cdGood + "{\"prompt\": \"c\", \"nums\": [1, \"2\"], "
                                "\"target\": 3}",
                       countdown)
                .rfind("data.jsonl:3: field \"nums\" is an array", 0),
            0u);
  EXPECT_EQ(parseError(cdGood + "{\"prompt\": \"c\", \"nums\": [], "
                                "\"target\": 3}",
                       countdown)
                .rfind("data.jsonl:3: field \"nums\"", 0),
            0u);
  EXPECT_EQ(parseError(cdGood + "{\"prompt\": \"c\", \"nums\": [1]}", countdown)
                .rfind("data.jsonl:3: missing field \"target\"", 0),
            0u);
  EXPECT_EQ(parseError(cdGood + "{\"prompt\": \"c\", \"nums\": [1], "
                                "\"target\": \"3\"}",
                       countdown)
                .rfind("data.jsonl:3: field \"target\" is a string", 0),
            0u);

  JsonlOptions demo = integerOptions();
  demo.demonstrationField = "demo";
  EXPECT_EQ(parseError("{\"question\": \"q\", \"solution\": 1}\n", demo)
                .rfind("data.jsonl:1: missing field \"demo\"", 0),
            0u);

  // Whole-file problems name the file.
  EXPECT_EQ(parseError("\n\n", o).rfind("data.jsonl: holds no problems", 0),
            0u);
  EXPECT_EQ(parseError(integerLines(1), o).rfind("data.jsonl: all 1", 0), 0u);
  auto missing = JsonlTask::fromFile("/nonexistent/kiln.jsonl", o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/kiln.jsonl"),
            std::string::npos);
}

/// The line's problem graded by the registry's reward of its kind.
RewardBreakdown grade(const std::string &line, JsonlReward reward,
                      const std::string &completion) {
  JsonlOptions o;
  o.reward = reward;
  o.evalFraction = 0.5;
  // Enough distinct lines that both splits fill; the graded one is first.
  std::string text = line + "\n";
  for (int i = 0; i < 20; ++i)
    text += "{\"prompt\": \"filler " + std::to_string(i) +
            "\", \"answer\": \"1\", \"nums\": [1], \"target\": 1}\n";
  auto task = JsonlTask::parse(text, "data.jsonl", o);
  EXPECT_TRUE(task.ok()) << task.status();
  Problem problem;
  bool found = false;
  for (Split split : {Split::kTrain, Split::kEval})
    for (uint64_t i = 0; i < task->size(split); ++i) {
      Problem p = task->generate(1, i, split);
      if (p.question.rfind("filler", 0) != 0) {
        problem = p;
        found = true;
      }
    }
  EXPECT_TRUE(found);
  auto registry = defaultRewardRegistry();
  EXPECT_TRUE(registry.ok());
  auto fn = registry->find(problem.task);
  EXPECT_TRUE(fn.ok()) << fn.status();
  return (*fn)(problem, completion);
}

TEST(JsonlTask, EachRewardKindGrades) {
  const std::string integer = "{\"prompt\": \"17 + 25?\", \"answer\": \"42\"}";
  EXPECT_EQ(grade(integer, JsonlReward::kInteger,
                  "<think>17 and 25</think><answer>42</answer>")
                .accuracy,
            1.0);
  EXPECT_EQ(grade(integer, JsonlReward::kInteger,
                  "<think>x</think><answer>042</answer>")
                .accuracy,
            0.0);
  EXPECT_EQ(grade(integer, JsonlReward::kInteger,
                  "<think>x</think><answer>41</answer>")
                .accuracy,
            0.0);

  const std::string exact =
      "{\"prompt\": \"Capital of France?\", \"answer\": \" Paris\"}";
  RewardBreakdown paris =
      grade(exact, JsonlReward::kExact,
            "<think>France</think><answer>Paris\n</answer>");
  EXPECT_EQ(paris.accuracy, 1.0);
  EXPECT_EQ(paris.format, 1.0);
  EXPECT_EQ(grade(exact, JsonlReward::kExact,
                  "<think>x</think><answer>paris</answer>")
                .accuracy,
            0.0);

  const std::string countdown =
      "{\"prompt\": \"Reach 24 with 4 6 8 2\", \"nums\": [4, 6, 8, 2], "
      "\"target\": 24}";
  auto countdownAccuracy = [&](const std::string &answer) {
    return grade(countdown, JsonlReward::kCountdown,
                 "<think>try</think><answer>" + answer + "</answer>")
        .accuracy;
  };
  EXPECT_EQ(countdownAccuracy("4 * 8 - 6 - 2"), 1.0);
  EXPECT_EQ(countdownAccuracy("(8 - 4) * 6"), 0.0) << "2 left unused";
  EXPECT_EQ(countdownAccuracy("4 * 6 * (8 / 8)"), 0.0) << "8 used twice";
  EXPECT_EQ(countdownAccuracy("4 * 8 - 6 + 2"), 0.0) << "28";
}

TEST(JsonlTask, RewardNames) {
  for (JsonlReward r :
       {JsonlReward::kInteger, JsonlReward::kExact, JsonlReward::kCountdown}) {
    auto parsed = parseJsonlReward(jsonlRewardName(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r);
  }
  auto bad = parseJsonlReward("regex");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"regex\""), std::string::npos);
}

} // namespace
} // namespace kiln::models::tasks
