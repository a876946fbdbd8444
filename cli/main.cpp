// receta: the client CLI. The verbs live in receta_cli so tests can run them.
#include "cli/app.h"

int main(int argc, char** argv) { return receta::cli::RunCli(argc, argv); }
