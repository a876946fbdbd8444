#pragma once
// JsonWriter: builds JSON text for `--json` output and the DAG schema.
// Indented, keys in the order written; strings escaped per RFC 8259.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace receta {

/// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

class JsonWriter {
 public:
  explicit JsonWriter(int indent = 2) : indent_(indent) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  /// Inside an object: the next value's key.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  /// Already-encoded JSON, inserted as one value.
  JsonWriter& Raw(std::string_view json);
  /// Shorthands for Key(key) then the value.
  JsonWriter& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, bool value) { return Key(key).Bool(value); }
  JsonWriter& StringArray(std::string_view key, const std::vector<std::string>& values);

  /// The document; complete once every Begin has its End.
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void Newline();

  struct Level {
    bool is_object;
    bool empty = true;
  };
  int indent_;
  std::string out_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

}  // namespace receta
