//===- TasksTest.cpp - arithmetic and Countdown generators ----------------===//
//
// Generators are pure functions of (seed, index, split); evaluation problems
// never appear in training; demonstrations work the answer out correctly;
// bad configs are errors that name the values.
//
//===----------------------------------------------------------------------===//

#include <set>
#include <string>

#include "models/tasks/ArithmeticTask.h"
#include "models/tasks/CountdownExpression.h"
#include "models/tasks/CountdownSolver.h"
#include "models/tasks/CountdownTask.h"
#include "models/tasks/IntegerAnswer.h"

#include "gtest/gtest.h"

namespace kiln::models::tasks {
namespace {

bool sameProblem(const Problem &a, const Problem &b) {
  return a.task == b.task && a.question == b.question && a.prompt == b.prompt &&
         a.answer == b.answer && a.demonstration == b.demonstration &&
         a.numbers == b.numbers && a.target == b.target &&
         a.canonicalKey == b.canonicalKey;
}

ArithmeticTask arithmetic(ArithmeticConfig config = {}) {
  auto task = ArithmeticTask::create(std::move(config));
  EXPECT_TRUE(task.ok()) << task.status();
  return *task;
}

CountdownTask countdown(CountdownConfig config = {}) {
  auto task = CountdownTask::create(std::move(config));
  EXPECT_TRUE(task.ok()) << task.status();
  return *task;
}

/// The demonstration's think and answer parts.
std::pair<std::string, std::string> split(const std::string &demo) {
  size_t thinkEnd = demo.find("</think><answer>");
  EXPECT_EQ(demo.rfind("<think>", 0), 0u) << demo;
  EXPECT_NE(thinkEnd, std::string::npos) << demo;
  EXPECT_EQ(demo.substr(demo.size() - 9), "</answer>") << demo;
  return {demo.substr(7, thinkEnd - 7),
          demo.substr(thinkEnd + 16, demo.size() - thinkEnd - 16 - 9)};
}

TEST(ArithmeticTaskTest, WorkedSolutionsAreCompactAndRight) {
  EXPECT_EQ(arithmeticWorking(478, '+', 365),
            "8+5=13, 7+6+1=14, 4+3+1=8, so 843");
  EXPECT_EQ(arithmeticWorking(99, '+', 1), "9+1=10, 9+0+1=10, so 100");
  EXPECT_EQ(arithmeticWorking(432, '-', 178),
            "12-8=4, 13-7-1=5, 4-1-1=2, so 254");
  EXPECT_EQ(arithmeticWorking(1000, '-', 999),
            "10-9=1, 10-9-1=0, 10-9-1=0, 1-0-1=0, so 1");
  EXPECT_EQ(arithmeticWorking(45, '-', 123),
            "-(123-45): 13-5=8, 12-4-1=7, 1-0-1=0, so -78");
  EXPECT_EQ(arithmeticWorking(478, '*', 365),
            "478*5=2390, 478*60=28680, 478*300=143400, "
            "2390+28680+143400=174470, so 174470");
  EXPECT_EQ(arithmeticWorking(12, '*', 30), "12*30=360, so 360");
}

TEST(ArithmeticTaskTest, ProblemHasPromptAnswerAndDemonstration) {
  Problem p = arithmetic().make(123, '+', 45);
  EXPECT_EQ(p.task, "arithmetic");
  EXPECT_EQ(p.question, "123+45=?");
  EXPECT_EQ(p.prompt, "Think in <think></think>, answer in <answer></answer>.\n"
                      "Q: 123+45=?\nA: ");
  EXPECT_EQ(p.answer, "168");
  EXPECT_EQ(p.target, 168);
  EXPECT_EQ(p.demonstration,
            "<think>3+5=8, 2+4=6, 1+0=1, so 168</think><answer>168</answer>");
  // a+b and b+a are one problem for the split; a-b and b-a are not.
  EXPECT_EQ(p.canonicalKey, arithmetic().make(45, '+', 123).canonicalKey);
  EXPECT_NE(arithmetic().make(45, '-', 123).canonicalKey,
            arithmetic().make(123, '-', 45).canonicalKey);
}

TEST(ArithmeticTaskTest, GeneratedProblemsFollowTheConfig) {
  ArithmeticConfig config;
  config.minDigits = 2;
  config.maxDigits = 3;
  config.ops = "-*";
  config.allowNegative = false;
  ArithmeticTask task = arithmetic(config);
  std::set<char> opsSeen;
  for (uint64_t i = 0; i < 2000; ++i) {
    Problem p = task.generate(7, i);
    ASSERT_EQ(p.numbers.size(), 2u);
    int64_t a = p.numbers[0], b = p.numbers[1];
    for (int64_t v : {a, b}) {
      EXPECT_GE(v, 10);
      EXPECT_LE(v, 999);
    }
    char op = p.question[std::to_string(a).size()];
    opsSeen.insert(op);
    ASSERT_TRUE(op == '-' || op == '*') << p.question;
    EXPECT_EQ(p.target, op == '-' ? a - b : a * b);
    EXPECT_GE(p.target, 0) << p.question;
    auto [think, answer] = split(p.demonstration);
    EXPECT_EQ(answer, p.answer);
    EXPECT_EQ(*parseIntegerAnswer(answer), p.target);
    EXPECT_EQ(think.substr(think.rfind(" ") + 1), p.answer) << think;
  }
  EXPECT_EQ(opsSeen, (std::set<char>{'-', '*'}));
}

TEST(ArithmeticTaskTest, LargestOperandsFitInInt64) {
  ArithmeticConfig config;
  config.minDigits = config.maxDigits = 9;
  config.ops = "*";
  Problem p = arithmetic(config).make(999999999, '*', 999999999);
  EXPECT_EQ(p.answer, "999999998000000001");
  EXPECT_EQ(split(p.demonstration).second, p.answer);
}

TEST(ArithmeticTaskTest, GenerationIsDeterministic) {
  ArithmeticTask a = arithmetic(), b = arithmetic();
  int differentFromOtherSeed = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    for (Split s : {Split::kTrain, Split::kEval})
      EXPECT_TRUE(sameProblem(a.generate(42, i, s), b.generate(42, i, s)));
    differentFromOtherSeed +=
        a.generate(42, i).question != a.generate(43, i).question;
  }
  EXPECT_GT(differentFromOtherSeed, 190);
  // Pinned, so a change to the draws (which would reshuffle every split and
  // every recorded run) is a visible decision.
  EXPECT_EQ(a.generate(0, 0).question, "67-32=?");
}

TEST(ArithmeticTaskTest, HeldOutSplitNeverOverlapsTraining) {
  ArithmeticTask task = arithmetic();
  std::set<std::string> train, eval;
  for (uint64_t i = 0; i < 10000; ++i) {
    train.insert(task.generate(1, i, Split::kTrain).canonicalKey);
    // A different seed too: the split does not depend on it.
    eval.insert(task.generate(2, i, Split::kEval).canonicalKey);
  }
  for (const std::string &key : eval)
    ASSERT_EQ(train.count(key), 0u) << key;
  for (const std::string &key : train)
    EXPECT_EQ(splitOf(key, 0.1), Split::kTrain);
  // Both splits are rich, not a handful of repeats (the evaluation split
  // is a tenth of the space, so its small-operand corner repeats more).
  EXPECT_GT(train.size(), 9500u);
  EXPECT_GT(eval.size(), 9000u);
}

TEST(ArithmeticTaskTest, BadConfigsAreErrors) {
  auto expectError = [](ArithmeticConfig c, std::string_view mention) {
    auto task = ArithmeticTask::create(c);
    ASSERT_FALSE(task.ok());
    EXPECT_NE(std::string(task.status().message()).find(mention),
              std::string::npos)
        << task.status();
  };
  ArithmeticConfig c;
  c.maxDigits = 10;
  expectError(c, "2..10");
  c = {};
  c.minDigits = 3;
  c.maxDigits = 2;
  expectError(c, "3..2");
  c = {};
  c.ops = "+/";
  expectError(c, "\"+/\"");
  c = {};
  c.ops = "";
  expectError(c, "non-empty");
  c = {};
  c.evalFraction = 0.0;
  expectError(c, "evalFraction");
  c = {};
  c.prompt.text = "no slot";
  expectError(c, "{question}");
}

TEST(PromptTemplateTest, PresetsAndRendering) {
  EXPECT_TRUE(PromptTemplate::r1Zero().validate().ok());
  EXPECT_TRUE(PromptTemplate::compact().validate().ok());
  EXPECT_TRUE(PromptTemplate::bare().validate().ok());
  EXPECT_NE(
      PromptTemplate::r1Zero().render("1+1=?").find("User: 1+1=?. Assistant:"),
      std::string::npos);
  EXPECT_EQ(PromptTemplate::bare().render("1+1=?"), "Q: 1+1=?\nA: ");
  // Short enough for a tiny model's context.
  EXPECT_LT(PromptTemplate::compact().text.size(), 80u);
  EXPECT_FALSE(PromptTemplate{"{question} {question}"}.validate().ok());
}

TEST(CountdownSolverTest, FindsSolutionsUnderClassicRules) {
  auto values = countdownValuesUsingAll({25, 4, 3, 1});
  ASSERT_TRUE(values.count(98));
  EXPECT_TRUE(
      checkCountdownAnswer(values[98].expression, {25, 4, 3, 1}, 98).ok())
      << values[98].expression;
  EXPECT_EQ(values[98].steps.size(), 3u);
  for (const auto &[value, solution] : values) {
    EXPECT_GT(value, 0);
    EXPECT_TRUE(
        checkCountdownAnswer(solution.expression, {25, 4, 3, 1}, value).ok())
        << solution.expression << " for " << value;
  }
  // Fewest numbers first.
  auto two = solveCountdown({7, 50, 3, 2}, 100);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->steps.size(), 1u);
  EXPECT_EQ(two->expression, "50*2");
  EXPECT_FALSE(solveCountdown({2, 2}, 7).has_value());
}

TEST(CountdownTaskTest, GeneratedProblemsAreSolvableWithinBounds) {
  CountdownTask task = countdown();
  for (uint64_t i = 0; i < 300; ++i) {
    Problem p = task.generate(5, i, i % 2 ? Split::kEval : Split::kTrain);
    EXPECT_EQ(p.task, "countdown");
    EXPECT_GE(p.numbers.size(), 3u);
    EXPECT_LE(p.numbers.size(), 4u);
    for (int64_t n : p.numbers) {
      EXPECT_GE(n, 1);
      EXPECT_LE(n, 99);
      EXPECT_NE(n, p.target);
    }
    EXPECT_GE(p.target, 1);
    EXPECT_LE(p.target, 100);
    auto [think, answer] = split(p.demonstration);
    EXPECT_EQ(answer, p.answer);
    EXPECT_TRUE(checkCountdownAnswer(answer, p.numbers, p.target).ok())
        << p.question << ": " << answer;
    // One step per number after the first: the reference uses them all.
    EXPECT_EQ(std::count(think.begin(), think.end(), '='),
              static_cast<long>(p.numbers.size()) - 1)
        << think;
    EXPECT_NE(p.prompt.find(p.question), std::string::npos);
  }
}

TEST(CountdownTaskTest, ProblemText) {
  auto p = countdown().make({25, 4, 3, 1}, 98);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->question, "Use 25 4 3 1 to make 98");
  EXPECT_EQ(p->canonicalKey, "1,3,4,25");
  EXPECT_TRUE(checkCountdownAnswer(p->answer, p->numbers, 98).ok());
  EXPECT_FALSE(countdown().make({2, 2}, 7).has_value());
  // 50*2 reaches 100 with two of the numbers; the demonstration uses all.
  auto all = countdown().make({7, 50, 3, 2}, 100);
  ASSERT_TRUE(all.has_value());
  EXPECT_TRUE(checkCountdownAnswer(all->answer, all->numbers, 100).ok())
      << all->answer;
  CountdownConfig config;
  config.allowSubset = true;
  auto fewest = CountdownTask::create(config)->make({7, 50, 3, 2}, 100);
  ASSERT_TRUE(fewest.has_value());
  EXPECT_EQ(fewest->answer, "50*2");
  // 5 is one of the numbers; no expression using both 5 and 7 makes it.
  EXPECT_FALSE(countdown().make({5, 7}, 5).has_value());
}

TEST(CountdownTaskTest, GenerationIsDeterministic) {
  CountdownTask a = countdown(), b = countdown();
  for (uint64_t i = 0; i < 100; ++i)
    for (Split s : {Split::kTrain, Split::kEval})
      EXPECT_TRUE(sameProblem(a.generate(9, i, s), b.generate(9, i, s)));
  EXPECT_EQ(a.generate(0, 0).question, "Use 28 49 40 to make 19");
}

TEST(CountdownTaskTest, HeldOutSplitNeverOverlapsTraining) {
  CountdownTask task = countdown();
  std::set<std::string> train, eval;
  for (uint64_t i = 0; i < 10000; ++i) {
    train.insert(task.generate(1, i, Split::kTrain).canonicalKey);
    eval.insert(task.generate(2, i, Split::kEval).canonicalKey);
  }
  for (const std::string &key : eval)
    ASSERT_EQ(train.count(key), 0u) << key;
  EXPECT_GT(train.size(), 5000u);
  EXPECT_GT(eval.size(), 5000u);
}

TEST(CountdownTaskTest, BadConfigsAreErrors) {
  CountdownConfig c;
  c.maxCount = 6;
  EXPECT_FALSE(CountdownTask::create(c).ok());
  c = {};
  c.minNumber = 0;
  EXPECT_FALSE(CountdownTask::create(c).ok());
  c = {};
  c.evalFraction = 1.0;
  EXPECT_FALSE(CountdownTask::create(c).ok());
  // No three numbers from 1..2 reach 1000: an error, not an endless search.
  c = {};
  c.minCount = c.maxCount = 3;
  c.maxNumber = 2;
  c.minTarget = c.maxTarget = 1000;
  auto task = CountdownTask::create(c);
  ASSERT_FALSE(task.ok());
  EXPECT_NE(task.status().message().find("1000..1000"), std::string::npos)
      << task.status();
}

TEST(SplitTest, FractionIsHonouredAndHashIsStable) {
  int eval = 0;
  for (int i = 0; i < 100000; ++i)
    eval += splitOf(std::to_string(i), 0.1) == Split::kEval;
  EXPECT_NEAR(eval / 100000.0, 0.1, 0.005);
  // Fixed forever: every split depends on it.
  EXPECT_EQ(stableHash("12+34"), 17191031534992455147ULL);
  EXPECT_NE(stableHash("12+34"), stableHash("12+35"));
  std::mt19937_64 rng(1);
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    int64_t v = uniformInt(rng, -3, 3);
    EXPECT_GE(v, -3);
    EXPECT_LE(v, 3);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
}

} // namespace
} // namespace kiln::models::tasks
