#include "common/dag/dag_schema.h"

#include "common/dag/dag_keys.h"
#include "common/json/json_writer.h"
#include "receta/version.h"

namespace receta {
namespace {

void WriteObjectSchema(JsonWriter& json, const std::vector<KeySpec>& keys,
                       const std::vector<std::string>& required);

void WriteEnum(JsonWriter& json, const KeySpec& key) {
  json.Key("enum").BeginArray();
  for (const char* value : *key.enum_values) json.String(value);
  json.EndArray();
}

void WriteStringOrList(JsonWriter& json, const std::string& item_type_json) {
  json.Key("anyOf").BeginArray();
  json.Raw(item_type_json);
  json.BeginObject().Field("type", "array").Key("items").Raw(item_type_json).EndObject();
  json.EndArray();
}

void WriteKeySchema(JsonWriter& json, const KeySpec& key) {
  json.BeginObject();
  json.Field("description", key.description);
  switch (key.type) {
    case KeyType::kString:
    case KeyType::kGate:
      json.Field("type", "string");
      break;
    case KeyType::kScalar:
      json.Key("type").BeginArray().String("string").String("number").String("boolean").EndArray();
      break;
    case KeyType::kInteger:
      json.Field("type", "integer").Field("minimum", 0);
      if (key.max_integer > 0) json.Field("maximum", key.max_integer);
      break;
    case KeyType::kNumber:
      json.Field("type", "number").Field("exclusiveMinimum", 0);
      break;
    case KeyType::kBoolean:
      json.Field("type", "boolean");
      break;
    case KeyType::kDuration:
      json.Field("type", "string")
          .Field("pattern", "^([0-9]*\\.?[0-9]+(ms|s|m|h|d))+$");
      break;
    case KeyType::kSize:
      json.Key("type").BeginArray().String("string").String("integer").EndArray();
      json.Field("pattern", "^\\s*[0-9]*\\.?[0-9]+\\s*([kKMGTPE]i?[bB]?|[bB])?\\s*$");
      break;
    case KeyType::kStringList:
      WriteStringOrList(json, "{\"type\": \"string\"}");
      break;
    case KeyType::kRetryOn:
      WriteStringOrList(json,
                        "{\"anyOf\": [{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 255}, "
                        "{\"const\": \"timeout\"}]}");
      break;
    case KeyType::kStringMap:
    case KeyType::kParamMap:
      json.Field("type", "object").Key("additionalProperties").BeginObject();
      json.Key("type").BeginArray().String("string").String("number").String("boolean").EndArray();
      json.EndObject();
      break;
    case KeyType::kEnum:
      WriteEnum(json, key);
      break;
    case KeyType::kEnumList: {
      JsonWriter item(0);
      item.BeginObject();
      WriteEnum(item, key);
      item.EndObject();
      WriteStringOrList(json, item.str());
      break;
    }
    case KeyType::kObject:
      json.Key("allOf").BeginArray();
      WriteObjectSchema(json, *key.fields, {});
      json.EndArray();
      break;
    case KeyType::kObjectList:
      json.Field("type", "array").Key("items");
      WriteObjectSchema(json, *key.fields, {"on"});
      break;
    case KeyType::kStepMap:
      json.Field("type", "object").Field("minProperties", 1);
      json.Key("propertyNames")
          .BeginObject()
          .Field("pattern", "^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
          .EndObject();
      json.Key("additionalProperties");
      WriteObjectSchema(json, *key.fields, {"run"});
      break;
  }
  json.EndObject();
}

void WriteObjectSchema(JsonWriter& json, const std::vector<KeySpec>& keys,
                       const std::vector<std::string>& required) {
  json.BeginObject().Field("type", "object");
  json.Key("properties").BeginObject();
  for (const KeySpec& key : keys) {
    json.Key(key.name);
    WriteKeySchema(json, key);
  }
  json.EndObject();
  // YAML merge keys (`<<: *base`) are resolved by the parser, so allow them.
  json.Key("patternProperties").BeginObject().Key("^<<$").BeginObject().EndObject().EndObject();
  if (!required.empty()) json.StringArray("required", required);
  json.Field("additionalProperties", false);
  json.EndObject();
}

}  // namespace

std::string DagJsonSchema() {
  JsonWriter json;
  json.BeginObject();
  json.Field("$schema", "http://json-schema.org/draft-07/schema#");
  json.Field("$id", std::string("https://receta.dev/schema/dag-") + kVersion + ".json");
  json.Field("title", "receta DAG");
  json.Field("description",
             "A receta pipeline: steps of data-prep, training, evaluation and "
             "deployment, with their inputs, outputs and gates");
  json.Field("type", "object");
  json.Key("properties").BeginObject();
  for (const KeySpec& key : DagKeys()) {
    json.Key(key.name);
    if (std::string(key.name) == "name") {
      // The same rule as step names (dag_parser.cpp's IsValidStepName).
      json.BeginObject().Field("description", key.description).Field("type", "string");
      json.Field("pattern", "^[A-Za-z0-9_][A-Za-z0-9_.-]*$").EndObject();
      continue;
    }
    WriteKeySchema(json, key);
  }
  json.EndObject();
  // Keys starting "x-" hold the user's own anchors (as in Docker Compose).
  json.Key("patternProperties").BeginObject().Key("^x-").BeginObject().EndObject();
  json.Key("^<<$").BeginObject().EndObject().EndObject();
  json.StringArray("required", {"steps"});
  json.Field("additionalProperties", false);
  json.EndObject();
  return json.str() + "\n";
}

}  // namespace receta
