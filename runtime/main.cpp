// hil-run: runs a packed model on this machine's MKMP kernels. Parses the command line (CLI11)
// into RunModelOptions and calls run_model() (runtime/run_model.h).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/cli.h"
#include "kernels/isa.h"
#include "model/setting.h"
#include "runtime/run_model.h"

namespace {

// "1,2,3" -> token ids; nullopt names the first item that is not one.
std::vector<int32_t> parse_ids(const std::string& text, std::string* bad) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0 || v > INT32_MAX) {
      *bad = "'" + item + "' is not a token id";
      return {};
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) *bad = "is empty";
  return ids;
}

const CLI::Validator kIds(
    [](std::string& value) -> std::string {
      std::string bad;
      parse_ids(value, &bad);
      return bad;
    },
    "");

const CLI::Validator kIsa(
    [](std::string& value) -> std::string {
      if (hilq::kernels::isa_from_name(value)) return {};
      return value +
             " is not a kernel path (ref, avx2, avxvnni, avx512vnni, amx, neon, dotprod, i8mm)";
    },
    "");

}  // namespace

namespace {

int run(int argc, char** argv) {
  hilq::runtime::RunModelOptions o;
  o.context.threads = 1;
  CLI::App app{
      R"(Runs a hilq model file (hilq.packed.v1 from `hil-train export`, or a float checkpoint) on this
machine's MKMP kernels.)",
      "hil-run"};
  hilq::cli::configure(app);
  app.footer(
      "Exit codes: 0 ok, 1 runtime error (unreadable or invalid model, ...), 2 usage error.");

  app.add_option("--model", o.model_path, "the model file")->type_name("FILE")->required();

  const char* gen = "Generation (causal LM) and classification";
  std::string prompt, ids;
  app.add_option("--prompt", prompt, "text to continue (LM) or to classify (classifier)")
      ->type_name("TEXT")
      ->group(gen);
  app.add_option("--ids", ids, "token ids instead of text")
      ->type_name("1,2,3")
      ->check(kIds)
      ->group(gen);
  app.add_option("--max-tokens", o.max_tokens,
                 "tokens to generate (default 32; stops early when the context is full)")
      ->type_name("N")
      ->check(CLI::Range(0, 1 << 22))
      ->group(gen);
  app.add_option("--temperature", o.temperature,
                 "0 = greedy (default); > 0 samples from softmax(logits / T)")
      ->type_name("T")
      ->check(hilq::cli::number_in(0, HUGE_VAL))
      ->group(gen);
  app.add_option("--seed", o.seed, "sampling seed (default 1)")
      ->type_name("S")
      ->check(CLI::Range(uint64_t{0}, uint64_t{INT64_MAX}))
      ->group(gen);
  app.add_flag("--show-ids", o.show_ids, "also print the generated token ids")->group(gen);

  const char* lat = "Latency (prefill and decode figures)";
  app.add_flag("--bench", o.bench, "prefill of a prompt + timed token-by-token decode, repeated")
      ->group(lat);
  app.add_option("--prompt-tokens", o.prompt_tokens, "prompt length (default 128)")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 20))
      ->group(lat);
  app.add_option("--decode-tokens", o.decode_tokens, "decoded tokens per run (default 128)")
      ->type_name("N")
      ->check(CLI::Range(0, 1 << 20))
      ->group(lat);
  app.add_option("--runs", o.runs,
                 "at least N timed runs (default 3), and at least --min-time seconds")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 20))
      ->group(lat);
  app.add_option("--min-time", o.min_time_s, "(default 1.0)")
      ->type_name("S")
      ->check(hilq::cli::number_in(0, HUGE_VAL))
      ->group(lat);
  app.add_flag("--json", o.json, "print the result as JSON")->group(lat);

  const char* mk = "Model and kernels";
  std::string weights, quant_config, setting_name, float_storage = "fp32";
  app.add_option("--weights", weights,
                 "as-stored (default) | fp32 | fp16: the FP32 / FP16-storage baselines\n"
                 "of the same model (packed weights dequantized, activations float)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"as-stored", "fp32", "fp16"}))
      ->group(mk);
  app.add_option("--float-storage", float_storage,
                 "hold the float parts of a quantized model (embedding / LM head) in\n"
                 "fp16 storage (default fp32: exactly what QAT simulated)")
      ->type_name("fp16")
      ->check(CLI::IsMember({"fp32", "fp16"}))
      ->group(mk);
  CLI::Option* quant =
      app.add_option("--quant-config", quant_config,
                     "quantize a float model on load (JSON text or @file; absmax weight\n"
                     "scales, dynamic activation scales) - for latency of any candidate")
          ->type_name("JSON")
          ->group(mk);
  CLI::Option* setting =
      app.add_option("--setting", setting_name,
                     "the same for a uniform setting: W8A8, W4A8, W4A4-TA8/4, W2A8g64, ...")
          ->type_name("NAME")
          ->group(mk);
  setting->excludes(quant);
  app.add_option("--context", o.max_context, "KV cache capacity (default: the model's max_seq)")
      ->type_name("N")
      ->check(CLI::Range(0, 1 << 22))
      ->group(mk);
  app.add_option("--threads", o.context.threads, "kernel threads (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024))
      ->group(mk);
  app.add_option(
         "--isa", o.context.isa,
         "force a kernel path at most this good (ref, avx2, avxvnni, avx512vnni, amx, neon,\n"
         "dotprod, i8mm); also $HILQ_ISA")
      ->type_name("NAME")
      ->check(kIsa)
      ->group(mk);
  app.add_option("--int4", o.context.int4, "W4A4 kernel family; also $HILQ_INT4")
      ->type_name("dot|cat")
      ->check(CLI::IsMember({"dot", "cat"}))
      ->group(mk);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  if (app.count("--prompt")) o.prompt = prompt;
  if (app.count("--ids")) {
    std::string bad;
    o.ids = parse_ids(ids, &bad);
  }
  o.load.weights = hilq::runtime::weights_mode_from_name(weights);
  o.load.float_fp16 = float_storage == "fp16";
  o.load.quant_config = quant_config;
  if (!quant_config.empty() && quant_config[0] == '@') {  // --quant-config @file
    std::ifstream f(quant_config.substr(1));
    if (!f) {
      std::fprintf(stderr, "hil-run: cannot read %s\n", quant_config.substr(1).c_str());
      return hilq::cli::kExitUsage;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    o.load.quant_config = ss.str();
  }
  try {
    if (!setting_name.empty()) o.load.setting = hilq::model::Setting::parse(setting_name);
    return hilq::runtime::run_model(o);
  } catch (const std::exception& e) {
    const int code = hilq::cli::exit_code(e);
    std::fprintf(stderr, code == hilq::cli::kExitUsage ? "hil-run: %s\n" : "hil-run: error: %s\n",
                 e.what());
    return code;
  }
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-run", [&] { return run(argc, argv); });
}
