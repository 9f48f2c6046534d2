#pragma once
// The one error discipline of model/: an expected failure (a bad user file, a
// shape that does not fit) is a value that carries a message for the user.

#include <optional>
#include <string>
#include <utility>

namespace ttt::model {

/// What went wrong, in words a user can act on (names the file or tensor).
struct failure {
  std::string message;
};

/// Either a T or a failure. Deliberately tiny: model/ is built without CAF.
template <class T>
class result {
public:
  result(T value) : value_(std::move(value)) {}
  result(failure f) : error_(std::move(f.message)) {}

  explicit operator bool() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  /// The message; empty when there is a value.
  const std::string& error() const { return error_; }

private:
  std::optional<T> value_;
  std::string error_;
};

/// Success without a value.
struct ok_t {};
using status = result<ok_t>;
inline status ok() { return ok_t{}; }

} // namespace ttt::model
