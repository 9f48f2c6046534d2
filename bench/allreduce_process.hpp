#pragma once
// A child process driven over its stdin/stdout, line by line, with deadlines:
// what the real-process averaging tests and `ttt bench allreduce` use to run
// several peers on loopback. The destructor SIGKILLs and reaps a child that
// is still running, so no test leaves processes behind.

#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ttt::bench {

class child_process {
public:
  using clock = std::chrono::steady_clock;

  /// Starts `exe` with `args`; stderr is inherited (diagnostics show in test logs).
  child_process(const std::string& exe, const std::vector<std::string>& args) {
    std::signal(SIGPIPE, SIG_IGN); // a dead child's stdin must not kill the driver
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(exe.c_str()));
      for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
    }
    if (to_child_ >= 0)
      ::close(to_child_);
    if (from_child_ >= 0)
      ::close(from_child_);
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  /// The next line the child prints, without its newline; nullopt on EOF or
  /// when `deadline` passes first.
  std::optional<std::string> read_line(clock::time_point deadline) {
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0 || from_child_ < 0)
        return std::nullopt;
      pollfd p{from_child_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char chunk[4096];
      ssize_t got = ::read(from_child_, chunk, sizeof(chunk));
      if (got <= 0)
        return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  /// Sends one line; false if the child no longer reads.
  bool write_line(const std::string& line) {
    std::string data = line + "\n";
    return ::write(to_child_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }

  /// Waits for the child to exit until `deadline`; its wait status, or nullopt.
  std::optional<int> wait_exit(clock::time_point deadline) {
    while (!reaped_) {
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        reaped_ = true;
        break;
      }
      if (clock::now() >= deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
  bool reaped_ = false;
  int status_ = 0;
};

/// The value of `key=` in a "done k=v k=v" line, or "".
inline std::string field_of(const std::string& line, const std::string& key) {
  auto at = line.find(" " + key + "=");
  if (at == std::string::npos)
    return "";
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

} // namespace ttt::bench
