//===- RewardsTest.cpp - rewards against adversarial output ---------------===//
//
// Demonstrations earn full reward; every way a policy might game or break
// the checker (missing or repeated tags, stray text, odd number spellings,
// overflow, division by zero, reused or foreign numbers) earns no accuracy.
//
//===----------------------------------------------------------------------===//

#include <limits>
#include <string>

#include "models/tasks/ArithmeticTask.h"
#include "models/tasks/CompletionFormat.h"
#include "models/tasks/CountdownExpression.h"
#include "models/tasks/CountdownTask.h"
#include "models/tasks/IntegerAnswer.h"
#include "models/tasks/Rational.h"
#include "models/tasks/Rewards.h"

#include "gtest/gtest.h"

namespace kiln::models::tasks {
namespace {

Problem arithmeticProblem(int64_t a, char op, int64_t b) {
  return ArithmeticTask::create({})->make(a, op, b);
}

Problem countdownProblem(std::vector<int64_t> numbers, int64_t target) {
  Problem p;
  p.task = "countdown";
  p.numbers = std::move(numbers);
  p.target = target;
  return p;
}

std::string wrapAnswer(std::string_view answer) {
  return "<think>ok</think><answer>" + std::string(answer) + "</answer>";
}

/// Reward options that accept answers using a subset of the numbers.
RewardOptions subsets() {
  RewardOptions options;
  options.countdownAllowSubset = true;
  return options;
}

double accuracy(const RewardFn &fn, const Problem &p, std::string_view c) {
  return fn(p, c).accuracy;
}
double format(std::string_view completion, FormatOptions o = {}) {
  return checkFormat(completion, o).ok() ? 1.0 : 0.0;
}

TEST(RewardsTest, DemonstrationsEarnFullReward) {
  auto registry = defaultRewardRegistry();
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto arithmetic = ArithmeticTask::create({});
  auto countdown = CountdownTask::create({});
  ASSERT_TRUE(arithmetic.ok() && countdown.ok());
  for (uint64_t i = 0; i < 500; ++i) {
    for (const Task *task : {static_cast<const Task *>(&*arithmetic),
                             static_cast<const Task *>(&*countdown)}) {
      Problem p = task->generate(3, i, i % 3 ? Split::kTrain : Split::kEval);
      auto reward = registry->find(p.task);
      ASSERT_TRUE(reward.ok()) << reward.status();
      RewardBreakdown r = (*reward)(p, p.demonstration);
      EXPECT_EQ(r.accuracy, 1.0) << p.question << " " << p.demonstration;
      EXPECT_EQ(r.format, 1.0) << p.demonstration;
      EXPECT_DOUBLE_EQ(r.total, 1.1);
    }
  }
}

TEST(RewardsTest, WeightsAndGating) {
  Problem p = arithmeticProblem(12, '+', 30);
  RewardOptions o;
  o.accuracyWeight = 2.0;
  o.formatWeight = 0.5;
  RewardBreakdown r =
      arithmeticReward(o)(p, "<think></think><answer>42</answer>");
  EXPECT_EQ(r.accuracy, 1.0);
  EXPECT_EQ(r.format, 1.0);
  EXPECT_DOUBLE_EQ(r.total, 2.5);
  // Right answer, stray text after: accuracy counts unless gated on format.
  std::string sloppy = "<think></think><answer>42</answer> done";
  r = arithmeticReward(o)(p, sloppy);
  EXPECT_EQ(r.accuracy, 1.0);
  EXPECT_EQ(r.format, 0.0);
  EXPECT_DOUBLE_EQ(r.total, 2.0);
  o.accuracyRequiresFormat = true;
  r = arithmeticReward(o)(p, sloppy);
  EXPECT_EQ(r.accuracy, 0.0);
  EXPECT_EQ(r.total, 0.0);
  // Wrong answer, good format: only the format weight.
  r = arithmeticReward()(p, "<think></think><answer>41</answer>");
  EXPECT_EQ(r.accuracy, 0.0);
  EXPECT_DOUBLE_EQ(r.total, 0.1);
}

TEST(RewardsTest, FormatOnlyNeverRewardsAccuracy) {
  Problem p = arithmeticProblem(12, '+', 30);
  RewardBreakdown r = formatOnlyReward()(p, p.demonstration);
  EXPECT_EQ(r.accuracy, 0.0);
  EXPECT_EQ(r.format, 1.0);
  EXPECT_DOUBLE_EQ(r.total, 0.1);
}

TEST(RewardsTest, RegistryByName) {
  auto registry = defaultRewardRegistry();
  ASSERT_TRUE(registry.ok());
  EXPECT_EQ(registry->names(),
            (std::vector<std::string>{"arithmetic", "countdown", "exact",
                                      "format_only", "integer"}));
  auto missing = registry->find("gsm8k");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("arithmetic, countdown"),
            std::string::npos)
      << missing.status();
  EXPECT_EQ(registry->add("countdown", countdownReward()).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(registry->add("empty", nullptr).ok());
  ASSERT_TRUE(registry
                  ->add("length",
                        [](const Problem &, std::string_view c) {
                          double v = c.size() < 10 ? 1.0 : 0.0;
                          return RewardBreakdown{v, 0.0, v};
                        })
                  .ok());
  EXPECT_EQ((*registry->find("length"))(Problem{}, "short").total, 1.0);
  RewardOptions bad;
  bad.formatWeight = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(defaultRewardRegistry(bad).ok());
}

TEST(FormatTest, StrictShape) {
  EXPECT_EQ(format("<think>a</think><answer>1</answer>"), 1.0);
  EXPECT_EQ(format("  \n<think>a</think>\n<answer> 1 </answer>\n\n"), 1.0);
  EXPECT_EQ(format("<think></think><answer>1</answer>"), 1.0);
  // No tags, missing blocks, wrong order.
  EXPECT_EQ(format("42"), 0.0);
  EXPECT_EQ(format("<answer>1</answer>"), 0.0);
  EXPECT_EQ(format("<think>a</think>"), 0.0);
  EXPECT_EQ(format("<answer>1</answer><think>a</think>"), 0.0);
  // Two answer blocks, two think blocks.
  EXPECT_EQ(format("<think>a</think><answer>1</answer><answer>2</answer>"),
            0.0);
  EXPECT_EQ(format("<think>a</think><think>b</think><answer>1</answer>"), 0.0);
  // Text before, between and after.
  EXPECT_EQ(format("so <think>a</think><answer>1</answer>"), 0.0);
  EXPECT_EQ(format("<think>a</think>so<answer>1</answer>"), 0.0);
  EXPECT_EQ(format("<think>a</think><answer>1</answer>."), 0.0);
  // Nested and mismatched tags.
  EXPECT_EQ(format("<think>a<think>b</think></think><answer>1</answer>"), 0.0);
  EXPECT_EQ(format("<think>a<answer>1</answer></think><answer>1</answer>"),
            0.0);
  EXPECT_EQ(format("<think>a</answer><answer>1</think>"), 0.0);
  EXPECT_EQ(format("<think>a</think><answer>1</think>"), 0.0);
  EXPECT_EQ(format("<think>a</think><answer>1"), 0.0);
  // Empty answer.
  EXPECT_EQ(format("<think>a</think><answer></answer>"), 0.0);
  EXPECT_EQ(format("<think>a</think><answer>  </answer>"), 0.0);
}

TEST(FormatTest, ConfigurableStrictness) {
  FormatOptions lenient = FormatOptions::lenient();
  EXPECT_EQ(
      format("Sure. <think>a</think> so <answer>1</answer> done", lenient),
      1.0);
  // Lenient is not lawless: still one block of each, in order.
  EXPECT_EQ(
      format("<think>a</think><answer>1</answer><answer>2</answer>", lenient),
      0.0);
  FormatOptions opened;
  opened.thinkOpenedInPrompt = true;
  EXPECT_EQ(format("a</think><answer>1</answer>", opened), 1.0);
  EXPECT_EQ(format("<think>a</think><answer>1</answer>", opened), 0.0);
  FormatOptions thinkRequired;
  thinkRequired.allowEmptyThink = false;
  EXPECT_EQ(format("<think> </think><answer>1</answer>", thinkRequired), 0.0);
  FormatOptions emptyOk;
  emptyOk.allowEmptyAnswer = true;
  EXPECT_EQ(format("<think>a</think><answer></answer>", emptyOk), 1.0);
}

TEST(FormatTest, AnswerExtraction) {
  EXPECT_EQ(*extractAnswer("<think>a</think><answer> 7 </answer>"), " 7 ");
  EXPECT_EQ(*extractAnswer("<answer>7</answer>"), "7");
  EXPECT_FALSE(extractAnswer("7").ok());
  EXPECT_FALSE(extractAnswer("<answer>1</answer><answer>2</answer>").ok());
  EXPECT_FALSE(extractAnswer("<think><answer>7</answer>").ok());
  EXPECT_FALSE(extractAnswer("<think>a</think><answer>7</answer><think>").ok());
  EXPECT_FALSE(extractAnswer("<think>a</think><answer>7").ok());
  EXPECT_FALSE(extractAnswer("</answer>7<answer>").ok());
}

TEST(ArithmeticRewardTest, ExactIntegerOnly) {
  RewardFn reward = arithmeticReward();
  Problem p = arithmeticProblem(478, '+', 365); // 843
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("843")), 1.0);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer(" 843\n")), 1.0);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("\t843 ")), 1.0);
  for (std::string_view bad :
       {"842", "+843", "0843", "843.0", "843.", "8 43", "8,43", "843a",
        "843 843", "--843", "- 843", "843=843", "", " ", "8.43e2", "0x34B",
        "eight hundred forty-three", "99999999999999999999999"})
    EXPECT_EQ(accuracy(reward, p, wrapAnswer(bad)), 0.0) << "'" << bad << "'";
  // No tags, two answers, an answer inside think.
  EXPECT_EQ(accuracy(reward, p, "843"), 0.0);
  EXPECT_EQ(accuracy(reward, p,
                     "<think></think><answer>843</answer><answer>842</answer>"),
            0.0);
  EXPECT_EQ(accuracy(reward, p, "<think><answer>843</answer>"), 0.0);

  Problem negative = arithmeticProblem(45, '-', 123);
  EXPECT_EQ(accuracy(reward, negative, wrapAnswer("-78")), 1.0);
  EXPECT_EQ(accuracy(reward, negative, wrapAnswer("78")), 0.0);
  EXPECT_EQ(accuracy(reward, negative, wrapAnswer("- 78")), 0.0);
  Problem zero = arithmeticProblem(45, '-', 45);
  EXPECT_EQ(accuracy(reward, zero, wrapAnswer("0")), 1.0);
  EXPECT_EQ(accuracy(reward, zero, wrapAnswer("-0")), 0.0);
  EXPECT_EQ(accuracy(reward, zero, wrapAnswer("00")), 0.0);
}

TEST(IntegerAnswerTest, Int64Bounds) {
  EXPECT_EQ(*parseIntegerAnswer("9223372036854775807"),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*parseIntegerAnswer("-9223372036854775808"),
            std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(parseIntegerAnswer("9223372036854775808").ok());
  EXPECT_FALSE(parseIntegerAnswer("-9223372036854775809").ok());
  EXPECT_FALSE(parseIntegerAnswer("-").ok());
}

TEST(CountdownRewardTest, ExactRationalChecking) {
  RewardFn reward = countdownReward();
  Problem p = countdownProblem({25, 4, 3, 1}, 98);
  auto acc = [&](std::string_view answer) {
    return accuracy(reward, p, wrapAnswer(answer));
  };
  EXPECT_EQ(acc("25*4-3+1"), 1.0);
  EXPECT_EQ(acc(" ( 25 * 4 ) - ( 3 - 1 ) "), 1.0);
  EXPECT_EQ(acc("25\u00d74\u22123+1"), 1.0); // ×, −
  EXPECT_EQ(acc("(25-1)*4+3-1"), 0.0);       // 1 used twice
  EXPECT_EQ(acc("25*4-3"), 0.0);             // right numbers, wrong value
  EXPECT_EQ(acc("98"), 0.0);                 // number not given
  EXPECT_EQ(acc("100-2"), 0.0);              // right value, wrong numbers
  EXPECT_EQ(acc("25*4-(3-1)"), 1.0);         // subsets: 3-1 uses each once
  EXPECT_EQ(acc("25*4-3+1="), 0.0);
  EXPECT_EQ(acc("25*4-3+1=98"), 0.0);
  EXPECT_EQ(acc(""), 0.0);
  EXPECT_EQ(acc("25*4-3+1)"), 0.0);
  EXPECT_EQ(acc("(25*4-3+1"), 0.0);
  EXPECT_EQ(acc("25 4"), 0.0);
  EXPECT_EQ(acc("25**4"), 0.0);
  EXPECT_EQ(acc("25*04-3+1"), 0.0); // leading zero
  EXPECT_EQ(acc("25.0*4-3+1"), 0.0);

  // Sub-multiset: a number given twice may be used twice, not three times.
  Problem twice = countdownProblem({5, 5, 2}, 50);
  EXPECT_EQ(accuracy(reward, twice, wrapAnswer("5*5*2")), 1.0);
  EXPECT_EQ(accuracy(reward, twice, wrapAnswer("(5+5)*5")), 0.0);
  // TinyZero's rule: every given number exactly once; a subset only when
  // the options allow it.
  Problem subset = countdownProblem({7, 50, 3, 2}, 100);
  EXPECT_EQ(accuracy(reward, subset, wrapAnswer("50*2")), 0.0);
  EXPECT_EQ(accuracy(reward, subset, wrapAnswer("(7-3)*50/2")), 1.0);
  EXPECT_EQ(accuracy(countdownReward(subsets()), subset, wrapAnswer("50*2")),
            1.0);
  EXPECT_EQ(
      accuracy(countdownReward(subsets()), subset, wrapAnswer("(50+50)*1")),
      0.0);
  auto unused = checkCountdownAnswer("50*2", {7, 50, 3, 2}, 100);
  ASSERT_FALSE(unused.ok());
  EXPECT_NE(unused.message().find("leaves 3 of [7, 50, 3, 2] unused"),
            std::string::npos)
      << unused;
  EXPECT_TRUE(checkCountdownAnswer("50*2", {7, 50, 3, 2}, 100,
                                   CountdownNumbers::kSubset)
                  .ok());
}

TEST(CountdownRewardTest, FractionsThatReduceToTheTarget) {
  // Every number once: 4/6 is 2/3, times 3 is 2.
  EXPECT_EQ(accuracy(countdownReward(), countdownProblem({4, 6, 3}, 2),
                     wrapAnswer("4/6*3")),
            1.0);
  RewardFn reward = countdownReward(subsets());
  Problem p = countdownProblem({8, 3, 3}, 8);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("(8/3)*3")), 1.0);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("8/3*3")), 1.0);
  Problem q = countdownProblem({1, 3, 6}, 2);
  EXPECT_EQ(accuracy(reward, q, wrapAnswer("6/(1/3)/(3*3)")), 0.0); // 3 twice
  EXPECT_EQ(accuracy(reward, q, wrapAnswer("(1/3)*6")), 1.0);
  // A non-integer value is never an integer target.
  Problem r = countdownProblem({7, 2}, 3);
  EXPECT_EQ(accuracy(reward, r, wrapAnswer("7/2")), 0.0);
}

TEST(CountdownRewardTest, UnaryMinusAndDivisionByZeroAreRejected) {
  RewardFn reward = countdownReward(subsets());
  Problem p = countdownProblem({4, 4, 2}, 0);
  EXPECT_EQ(accuracy(countdownReward(), p, wrapAnswer("4-4")), 0.0); // 2 unused
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("4-4")), 1.0);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("2/(4-4)")), 0.0);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("(4-4)/2")), 1.0);
  Problem q = countdownProblem({4, 2}, 2);
  EXPECT_EQ(accuracy(reward, q, wrapAnswer("-2+4")), 0.0);
  EXPECT_EQ(accuracy(reward, q, wrapAnswer("4+-2")), 0.0);
  EXPECT_EQ(accuracy(reward, q, wrapAnswer("4-(-2)")), 0.0);
  EXPECT_EQ(accuracy(reward, q, wrapAnswer("+4-2")), 0.0);
  auto zero = parseCountdownExpression("1/0");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("division by zero"), std::string::npos)
      << zero.status();
}

TEST(CountdownRewardTest, OverflowIsRejectedNotWrapped) {
  RewardFn reward = countdownReward();
  const int64_t big = 3037000500; // big*big > INT64_MAX
  Problem p = countdownProblem({big, big, 1}, 1);
  EXPECT_EQ(accuracy(reward, p, wrapAnswer("3037000500*3037000500-1")), 0.0);
  auto product = parseCountdownExpression("3037000500*3037000500");
  ASSERT_FALSE(product.ok());
  EXPECT_EQ(product.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(parseCountdownExpression("99999999999999999999").ok());
  EXPECT_TRUE(parseCountdownExpression("9223372036854775807").ok());
  EXPECT_FALSE(parseCountdownExpression("9223372036854775807+1").ok());
  // Fractions whose denominators overflow are rejected too.
  EXPECT_FALSE(parseCountdownExpression("1/3037000500/3037000500").ok());
  // Deep nesting is an error, not a stack overflow.
  std::string deep = std::string(100000, '(') + "1" + std::string(100000, ')');
  EXPECT_FALSE(parseCountdownExpression(deep).ok());
  std::string ok = std::string(60, '(') + "1" + std::string(60, ')');
  EXPECT_TRUE(parseCountdownExpression(ok).ok());
}

TEST(RationalTest, ExactAndReduced) {
  Rational third = *Rational::make(1, 3);
  Rational sixth = *Rational::make(-2, -12);
  EXPECT_EQ(sixth.num(), 1);
  EXPECT_EQ(sixth.den(), 6);
  EXPECT_EQ(add(third, sixth)->toString(), "1/2");
  EXPECT_EQ(subtract(sixth, third)->toString(), "-1/6");
  EXPECT_EQ(multiply(*Rational::make(8, 3), *Rational::make(3))->toString(),
            "8");
  EXPECT_EQ(divide(third, *Rational::make(-2))->toString(), "-1/6");
  EXPECT_FALSE(divide(third, Rational()).ok());
  EXPECT_FALSE(Rational::make(1, 0).ok());
  EXPECT_FALSE(Rational::make(std::numeric_limits<int64_t>::min()).ok());
  Rational max = *Rational::make(std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(add(max, *Rational::make(1)).ok());
  EXPECT_TRUE(subtract(Rational(), max).ok());
  EXPECT_FALSE(subtract(*subtract(Rational(), max), *Rational::make(1)).ok());
  // Cross-cancelling keeps big but representable products exact.
  Rational a = *Rational::make(std::numeric_limits<int64_t>::max(), 7);
  EXPECT_EQ(multiply(a, *Rational::make(7))->num(),
            std::numeric_limits<int64_t>::max());
}

} // namespace
} // namespace kiln::models::tasks
