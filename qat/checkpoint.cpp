// Checkpoint save/load over the model file.
#include "qat/checkpoint.h"

#include <cstring>

namespace hilq::qat {
namespace {

void put(model::ModelFile* f, const std::string& name, const Mat& m) {
  f->add_f32(name, {m.rows(), m.cols()}, m.data());
}

// Copies tensor `name` into m (shape must match); throws DataError otherwise.
void get(const model::ModelFile& f, const std::string& path, const std::string& name, Mat* m) {
  const model::ModelTensor* t = f.find(name);
  if (!t) throw DataError(path + ": tensor " + name + " is missing");
  if (t->dtype != model::DType::kF32 || t->shape.size() != 2 || t->shape[0] != m->rows() ||
      t->shape[1] != m->cols()) {
    throw DataError(path + ": tensor " + name + " is not F32 of shape [" +
                    std::to_string(m->rows()) + ", " + std::to_string(m->cols()) + "]");
  }
  std::memcpy(m->data(), t->data.data(), t->data.size());
}

}  // namespace

void save_checkpoint(const std::string& path, const Transformer& model,
                     const model::BpeTokenizer& tokenizer, const QuantState* quant,
                     AdamW* optimizer, int64_t step, const std::string& train_state_json) {
  model::ModelFile f;
  f.metadata["format"] = kCheckpointFormat;
  f.metadata["architecture"] = model.config().to_json();
  f.metadata["vocabulary"] = tokenizer.to_json();
  f.metadata["step"] = std::to_string(step);
  f.metadata["train_state"] = train_state_json;
  for (const auto& [name, v] : model.named_parameters()) put(&f, name, v->value);
  if (quant) {
    f.metadata["quant_config"] = quant->config().to_json();
    for (const auto& [name, v] : quant->named_parameters()) put(&f, "quant." + name, v->value);
  }
  if (optimizer) {
    f.metadata["optim_steps"] = std::to_string(optimizer->steps_taken());
    for (size_t i = 0; i < optimizer->params().size(); ++i) {
      const std::string& name = optimizer->params()[i].first;
      put(&f, "optim.m." + name, optimizer->first_moment(i));
      put(&f, "optim.v." + name, optimizer->second_moment(i));
    }
  }
  const std::string err = model::write_model_file(path, f);
  if (!err.empty()) throw QatError("saving checkpoint: " + err);
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  LoadedCheckpoint c;
  const std::string err = model::read_model_file(path, &c.file);
  if (!err.empty()) throw DataError(err);
  const auto& f = c.file;
  if (f.meta("format") != kCheckpointFormat) {
    throw DataError(path + ": format '" + f.meta("format") + "' is not " + kCheckpointFormat);
  }
  const ModelConfig cfg = ModelConfig::from_json(f.meta("architecture"), path + " architecture");
  c.tokenizer = model::BpeTokenizer::from_json(f.meta("vocabulary"));
  if (c.tokenizer.vocab_size() != cfg.vocab_size) {
    throw DataError(path + ": vocabulary has " + std::to_string(c.tokenizer.vocab_size()) +
                    " tokens, architecture says " + std::to_string(cfg.vocab_size));
  }
  c.model = std::make_unique<Transformer>(cfg, 0);
  for (const auto& [name, v] : c.model->named_parameters()) get(f, path, name, &v->value);
  if (!f.meta("quant_config").empty()) {
    const model::QuantSpec qc =
        model::QuantSpec::from_json(f.meta("quant_config"), path + " quant_config");
    c.quant = std::make_unique<QuantState>(qc, cfg.n_layers, cfg.kind);
    c.quant->init_weight_steps(c.model->unit_weights(), QuantState::Init::kLsq);
    for (const auto& [name, v] : c.quant->named_parameters())
      get(f, path, "quant." + name, &v->value);
  }
  c.step = std::stoll(f.meta("step").empty() ? "0" : f.meta("step"));
  c.train_state = f.meta("train_state");
  return c;
}

void restore_optimizer(const model::ModelFile& file, AdamW* optimizer) {
  for (size_t i = 0; i < optimizer->params().size(); ++i) {
    const std::string& name = optimizer->params()[i].first;
    get(file, "checkpoint", "optim.m." + name, &optimizer->first_moment(i));
    get(file, "checkpoint", "optim.v." + name, &optimizer->second_moment(i));
  }
  const std::string s = file.meta("optim_steps");
  optimizer->set_steps_taken(s.empty() ? 0 : std::stoll(s));
}

}  // namespace hilq::qat
