// A micro causal LM checkpoint for the search tests: the QAT tests' micro world (a 512-token BPE
// and four documents per split), trained briefly so that quantization changes its perplexity,
// saved once per test process as a hil-train checkpoint.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "qat/checkpoint.h"
#include "qat/train.h"
#include "tests/qat/fixtures.h"

namespace hilq::search::testing {

// A file removed when the test process exits (by the static holding it: an atexit handler
// registered while the static is built would run after the static's string is gone).
struct TempModelFile {
  std::string path;
  ~TempModelFile() { std::filesystem::remove(path); }
};

// Documents per split the scorer reads: the micro world's slice.
constexpr int kMicroDocs = 4;

inline const std::string& micro_lm_path() {
  static const TempModelFile file{[] {
    const std::string p = (std::filesystem::temp_directory_path() /
                           ("hilq_search_micro_" + std::to_string(::getpid()) + ".safetensors"))
                              .string();
    using namespace qat::testing;
    qat::Transformer t(micro_config(model::ModelKind::kCausalLm), 5);
    qat::train(qat::Task::kLm, t, nullptr, nullptr, qat::SquatLossConfig{false, false, false},
               micro_world().data, micro_train(150), micro_world().tok);
    qat::save_checkpoint(p, t, micro_world().tok, nullptr, nullptr, 150, "{}");
    return p;
  }()};
  return file.path;
}

// The micro sentiment classifier, trained briefly on the micro world's sentences.
inline const std::string& micro_cls_path() {
  static const TempModelFile file{[] {
    const std::string p = (std::filesystem::temp_directory_path() /
                           ("hilq_search_micro_cls_" + std::to_string(::getpid()) + ".safetensors"))
                              .string();
    using namespace qat::testing;
    qat::Transformer t(micro_config(model::ModelKind::kClassifier), 9);
    qat::train(qat::Task::kCls, t, nullptr, nullptr, qat::SquatLossConfig{false, false, false},
               micro_world().data, micro_train(80), micro_world().tok);
    qat::save_checkpoint(p, t, micro_world().tok, nullptr, nullptr, 80, "{}");
    return p;
  }()};
  return file.path;
}

}  // namespace hilq::search::testing
