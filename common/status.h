#pragma once
// Status and Result<T>: the one error style of receta's core (as leveldb's
// Status). Library exceptions (yaml-cpp, msgpack, cppzmq) are caught at the
// adapter that calls the library and turned into one of these, with context.

#include <string>
#include <utility>

#include "common/value_or.h"

namespace receta {

/// An error message for the person who must fix it: what was wrong, where,
/// and what to do. Empty message means success.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) {
    Status s;
    s.message_ = std::move(message);
    s.failed_ = true;
    return s;
  }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

  /// Returns a copy with `context` prepended ("context: message").
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Error(context + ": " + message_);
  }

 private:
  std::string message_;
  bool failed_ = false;
};

/// A value or an error Status. Access value() only when ok().
template <typename T>
class Result : public ValueOr<T, Status> {
 public:
  using ValueOr<T, Status>::ValueOr;
  static Result Error(std::string message) { return Result(Status::Error(std::move(message))); }

  /// The error; Status::Ok() when a value is held.
  Status status() const { return this->ok() ? Status::Ok() : this->error_value(); }
  const std::string& error() const {
    static const std::string kEmpty;
    return this->ok() ? kEmpty : this->error_value().message();
  }
};

}  // namespace receta
