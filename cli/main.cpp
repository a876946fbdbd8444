// receta: the client CLI. The verbs live in receta_cli so tests can run them.
#include "cli/app.h"
#include "net/allocator_tuning.h"

int main(int argc, char** argv) {
  receta::net::KeepTransferBuffersInHeap();  // `artifacts get` and uploads of `submit`
  return receta::cli::RunCli(argc, argv);
}
