#pragma once
// ValueOr<T, E>: a value of type T or an error of type E. The shared shape
// of Result<T> (status.h, errors as Status) and TextResult<T> (lang/
// text_error.h, errors with a text offset); each adds its own error access.

#include <utility>
#include <variant>

namespace receta {

template <typename T, typename E>
class ValueOr {
 public:
  ValueOr(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  ValueOr(E error) : data_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }

  /// Only when ok().
  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 protected:
  /// Only when !ok().
  const E& error_value() const { return std::get<E>(data_); }

 private:
  std::variant<T, E> data_;
};

}  // namespace receta
