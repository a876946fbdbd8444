#include "common/json/json_value.h"

#include <cmath>
#include <utility>

namespace receta {
namespace {

const JsonValue& SharedNull() {
  static const JsonValue* const kNull = new JsonValue();  // Why: never destroyed, safe at exit.
  return *kNull;
}

const std::vector<JsonValue>& NoItems() {
  static const auto* const kEmpty = new std::vector<JsonValue>();
  return *kEmpty;
}

const std::vector<JsonMember>& NoMembers() {
  static const auto* const kEmpty = new std::vector<JsonMember>();
  return *kEmpty;
}

}  // namespace

JsonValue::JsonValue() = default;
JsonValue::JsonValue(const JsonValue&) = default;
JsonValue::JsonValue(JsonValue&&) noexcept = default;
JsonValue& JsonValue::operator=(const JsonValue&) = default;
JsonValue& JsonValue::operator=(JsonValue&&) noexcept = default;
JsonValue::~JsonValue() = default;

JsonValue JsonValue::Bool(bool value) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = value;
  return v;
}

JsonValue JsonValue::Number(double value) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = value;
  // Why: past 2^53 a double no longer tells neighbouring integers apart, so an
  // integral double there is not known to be that exact integer.
  constexpr double kMaxExact = 9007199254740992.0;  // 2^53
  if (std::isfinite(value) && std::trunc(value) == value && value >= -kMaxExact &&
      value <= kMaxExact) {
    v.exact_integer_ = true;
    v.integer_ = static_cast<int64_t>(value);
  }
  return v;
}

JsonValue JsonValue::Integer(int64_t value) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = static_cast<double>(value);
  v.exact_integer_ = true;
  v.integer_ = value;
  return v;
}

JsonValue JsonValue::String(std::string value) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(value);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object(std::vector<JsonMember> members) {
  JsonValue v;
  v.kind_ = Kind::kObject;
  v.members_ = std::move(members);
  return v;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  for (const JsonMember& member : members_) {
    if (member.key == key) return &member.value;
  }
  return nullptr;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  const JsonValue* found = Find(key);
  return found != nullptr ? *found : SharedNull();
}

const JsonValue& JsonValue::operator[](size_t index) const {
  if (kind_ != Kind::kArray || index >= items_.size()) return SharedNull();
  return items_[index];
}

const JsonValue& JsonValue::operator[](int index) const {
  if (index < 0) return SharedNull();
  return (*this)[static_cast<size_t>(index)];
}

std::string JsonValue::AsString(std::string fallback) const {
  return kind_ == Kind::kString ? string_ : fallback;
}

int64_t JsonValue::AsInt(int64_t fallback) const { return is_integer() ? integer_ : fallback; }

double JsonValue::AsNumber(double fallback) const {
  return kind_ == Kind::kNumber ? number_ : fallback;
}

bool JsonValue::AsBool(bool fallback) const { return kind_ == Kind::kBool ? bool_ : fallback; }

const std::vector<JsonValue>& JsonValue::Items() const {
  return kind_ == Kind::kArray ? items_ : NoItems();
}

const std::vector<JsonMember>& JsonValue::Members() const {
  return kind_ == Kind::kObject ? members_ : NoMembers();
}

size_t JsonValue::size() const {
  if (kind_ == Kind::kArray) return items_.size();
  if (kind_ == Kind::kObject) return members_.size();
  return 0;
}

}  // namespace receta
