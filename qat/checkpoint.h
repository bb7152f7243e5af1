// Training checkpoints as model files (model/model_file.h, format "hilq.checkpoint.v1"):
// float parameters under their model names, learned quantizer steps under "quant.<name>", AdamW
// moments under "optim.m.<name>" / "optim.v.<name>", and metadata: architecture, vocabulary,
// quant_config (QAT only), step, optim_steps, train_state (JSON of the run's settings).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "model/model_file.h"
#include "model/tokenizer.h"
#include "qat/model.h"
#include "qat/optim.h"
#include "qat/quant.h"

namespace hilq::qat {

constexpr const char* kCheckpointFormat = "hilq.checkpoint.v1";

void save_checkpoint(const std::string& path, const Transformer& model,
                     const model::BpeTokenizer& tokenizer, const QuantState* quant,
                     AdamW* optimizer, int64_t step, const std::string& train_state_json);

struct LoadedCheckpoint {
  std::unique_ptr<Transformer> model;
  model::BpeTokenizer tokenizer;
  std::unique_ptr<QuantState> quant;  // set when the checkpoint holds a quant config
  int64_t step = 0;
  std::string train_state;  // JSON
  model::ModelFile file;    // for restore_optimizer
};

// Throws DataError naming the file and what is wrong.
LoadedCheckpoint load_checkpoint(const std::string& path);
// Restores AdamW moments and step count saved by save_checkpoint (parameters matched by name).
void restore_optimizer(const model::ModelFile& file, AdamW* optimizer);

}  // namespace hilq::qat
