#pragma once
// Status and Result<T>: the one error style of receta's core (as leveldb's
// Status). Library exceptions (yaml-cpp, msgpack, cppzmq) are caught at the
// adapter that calls the library and turned into one of these, with context.

#include <optional>
#include <string>
#include <utility>
#include <variant>

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
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}       // NOLINT: implicit by design
  Result(Status error) : data_(std::move(error)) {}  // NOLINT
  static Result Error(std::string message) { return Result(Status::Error(std::move(message))); }

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  /// The error; Status::Ok() when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(data_); }
  const std::string& error() const {
    static const std::string kEmpty;
    return ok() ? kEmpty : std::get<Status>(data_).message();
  }

 private:
  std::variant<T, Status> data_;
};

}  // namespace receta
