#pragma once
// Real child processes for swarm tests: started with posix_spawn, output to a
// log file, waited for with bounded polling, killed with real signals.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ttt::test {

/// The `ttt` binary under test (meson passes TTT_BINARY).
inline std::string ttt_binary() {
  const char* path = std::getenv("TTT_BINARY");
  if (path == nullptr)
    throw std::runtime_error("TTT_BINARY is not set");
  return path;
}

/// A whole file (a log) as text; empty when it cannot be read.
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A fresh directory under /tmp, removed at the end of the test.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/ttt-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// One child process; killed with SIGKILL if still running at destruction.
class process {
public:
  process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      throw std::runtime_error("cannot start " + argv[0]);
  }
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process() {
    if (running())
      kill(SIGKILL);
    wait();
  }

  bool running() {
    if (exited_)
      return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    return true;
  }

  void kill(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }

  /// Waits for the exit (bounded); returns the exit code, or 128+signal.
  std::optional<int> wait(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (running()) {
      if (std::chrono::steady_clock::now() > deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status_))
      return WEXITSTATUS(status_);
    return 128 + WTERMSIG(status_);
  }

  std::string output() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// Waits until the output matches `pattern`; returns the match and its
  /// groups (bounded; nullopt when time ran out or the process ended first).
  std::optional<std::vector<std::string>>
  wait_for(const std::string& pattern, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    std::regex re(pattern);
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      bool last_try = std::chrono::steady_clock::now() > deadline || !running();
      auto text = output();
      std::smatch m;
      if (std::regex_search(text, m, re))
        return std::vector<std::string>(m.begin(), m.end());
      if (last_try)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

private:
  pid_t pid_ = 0;
  std::string log_path_;
  bool exited_ = false;
  int status_ = 0;
};

/// Runs a command to completion (bounded); returns (exit code, output).
inline std::pair<int, std::string> run(std::vector<std::string> argv, const std::string& log_path,
                                       std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  process p(std::move(argv), log_path);
  auto rc = p.wait(limit);
  return {rc.value_or(-1), p.output()};
}

} // namespace ttt::test
