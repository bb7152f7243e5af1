// hil-run's work without its command line: loads a model file and generates text (causal LM),
// names a label (classifier) or times prefill + decode (bench), printing what hil-run prints.
// runtime/main.cpp parses the flags into RunModelOptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/mkmp.h"
#include "runtime/model.h"

namespace hilq::runtime {

struct RunModelOptions {
  std::string model_path;           // --model
  LoadOptions load;                 // --weights, --quant-config, --setting, --float-storage
  kernels::ContextOptions context;  // --threads, --isa, --int4

  // Generation and classification: exactly one of prompt (text) and ids.
  std::optional<std::string> prompt;        // --prompt
  std::optional<std::vector<int32_t>> ids;  // --ids
  int max_tokens = 32;                      // --max-tokens
  double temperature = 0.0;                 // --temperature: 0 = greedy
  uint64_t seed = 1;                        // --seed: sampling, and the bench prompt's ids
  bool show_ids = false;                    // --show-ids
  int max_context = 0;                      // --context: 0 = the model's max_seq

  // Latency (--bench): prefill of a prompt + timed token-by-token decode, repeated.
  bool bench = false;
  bool json = false;        // --json
  int prompt_tokens = 128;  // --prompt-tokens
  int decode_tokens = 128;  // --decode-tokens
  int runs = 3;             // --runs: at least this many timed runs ...
  double min_time_s = 1.0;  // --min-time: ... and at least this long
};

// Returns the exit code (0). Throws hilq::UsageError when the prompt cannot be run (neither or
// both of prompt and ids, a prompt that encodes to no tokens), hilq::Error otherwise.
int run_model(const RunModelOptions& options);

}  // namespace hilq::runtime
