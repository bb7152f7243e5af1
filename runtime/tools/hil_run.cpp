// hil-run: runs a packed model on this machine's MKMP kernels (see runtime/cli.h).
#include "runtime/cli.h"

int main(int argc, char** argv) { return hilq::runtime::run_cli(argc, argv); }
