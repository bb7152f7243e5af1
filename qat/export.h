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
#pragma once

#include <cstdint>
#include <string>

#include "qat/model.h"
#include "qat/quant.h"
#include "kernels/runtime/tokenizer.h"

namespace hilq::qat {

constexpr const char* kPackedFormat = "hilq.packed.v1";

struct ExportSummary {
  int packed_tensors = 0;
  int64_t packed_bytes = 0;  // codes + scales of the packed tensors
  int64_t file_bytes = 0;
};

ExportSummary export_packed_model(const std::string& path, const Transformer& model,
                                  const QuantState& quant, const BpeTokenizer& tokenizer);

}  // namespace hilq::qat
