// The golden fixture of the runtime-vs-QAT agreement
// (tests/runtime/fixtures/micro_golden.safetensors): the micro LM of the QAT tests in float, the
// learned steps of every bit configuration, token windows of the LM test split and, per
// configuration, the QAT engine's fake-quantized greedy tokens and logits at probe ids. Written on
// x86 by hilq_tests_runtime_qat "[.golden]" (which also checks that golden_model() rebuilds exactly
// the exporter's packed file); read by hilq_tests_runtime on every kernel path, qemu-aarch64
// included, without qat or Eigen.
#pragma once

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model_file.h"
#include "tests/runtime/runtime_test_util.h"

namespace hilq::runtime::test {

constexpr const char* kGoldenFormat = "hilq.runtime.golden.v1";
constexpr int kGoldenProbes = 16;

struct Golden {
  model::ModelFile file;
  TestModel shape;
  std::string arch;
  int windows = 0, seq = 0, configs = 0;
  std::vector<int32_t> ids;        // [windows][seq]
  std::vector<int32_t> probe_ids;  // [kGoldenProbes]
};

inline std::vector<float> golden_f32(const model::ModelFile& f, const std::string& name) {
  std::vector<float> v;
  std::string err;
  if (!f.get_f32(name, &v, &err)) throw std::runtime_error("golden fixture: " + err);
  return v;
}

inline std::vector<int32_t> golden_i32(const model::ModelFile& f, const std::string& name) {
  const model::ModelTensor* t = f.find(name);
  if (!t || t->dtype != model::DType::kI32)
    throw std::runtime_error("golden fixture: no I32 tensor " + name);
  std::vector<int32_t> v(t->data.size() / 4);
  std::memcpy(v.data(), t->data.data(), t->data.size());
  return v;
}

inline std::string golden_config_prefix(int i) { return "c" + std::to_string(i) + "/"; }

inline Golden read_golden(const std::string& path) {
  Golden g;
  const std::string err = model::read_model_file(path, &g.file);
  if (!err.empty()) throw std::runtime_error(err);
  if (g.file.meta("format") != kGoldenFormat)
    throw std::runtime_error(path + ": not a golden fixture");
  g.arch = g.file.meta("architecture");
  std::istringstream shape(g.file.meta("shape"));
  shape >> g.shape.vocab >> g.shape.d >> g.shape.layers >> g.shape.heads >> g.shape.ff >>
      g.shape.max_seq;
  g.shape.hash = false;
  g.windows = std::stoi(g.file.meta("windows"));
  g.seq = std::stoi(g.file.meta("seq"));
  g.configs = std::stoi(g.file.meta("configs"));
  g.ids = golden_i32(g.file, "golden/ids");
  g.probe_ids = golden_i32(g.file, "golden/probe_ids");
  return g;
}

inline std::string golden_label(const Golden& g, int i) {
  return g.file.meta("label." + std::to_string(i));
}
inline std::string golden_quant(const Golden& g, int i) {
  return g.file.meta("config." + std::to_string(i));
}

// The packed model file of configuration i, laid out as qat/export.cpp writes it: the float
// weights quantized with the stored steps (kernels::quantize_pack, as the exporter does).
inline model::ModelFile golden_model(const Golden& g, int i) {
  const std::string c = golden_config_prefix(i);
  const model::ModelFile& f = g.file;
  Source s;
  s.weight = [&f](const std::string& name, int, int, float) { return golden_f32(f, name); };
  s.step = [&f, c](const std::string& unit, const std::vector<float>&, int, int, int, int) {
    return golden_f32(f, c + unit + ".w_step");
  };
  s.act_scale = [&f, c](const std::string& point, int, bool low) {
    return golden_f32(f, c + point + (low ? ".a_scale_lo" : ".a_scale_hi"))[0];
  };
  return build_model_file(g.shape, golden_quant(g, i), s, g.arch);
}

// Agreement of runtime logits with the QAT engine's at the same positions.
struct Agreement {
  int positions = 0, same_argmax = 0;
  double max_abs = 0, sum_abs = 0;
  int64_t compared = 0;
  double logit_range = 0;            // largest |QAT logit| seen
  std::vector<double> position_max;  // max |diff| of each position (one add() call)

  void add(const float* runtime, const float* qat, int n) {
    double worst = 0;
    for (int i = 0; i < n; ++i) {
      const double d = std::fabs(static_cast<double>(runtime[i]) - qat[i]);
      worst = std::max(worst, d);
      sum_abs += d;
      logit_range = std::max(logit_range, std::fabs(static_cast<double>(qat[i])));
    }
    max_abs = std::max(max_abs, worst);
    position_max.push_back(worst);
    compared += n;
  }
  // Fraction of positions whose every logit is within `tol` of the QAT engine's.
  double fraction_within(double tol) const {
    if (position_max.empty()) return 1.0;
    int64_t ok = 0;
    for (const double m : position_max) ok += m <= tol;
    return static_cast<double>(ok) / static_cast<double>(position_max.size());
  }
  double mean_abs() const { return compared ? sum_abs / static_cast<double>(compared) : 0.0; }
  double agreement() const {
    return positions ? static_cast<double>(same_argmax) / positions : 1.0;
  }
};

}  // namespace hilq::runtime::test
