//===- ServeAutoPrecisionTest.cpp - kiln-serve --precision=auto -----------===//
//
// Through the kiln-serve binary, as a user runs it: auto calibrates on the
// built-in prompts, prints the per-weight table and a mixed assignment
// within the budget, and keys the bundle by that assignment, so serving the
// printed assignment finds the same bundle entry. Bad budgets name the flag.
//
//===----------------------------------------------------------------------===//

#include <filesystem>
#include <regex>

#include "tests/models/RunCommand.h"

#include "gtest/gtest.h"

namespace kiln::serving {
namespace {

const std::string kServe = KILN_SERVE_BIN;
const std::string kModel =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/hf_policy/r1";

std::string serve(const std::string &flags) {
  return kServe + " --model=" + kModel + " --slots=2 --context=64 " + flags;
}

TEST(ServeAutoPrecision, ChoosesAMixWithinTheBudgetAndKeysTheBundleByIt) {
  std::string dir = ::testing::TempDir() + "/serve_auto_precision";
  std::filesystem::remove_all(dir);
  tests::Command chosen = tests::runCommand(
      serve("--precision=auto --precision-budget=0.05 --export-bundle=" + dir));
  ASSERT_EQ(chosen.rc, 0) << chosen.output;
  EXPECT_NE(chosen.output.find("error fp8"), std::string::npos)
      << chosen.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      chosen.output, m,
      std::regex("measured error ([0-9.e-]+) \\(calibration\\), ([0-9.e-]+) "
                 "\\(held out\\)")))
      << chosen.output;
  EXPECT_LE(std::stod(m[2]), 0.05);
  ASSERT_TRUE(std::regex_search(chosen.output, m,
                                std::regex("kiln-serve: precision (\\S+)")))
      << chosen.output;
  std::string assignment = m[1];
  // Mixed: some weights narrowed, not every one.
  EXPECT_NE(assignment.find('='), std::string::npos) << assignment;
  EXPECT_NE(chosen.output.find(" bf16 "), std::string::npos) << chosen.output;
  ASSERT_TRUE(std::regex_search(chosen.output, m,
                                std::regex("bucket=(\\S+_mixed[0-9a-f]+)")))
      << chosen.output;
  std::string bucket = m[1];

  std::string again = ::testing::TempDir() + "/serve_auto_precision_again";
  std::filesystem::remove_all(again);
  tests::Command spelt = tests::runCommand(
      serve("--precision=" + assignment + " --export-bundle=" + again));
  ASSERT_EQ(spelt.rc, 0) << spelt.output;
  EXPECT_NE(spelt.output.find("bucket=" + bucket + " "), std::string::npos)
      << spelt.output;
}

TEST(ServeAutoPrecision, BadBudgetsNameTheFlag) {
  for (const char *budget : {"0", "-0.1", "nan", "inf", "abc", ""}) {
    tests::Command c = tests::runCommand(
        serve(std::string("--precision=auto --precision-budget=") + budget));
    EXPECT_EQ(c.rc, 1) << budget;
    EXPECT_NE(
        c.output.find("--precision-budget is '" + std::string(budget) + "'"),
        std::string::npos)
        << c.output;
  }
  tests::Command missing = tests::runCommand(serve("--precision=auto"));
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.output.find("--precision=auto needs --precision-budget"),
            std::string::npos)
      << missing.output;
  tests::Command badEntry = tests::runCommand(
      serve("--precision=o_proj=int8 --export-bundle=" + ::testing::TempDir() +
            "/serve_bad_entry"));
  EXPECT_EQ(badEntry.rc, 1);
  EXPECT_NE(badEntry.output.find("assign entry 'o_proj=int8'"),
            std::string::npos)
      << badEntry.output;
}

} // namespace
} // namespace kiln::serving
