// Export of a QAT'd model as the deployable packed model file ("hilq.packed.v1"): the weights of
// every quantized unit packed by kernels/pack.h with the learned LSQ steps as scales (so the codes
// are exactly the integers training simulated), everything else float.
//
// Tensors (names as in qat/model.h):
//   <unit>.weight.data    U8   packed codes (PackedLayout::data_bytes())
//   <unit>.weight.scales  F32  panel-major scales (PackedLayout::scale_count())
//   <param>               F32  float parameters (norms, float units, embedding if not quantized)
//   <point>.a_scale_hi    F32 [1] learned activation step (uniform width, or the high group)
//   <point>.a_scale_lo    F32 [1] the low group's step (token-adaptive points only)
// Metadata: format, architecture, vocabulary, quant_config, and
//   packing      {"<unit>.weight": {"format", "rows", "cols", "w_bits", "group", "data", "scales"}}
//   activations  {"<point>": {"bits", "low_bits", "scale_hi", "scale_lo"?, "mask": "prev"|"cur"}}
//   attention    {"probs_bits": 8, "probs_scale": 1/127, "importance": ..., "layer0": "high"}
//   data_sha256  64 lowercase hex digits: SHA-256 of the whole data section (every tensor's bytes
//                in file order), what runtime/model_load.cpp verifies on load
//   labels       classifiers only: JSON array of class names by class id, e.g.
//                ["negative","positive"]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "qat/model.h"
#include "qat/quant.h"

namespace hilq::qat {

constexpr const char* kPackedFormat = "hilq.packed.v1";

struct ExportSummary {
  int packed_tensors = 0;
  int64_t packed_bytes = 0;  // codes + scales of the packed tensors
  int64_t file_bytes = 0;
  std::string data_sha256;  // as written to the metadata
};

// labels: a classifier's class names (n_classes of them); empty = the sentiment task's
// (kSentimentLabels, qat/data.h), the only classifier hil-train trains. Must be empty for an LM.
// Throws QatError on a quantizer without steps or labels that do not fit the model.
ExportSummary export_packed_model(const std::string& path, const Transformer& model,
                                  const QuantState& quant, const model::BpeTokenizer& tokenizer,
                                  const std::vector<std::string>& labels = {});

}  // namespace hilq::qat
