#pragma once
// Running the `ttt` binary under test (TTT_BINARY) from the model's CLI
// tests: its exit status and everything it printed.

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>

namespace ttt::testing {

struct run_result {
  int status = -1;
  std::string output;
};

/// `ttt ARGS` (a shell command line), stdout and stderr together.
inline run_result run(const std::string& args) {
  std::string command = std::string(std::getenv("TTT_BINARY")) + " " + args + " 2>&1";
  run_result r;
  FILE* pipe = popen(command.c_str(), "r");
  BOOST_REQUIRE(pipe);
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe))
    r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

} // namespace ttt::testing
