//===- RunCommand.h - run a binary as a user would, for tests ---*- C++ -*-===//
//
// The suites that run kiln-train and friends through a shell: exit status and
// everything the command printed.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_MODELS_RUNCOMMAND_H
#define KILN_TESTS_MODELS_RUNCOMMAND_H

#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace kiln::tests {

struct Command {
  int rc = -1;
  std::string output; // stdout and stderr
};

/// Runs `command` through the shell; rc is the exit status (128 + the signal
/// when one ended it, -1 when it could not start).
inline Command runCommand(const std::string &command) {
  Command c;
  FILE *pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe)
    return c;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe))
    c.output.append(buffer, n);
  int status = pclose(pipe);
  c.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return c;
}

} // namespace kiln::tests

#endif // KILN_TESTS_MODELS_RUNCOMMAND_H
