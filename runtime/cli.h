// hil-run's command line: generation (text or token ids in, text and tokens/s out), the
// classifier's label and probability, and --bench latency figures. main() only calls run_cli.
#pragma once

namespace hilq::runtime {

// Exit codes: 0 ok, 1 runtime error (bad model file, ...), 2 usage error.
int run_cli(int argc, char** argv);

}  // namespace hilq::runtime
