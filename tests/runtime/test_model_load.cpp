// Model-file validation of the runtime: good files load; corrupt, truncated, wrong-version and
// inconsistent files are refused with a message naming what is wrong.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "model/setting.h"
#include "runtime/model.h"
#include "tests/runtime/runtime_test_util.h"

namespace hilq::runtime {
namespace {

using test::TestModel;

std::string temp_path(const std::string& tag) {
  return "/tmp/hilq_rt_" + std::to_string(::getpid()) + "_" + tag + ".safetensors";
}

std::vector<uint8_t> bytes_of(const model::ModelFile& f) {
  std::vector<uint8_t> b;
  REQUIRE(model::serialize_model_file(f, &b).empty());
  return b;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Loads bytes through the file path the tools use; returns the error text ("" when it loads).
std::string load_error(const std::vector<uint8_t>& b, const LoadOptions& o = {}) {
  const std::string path = temp_path("load");
  write_bytes(path, b);
  std::string err;
  try {
    Model::load(path, o);
  } catch (const RuntimeError& e) {
    err = e.what();
  }
  std::remove(path.c_str());
  return err;
}

std::string load_error(const model::ModelFile& f, const LoadOptions& o = {}) {
  return load_error(bytes_of(f), o);
}

TestModel w4a8() {
  TestModel m;
  m.q.w_bits = 4;
  m.q.a_bits = 8;
  return m;
}

model::ModelTensor* find(model::ModelFile& f, const std::string& name) {
  for (auto& t : f.tensors) {
    if (t.name == name) return &t;
  }
  FAIL("no tensor " << name);
  return nullptr;
}

void replace_meta(model::ModelFile& f, const std::string& key, const std::string& from,
                  const std::string& to) {
  std::string& v = f.metadata[key];
  const size_t at = v.find(from);
  REQUIRE(at != std::string::npos);
  v.replace(at, from.size(), to);
}

TEST_CASE("a packed W4A8 file loads with its shapes, widths, fusion and verified hash",
          "[runtime][model]") {
  const std::string path = temp_path("good");
  REQUIRE(model::write_model_file(path, test::make_model_file(w4a8())).empty());
  const Model m = Model::load(path);
  std::remove(path.c_str());
  CHECK(m.label() == "W4A8");
  CHECK(m.format() == kPackedFormat);
  CHECK(m.hash_verified());
  CHECK(m.data_sha256().size() == 64);
  CHECK(m.file_bytes() > 0);
  REQUIRE(m.layers().size() == 2);
  const Layer& L = m.layers()[1];
  REQUIRE(L.qkv.size() == 1);  // q|k|v fused into one 192 x 64 packed matrix
  CHECK(L.qkv[0].rows == 192);
  CHECK(L.qkv[0].format == WeightFormat::kPacked);
  CHECK(L.qkv[0].w_bits == 4);
  REQUIRE(L.gate_up.size() == 1);
  CHECK(L.gate_up[0].rows == 192);
  CHECK(L.down.cols == 96);
  CHECK(L.qkv_in.bits == 8);
  CHECK_FALSE(L.qkv_in.adaptive());
  CHECK(L.probs_quantized);
  CHECK(m.embed().format == WeightFormat::kFp32);  // uniform configs keep the embedding float
  CHECK_FALSE(m.head_in().quantized());
}

TEST_CASE("a float checkpoint loads as FP32, and as the FP16-storage baseline",
          "[runtime][model]") {
  const Model f32 = test::make_model(TestModel{});
  CHECK(f32.label() == "FP32");
  CHECK(f32.layers()[0].qkv[0].format == WeightFormat::kFp32);
  LoadOptions o;
  o.weights = WeightsMode::kFp16;
  const Model f16 = test::make_model(TestModel{}, o);
  CHECK(f16.label() == "FP16");
  CHECK(f16.layers()[0].qkv[0].format == WeightFormat::kFp16);
  CHECK(f16.weight_bytes() < f32.weight_bytes() * 6 / 10);
  // The baseline of a packed file: its weights dequantized, its activations float.
  const Model base = test::make_model(w4a8(), test::load_options(WeightsMode::kFp32));
  CHECK(base.label() == "FP32");
  CHECK_FALSE(base.layers()[1].qkv_in.quantized());
  CHECK_FALSE(base.layers()[1].probs_quantized);
}

TEST_CASE("a baseline setting loads the baseline, as-stored the file as it is", "[model_load]") {
  LoadOptions o;
  o.setting = model::Setting::parse("FP16");
  const Model f16 = test::make_model(w4a8(), o);
  CHECK(f16.label() == "FP16");
  CHECK(f16.layers()[0].qkv[0].format == WeightFormat::kFp16);
  CHECK_FALSE(f16.layers()[1].qkv_in.quantized());
  o.setting = model::Setting::parse("FP32");
  CHECK(test::make_model(w4a8(), o).label() == "FP32");
  o.weights = WeightsMode::kFp16;
  CHECK_THROWS_WITH(test::make_model(w4a8(), o), Catch::Contains("setting FP32"));
  o.weights = WeightsMode::kAsStored;
  o.setting = model::Setting::parse("as-stored");
  CHECK(test::make_model(w4a8(), o).label() == "W4A8");
  CHECK(test::make_model(TestModel{}, o).label() == "FP32");
}

TEST_CASE("float parts of a quantized model can be held in fp16 storage", "[runtime][model]") {
  LoadOptions o;
  o.float_fp16 = true;
  const Model m = test::make_model(w4a8(), o);
  CHECK(m.label() == "W4A8-F16");
  CHECK(m.embed().format == WeightFormat::kFp16);
  CHECK(m.layers()[0].qkv[0].format == WeightFormat::kPacked);
  CHECK(test::make_model(TestModel{}, o).label() == "FP16");
}

TEST_CASE("a corrupt header is refused", "[runtime][model]") {
  std::vector<uint8_t> b = bytes_of(test::make_model_file(w4a8()));
  b[8] = 'x';  // the JSON header's opening brace
  const std::string err = load_error(b);
  CHECK_THAT(err, Catch::Contains("not valid JSON"));
}

TEST_CASE("flipped weight bytes fail the SHA-256 check (and load when the check is off)",
          "[runtime][model]") {
  std::vector<uint8_t> b = bytes_of(test::make_model_file(w4a8()));
  b[b.size() - 100] ^= 0x10;
  CHECK_THAT(load_error(b), Catch::Contains("SHA-256") && Catch::Contains("corrupt"));
  LoadOptions o;
  o.verify_hash = false;
  CHECK(load_error(b, o).empty());
}

TEST_CASE("a truncated file is refused at every length", "[runtime][model]") {
  const std::vector<uint8_t> b = bytes_of(test::make_model_file(w4a8()));
  uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= uint64_t{b[static_cast<size_t>(i)]} << (8 * i);
  for (size_t n : {size_t{0}, size_t{5}, size_t{8}, static_cast<size_t>(8 + header / 2),
                   static_cast<size_t>(8 + header), b.size() / 2, b.size() - 1}) {
    CAPTURE(n);
    const std::string err =
        load_error(std::vector<uint8_t>(b.begin(), b.begin() + static_cast<int64_t>(n)));
    CHECK_FALSE(err.empty());
  }
  CHECK(load_error(b).empty());
  CHECK_THAT(load_error(std::vector<uint8_t>(b.begin(), b.end() - 1)),
             Catch::Contains("data_offsets"));
}

TEST_CASE("another format version or a file without format is refused", "[runtime][model]") {
  model::ModelFile f = test::make_model_file(w4a8());
  f.metadata["format"] = "hilq.packed.v2";
  CHECK_THAT(load_error(f), Catch::Contains("format 'hilq.packed.v2' is not supported"));
  f.metadata.erase("format");
  CHECK_THAT(load_error(f), Catch::Contains("not a hilq model file"));
  model::ModelFile g = test::make_model_file(w4a8());
  replace_meta(g, "packing", kernels::kPackFormat, "hilq.p32c4.v0");
  CHECK_THAT(load_error(g), Catch::Contains("hilq.p32c4.v0"));
}

TEST_CASE("mismatched shapes are refused", "[runtime][model]") {
  SECTION("a float tensor of the wrong shape") {
    model::ModelFile f = test::make_model_file(w4a8());
    f.metadata.erase("data_sha256");
    model::ModelTensor* t = find(f, "layers.1.mlp_norm.weight");
    t->shape = {1, 63};
    t->data.resize(63 * 4);
    CHECK_THAT(load_error(f),
               Catch::Contains("layers.1.mlp_norm.weight") && Catch::Contains("mismatched shapes"));
  }
  SECTION("packing rows that disagree with the architecture") {
    model::ModelFile f = test::make_model_file(w4a8());
    replace_meta(f, "packing", "\"rows\":96", "\"rows\":64");
    CHECK_THAT(load_error(f), Catch::Contains("mismatched shapes"));
  }
  SECTION("packed data of the wrong size") {
    model::ModelFile f = test::make_model_file(w4a8());
    f.metadata.erase("data_sha256");
    model::ModelTensor* t = find(f, "layers.0.attn.o.weight.data");
    t->data.resize(t->data.size() - 64);
    t->shape = {static_cast<int64_t>(t->data.size())};
    CHECK_THAT(load_error(f),
               Catch::Contains("layers.0.attn.o.weight") && Catch::Contains("bytes"));
  }
  SECTION("an architecture whose heads do not divide d_model") {
    model::ModelFile f = test::make_model_file(w4a8());
    replace_meta(f, "architecture", "\"n_heads\":2", "\"n_heads\":3");
    CHECK_THAT(load_error(f), Catch::Contains("n_heads"));
  }
}

TEST_CASE("bit widths that disagree with the quant config are refused", "[runtime][model]") {
  model::ModelFile f = test::make_model_file(w4a8());
  replace_meta(f, "quant_config",
               "\"units\":{\"layers.0.attn.q\":{\"a_bits\":8,\"group\":0,\"w_bits\":4}",
               "\"units\":{\"layers.0.attn.q\":{\"a_bits\":8,\"group\":0,\"w_bits\":8}");
  CHECK_THAT(load_error(f), Catch::Contains("layers.0.attn.q.weight has w_bits 4"));
  model::ModelFile g = test::make_model_file(w4a8());
  replace_meta(g, "quant_config", "\"w_bits\":4}", "\"w_bits\":5}");
  CHECK_THAT(load_error(g), Catch::Contains("w_bits 5 is not one of"));
  model::ModelFile h = test::make_model_file(w4a8());
  replace_meta(h, "activations", "{\"bits\":8,\"low_bits\":0", "{\"bits\":4,\"low_bits\":0");
  CHECK_THAT(load_error(h), Catch::Contains("the quant config implies 8/0"));
}

TEST_CASE("missing, unknown and non-finite tensors are refused", "[runtime][model]") {
  model::ModelFile f = test::make_model_file(w4a8());
  f.tensors.erase(f.tensors.begin() + 1);
  f.metadata.erase("data_sha256");
  CHECK_THAT(load_error(f), Catch::Contains("is missing"));
  model::ModelFile g = test::make_model_file(w4a8());
  const float one = 1.0f;
  g.add_f32("layers.9.extra", {1}, &one);
  g.metadata.erase("data_sha256");
  CHECK_THAT(load_error(g), Catch::Contains("layers.9.extra is not part of this architecture"));
  model::ModelFile h = test::make_model_file(w4a8());
  h.metadata.erase("data_sha256");
  float* s = reinterpret_cast<float*>(find(h, "layers.1.attn.v.out.a_scale_hi")->data.data());
  *s = 0.0f;
  CHECK_THAT(load_error(h), Catch::Contains("must be positive"));
  model::ModelFile k = test::make_model_file(TestModel{});
  k.metadata.erase("data_sha256");
  float* w = reinterpret_cast<float*>(find(k, "embed.weight")->data.data());
  w[3] = std::nanf("");
  CHECK_THAT(load_error(k), Catch::Contains("non-finite"));
}

TEST_CASE("a requested quant config must match a packed file and quantizes a float one",
          "[runtime][model]") {
  const std::string w8 = test::quant_json([] {
    TestModel m;
    m.q.w_bits = 8;
    m.q.a_bits = 8;
    return m;
  }());
  LoadOptions o;
  o.quant_config = w8;
  CHECK_THROWS_AS(test::make_model(w4a8(), o), ConfigError);
  const Model q = test::make_model(TestModel{}, o);
  CHECK(q.label() == "W8A8");
  CHECK(q.layers()[0].qkv[0].format == WeightFormat::kPacked);
  CHECK(q.layers()[1].qkv_in.dynamic);
  o.quant_config = "{\"units\":{\"layers.7.attn.q\":{\"w_bits\":4}}}";
  CHECK_THROWS_WITH(test::make_model(TestModel{}, o),
                    Catch::Contains("does not exist in a 2-layer model"));
}

TEST_CASE("a float model quantizes on load from a setting; a packed one must match it",
          "[model_load]") {
  test::TestModel tm;
  LoadOptions o;
  o.setting = model::Setting::parse("W4A8");
  const Model q = Model::from_file(test::make_model_file(tm), o, "float model");
  CHECK(q.label() == "W4A8");
  tm.q = {8, 8, 0, false, 0.5, false, false};
  CHECK_THROWS_WITH(Model::from_file(test::make_model_file(tm), o, "packed model"),
                    Catch::Contains("setting W4A8") && Catch::Contains("W8A8"));
  o.setting = model::Setting::parse("W8A8");
  CHECK(Model::from_file(test::make_model_file(tm), o, "packed model").label() == "W8A8");
}

TEST_CASE("a classifier's class names come from metadata 'labels', checked", "[model_load]") {
  test::TestModel tm;
  tm.classifier = true;
  tm.classes = 2;
  model::ModelFile f = test::make_model_file(tm);
  f.metadata["labels"] = R"(["negative","positive"])";
  const Model m = Model::from_file(f, {}, "classifier");
  CHECK(m.class_labels() == std::vector<std::string>{"negative", "positive"});
  f.metadata["labels"] = R"(["negative"])";
  CHECK_THROWS_AS(Model::from_file(f, {}, "classifier"), ModelError);
  f.metadata["labels"] = R"(["negative", 1])";
  CHECK_THROWS_WITH(Model::from_file(f, {}, "classifier"), Catch::Contains("'labels'"));
}

}  // namespace
}  // namespace hilq::runtime
