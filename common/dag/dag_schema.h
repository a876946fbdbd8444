#pragma once
// A JSON Schema (draft-07) of the DAG format, generated from the key table
// in dag_keys.h, for editors: the YAML language server (VS Code's YAML
// extension and others) validates and completes DAG files with it.

#include <string>

namespace receta {

std::string DagJsonSchema();

}  // namespace receta
