// hil-train: trains the FP teachers, runs LSQ/Squat QAT, evaluates and exports packed models.
// Parses the command line (CLI11, one subcommand each) and calls qat/commands.h.
// Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <cstdio>
#include <exception>
#include <fstream>
#include <optional>
#include <string>

#include "base/cli.h"
#include "db/database.h"
#include "db/run_store.h"
#include "qat/commands.h"
#include "qat/data.h"
#include "search/qat_evaluations.h"

namespace {

namespace qat = hilq::qat;

// --task lm|mlm|cls (every command takes all three, as before).
CLI::Option* add_task(CLI::App* cmd, std::string& task, const char* help) {
  return cmd->add_option("--task", task, help)
      ->type_name("TASK")
      ->required()
      ->check(CLI::IsMember({"lm", "mlm", "cls"}));
}

qat::Task to_task(const std::string& name) {
  return name == "cls" ? qat::Task::kCls : name == "mlm" ? qat::Task::kMlm : qat::Task::kLm;
}

// --step-init lsq (the paper: 2 mean|x| / sqrt(qmax)) or mse (start from the PTQ calibration).
void add_step_init(CLI::App* cmd, std::string& value) {
  cmd->add_option("--step-init", value,
                  "lsq (QAT steps from LSQ's formula, the default) or mse (the PTQ calibration)")
      ->type_name("lsq|mse")
      ->check(CLI::IsMember({"lsq", "mse"}));
}

// The training flags of train, qat and experiment; `all` adds the ones experiment does not take.
void add_train_flags(CLI::App* cmd, qat::TrainFlags& f, bool all) {
  const char* g = "Training";
  cmd->add_option("--steps", f.steps, "optimizer steps")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 30))
      ->group(g);
  cmd->add_option("--batch", f.batch, "sequences per step")
      ->type_name("B")
      ->check(CLI::Range(1, 1 << 30))
      ->group(g);
  cmd->add_option("--seq", f.seq, "window length (classifier: longest sentence kept)")
      ->type_name("T")
      ->check(CLI::Range(2, 1 << 30))
      ->group(g);
  cmd->add_option("--lr", f.lr, "peak learning rate")
      ->type_name("X")
      ->check(hilq::cli::number_in(0, 1e9, true))
      ->group(g);
  cmd->add_option("--warmup", f.warmup, "warm-up steps")->type_name("N")->group(g);
  cmd->add_option("--seed", f.seed, "seed")->type_name("S")->group(g);
  cmd->add_option("--log-every", f.log_every, "progress line period (0: silent)")
      ->type_name("N")
      ->group(g);
  if (!all) return;
  cmd->add_option("--ckpt-every", f.ckpt_every, "periodic checkpoint period (0: only at the end)")
      ->type_name("N")
      ->group(g);
  cmd->add_option("--weight-decay", f.weight_decay, "AdamW weight decay")->type_name("X")->group(g);
  cmd->add_option("--clip", f.clip, "gradient norm clip")->type_name("X")->group(g);
  cmd->add_option("--out", f.out, "checkpoint written here")->type_name("CKPT");
  cmd->add_option("--resume", f.resume, "continue CKPT (same flags: continues at the saved step)")
      ->type_name("CKPT")
      ->group(g);
  cmd->add_option("--stop-after", f.stop_after,
                  "stop after this step (the schedule still spans --steps)")
      ->type_name("N")
      ->group(g);
}

// Squat's loss: --entropy-form, --r-entropy, --r-distribution.
void add_squat_weights(CLI::App* cmd, qat::SquatWeights& w) {
  const char* g = "Squat loss";
  cmd->add_option("--entropy-form", w.entropy_form,
                  "L_E's variance: per-token (over head_dim of each token's Q/K, the default, as\n"
                  "the method's released code), per-head (over all tokens and dims of a head) or\n"
                  "per-token-float (per-token on Q/K before their quantizer: no rounding noise in\n"
                  "the variance, no gradient to the layer's own Q/K steps)")
      ->type_name("per-token|per-head|per-token-float")
      ->check(CLI::IsMember({"per-token", "per-head", "per-token-float"}))
      ->group(g);
  cmd->add_option("--r-entropy", w.r_entropy, "weight r_E of L_E (default 0.1; the paper: 0.5)")
      ->type_name("X")
      ->check(hilq::cli::number_in(0, 1e6, false))
      ->group(g);
  cmd->add_option("--r-distribution", w.r_distribution, "weight r_D of L_D (default 1)")
      ->type_name("X")
      ->check(hilq::cli::number_in(0, 1e6, false))
      ->group(g);
}

void add_threads(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads,
                  "kernel threads (default 1: on a shared 2-core machine OpenMP threads lose\n"
                  "more to waiting than they gain)")
      ->type_name("N");
}

void add_data(CLI::App* cmd, std::string& data_dir) {
  cmd->add_option("--data", data_dir, "data folder (default the setup folder)")->type_name("DIR");
}

// --folds K --fold F of train and qat: the cls cross-validation's fold F (hil-train experiment
// --folds writes these commands).
void add_fold(CLI::App* cmd, int& folds, int& fold) {
  CLI::Option* k =
      cmd->add_option("--folds", folds,
                      "cls: K-fold cross-validation over every labelled sentence; trains on the "
                      "other folds and tests on --fold (default 0: the fixed split)")
          ->type_name("K")
          ->check(CLI::Range(2, 1000));
  CLI::Option* f =
      cmd->add_option("--fold", fold, "cls: the held-out fold, 0 .. K-1 (with --folds)")
          ->type_name("F")
          ->check(CLI::Range(0, 999));
  f->needs(k);
  k->needs(f);
}

// The experiment with its rows in SQLite: a run of its own (the command line recorded), each
// finished row a candidate with its evaluations as it finishes (a crash loses no finished row),
// and rows.md written back from the rows (results.md/.json, the mean ± sd table, come from the
// experiment itself). results.tsv stays the live log.
int run_experiment_into_db(hilq::qat::ExperimentCommand experiment, const std::string& db_path,
                           int argc, char** argv) {
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  experiment.command_line = command_line;
  hilq::db::Database db(db_path);
  hilq::db::RunStore runs(db);
  const int64_t run_id = runs.create_run(command_line, std::nullopt);
  std::fprintf(stderr, "hil-train: experiment rows go to %s (run %lld)\n", db_path.c_str(),
               static_cast<long long>(run_id));
  experiment.sink = hilq::search::evaluations_sink(db, run_id, experiment.task);
  try {
    hilq::qat::run_experiment_command(experiment);
  } catch (const std::exception& e) {
    runs.finish_run(run_id, "failed", std::string(e.what()));
    throw;
  }
  runs.finish_run(run_id, "completed");
  const std::string md_path = experiment.out_dir + "/rows.md";
  std::ofstream md(md_path);
  md << hilq::search::experiment_markdown(db, run_id, experiment.task);
  if (!md) throw hilq::Error("cannot write " + md_path);
  return hilq::cli::kExitOk;
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Trains the FP teachers, runs LSQ/Squat QAT, evaluates and exports packed models.",
               "hil-train"};
  hilq::cli::configure(app);
  app.require_subcommand(1);
  app.footer("exit codes: 0 ok, 1 runtime error, 2 usage error");
  int threads = 1;
  std::string task, step_init = "lsq";
  const std::string data_dir = qat::default_data_dir();

  qat::TokenizerCommand tokenizer;
  tokenizer.data_dir = data_dir;
  CLI::App* tok_cmd = app.add_subcommand(
      "tokenizer", "train a byte-level BPE on the LM train split (saved as JSON)");
  tok_cmd->add_option("--out", tokenizer.out, "the tokenizer file (JSON)")
      ->type_name("FILE")
      ->required();
  tok_cmd->add_option("--vocab", tokenizer.vocab, "vocabulary size (default 4096)")->type_name("N");
  add_data(tok_cmd, tokenizer.data_dir);

  qat::TrainCommand train;
  train.data_dir = data_dir;
  CLI::App* train_cmd = app.add_subcommand(
      "train",
      "FP training: causal LM teacher, masked-token encoder pretraining, sentiment fine-tuning\n"
      "  train --task lm|mlm --tokenizer FILE --out CKPT [--model micro|tiny|small|FILE.json]\n"
      "  train --task mlm --init MLM_CKPT --corpus sentiment --out CKPT   (task-adaptive)\n"
      "  train --task cls --init MLM_CKPT --out CKPT");
  add_task(train_cmd, task, "lm (causal LM), mlm (masked-token encoder) or cls (fine-tuning)");
  train_cmd->add_option("--tokenizer", train.tokenizer, "the BPE (lm, mlm)")->type_name("FILE");
  train_cmd
      ->add_option("--init", train.init,
                   "the MLM checkpoint to fine-tune (cls) or to pretrain further (mlm)")
      ->type_name("MLM_CKPT");
  train_cmd
      ->add_option("--corpus", train.corpus,
                   "mlm: lm (the LM corpus, default) or sentiment (the text of the sentences cls\n"
                   "trains on with the same --folds/--fold, labels unused; needs --init)")
      ->type_name("NAME")
      ->check(CLI::IsMember({"lm", "sentiment"}));
  train_cmd->add_option("--model", train.model, "micro|tiny|small|FILE.json (default tiny)")
      ->type_name("MODEL");
  train_cmd
      ->add_option("--dropout", train.dropout,
                   "dropout probability (cls: while fine-tuning; default the encoder's)")
      ->type_name("P");
  train_cmd
      ->add_option(
          "--normalize", train.normalize,
          "cls: what the classifier's tokenizer does to text before encoding it, saved\n"
          "with the model: none, or a comma list of lowercase, prefix-space (default both)")
      ->type_name("STEPS");
  train_cmd
      ->add_option("--mask-fraction", train.mask_fraction,
                   "mlm: fraction of positions that become targets (default 0.15)")
      ->type_name("X");
  train_cmd->add_option("--eval-batches", "accepted for compatibility; not used")->type_name("N");
  add_train_flags(train_cmd, train.train, true);
  add_fold(train_cmd, train.folds, train.fold);
  add_threads(train_cmd, threads);
  add_data(train_cmd, train.data_dir);

  qat::QatCommand qat_c;
  qat_c.data_dir = data_dir;
  CLI::App* qat_cmd = app.add_subcommand(
      "qat",
      "quantization-aware training of a teacher:\n"
      "  qat --task lm|cls --teacher CKPT (--setting W4A8|W8A8|W4A4-TA8/4|W2A8|... | --quant "
      "FILE)");
  add_task(qat_cmd, task, "lm or cls");
  qat_cmd->add_option("--teacher", qat_c.teacher, "the FP checkpoint")
      ->type_name("CKPT")
      ->required();
  CLI::Option* setting =
      qat_cmd->add_option("--setting", qat_c.setting, "W4A8|W8A8|W4A4-TA8/4|W2A8|...")
          ->type_name("NAME");
  CLI::Option* quant =
      qat_cmd->add_option("--quant", qat_c.quant_file, "a quant config file instead of --setting")
          ->type_name("FILE");
  setting->excludes(quant);
  qat_cmd
      ->add_option("--method", qat_c.method,
                   "ptq|lsq|squat, or fp-ft with --setting FP32 (default squat)")
      ->type_name("METHOD");
  bool no_kd = false, no_entropy = false, no_distribution = false;
  qat_cmd->add_flag("--no-kd", no_kd, "Squat without knowledge distillation");
  qat_cmd->add_flag("--no-entropy", no_entropy, "Squat without the entropy term");
  qat_cmd->add_flag("--no-distribution", no_distribution, "Squat without the distribution term");
  qat_cmd->add_option("--calib-batches", qat_c.calib_batches, "calibration batches (default 8)")
      ->type_name("N");
  qat_cmd
      ->add_option("--eval-windows", qat_c.eval_windows,
                   "LM: validation windows scored, 0 = all (default 0)")
      ->type_name("N");
  add_step_init(qat_cmd, step_init);
  add_squat_weights(qat_cmd, qat_c.weights);
  add_train_flags(qat_cmd, qat_c.train, true);
  add_fold(qat_cmd, qat_c.folds, qat_c.fold);
  add_threads(qat_cmd, threads);
  add_data(qat_cmd, qat_c.data_dir);

  qat::EvalCommand eval;
  eval.data_dir = data_dir;
  CLI::App* eval_cmd =
      app.add_subcommand("eval", "perplexity (lm) or accuracy (cls) of a checkpoint, FP or QAT");
  add_task(eval_cmd, task, "lm or cls");
  eval_cmd->add_option("--checkpoint", eval.checkpoint, "the checkpoint")
      ->type_name("CKPT")
      ->required();
  eval_cmd->add_option("--split", eval.split, "validation|test (default validation)")
      ->type_name("SPLIT");
  eval_cmd->add_option("--seq", eval.seq, "window length (default 128; cls 96)")->type_name("T");
  eval_cmd->add_option("--batch", eval.batch, "sequences per batch (default 16)")->type_name("B");
  add_threads(eval_cmd, threads);
  add_data(eval_cmd, eval.data_dir);

  qat::ExportCommand exp;
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "packed integer weights + scales (kernels/pack.h); metadata: quant config, data_sha256,\n"
      "and class labels for classifiers (\"labels\": [\"negative\",\"positive\"])");
  export_cmd->add_option("--checkpoint", exp.checkpoint, "a checkpoint from hil-train qat")
      ->type_name("QAT_CKPT")
      ->required();
  export_cmd->add_option("--out", exp.out, "the packed model file")
      ->type_name("MODEL.safetensors")
      ->required();
  add_threads(export_cmd, threads);

  qat::ExperimentCommand experiment;
  experiment.data_dir = data_dir;
  CLI::App* experiment_cmd = app.add_subcommand("experiment",
                                                "the experiment table: FP, FP-FT, PTQ, LSQ, Squat, "
                                                "Squat-E, Squat-D per setting (same steps and "
                                                "seeds)");
  add_task(experiment_cmd, task, "lm or cls");
  experiment_cmd
      ->add_option("--teacher", experiment.teacher,
                   "the FP checkpoint (with --folds: the masked-token pretrained encoder)")
      ->type_name("CKPT")
      ->required();
  experiment_cmd
      ->add_option("--out", experiment.out_dir,
                   "results.md, results.json, results.tsv and rows.md go here")
      ->type_name("DIR")
      ->required();
  experiment_cmd
      ->add_option("--settings", experiment.settings,
                   "comma-separated (default W8A8,W4A8,W4A4-TA8/4@0.25,W4A4-TA8/4,\n"
                   "W4A4-TA8/4@0.75,W4A4,W3A4,W2A8,W4A8-E4: @f = fraction of 8-bit tokens)")
      ->type_name("LIST");
  experiment_cmd
      ->add_option(
          "--methods", experiment.methods,
          "comma-separated (default fp-ft,ptq,lsq,squat,squat-e,squat-d; fp-ft: the float "
          "teacher trained on with the same recipe, the control for a teacher that has not "
          "converged)")
      ->type_name("LIST");
  std::string experiment_db = "hil.db";
  experiment_cmd
      ->add_option("--db", experiment_db,
                   "SQLite file the rows go to, as a run's candidates and evaluations; rows.md "
                   "is written from them (default hil.db)")
      ->type_name("FILE");
  experiment_cmd
      ->add_option("--calib-batches", experiment.calib_batches, "calibration batches (default 8)")
      ->type_name("N");
  experiment_cmd
      ->add_option("--eval-windows", experiment.eval_windows,
                   "LM: validation windows scored, 0 = all (default 0)")
      ->type_name("N");
  experiment_cmd
      ->add_option("--seeds", experiment.seeds,
                   "runs per cell with seeds --seed .. --seed + N - 1; the table gives mean ± sd "
                   "(default 1)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  experiment_cmd
      ->add_option("--jobs", experiment.jobs,
                   "runs trained side by side, each on its own thread (default 1; with --threads "
                   "T a run uses T threads, so keep jobs x T at most the cores)")
      ->type_name("N")
      ->check(CLI::Range(1, 64));
  CLI::Option* resume_flag = experiment_cmd->add_flag(
      "--resume", experiment.resume,
      "keep the runs already in --out/results.json (the same recipe: steps, "
      "batch, lr, seed, loss...; --seeds and the lists may grow) and run "
      "only the missing ones");
  experiment_cmd
      ->add_flag("--tables-only", experiment.tables_only,
                 "with --resume: rewrite results.md/json from the runs in --out/results.json "
                 "that --settings, --methods and --seeds select, and run nothing (the table "
                 "of an experiment still running, or after an upgrade); no database run")
      ->needs(resume_flag);
  experiment_cmd
      ->add_option("--eval-every", experiment.eval_every,
                   "LM: validation perplexity every N QAT steps over --eval-windows windows (64 "
                   "when 0), logged and kept in results.md (default 0: off)")
      ->type_name("N")
      ->check(CLI::Range(0, 1 << 30));
  experiment_cmd
      ->add_option("--folds", experiment.folds,
                   "cls: K-fold cross-validation over every labelled sentence: --teacher is the "
                   "masked-token pretrained encoder, each fold's FP teacher is fine-tuned from it "
                   "on the other folds (--ft-*) and every run is tested on the held-out fold "
                   "(default 0: the fixed split)")
      ->type_name("K")
      ->check(CLI::Range(2, 1000));
  experiment_cmd->add_option("--ft-steps", experiment.ft_steps, "fold teachers: steps (300)")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 30));
  experiment_cmd->add_option("--ft-batch", experiment.ft_batch, "fold teachers: batch (32)")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 20));
  experiment_cmd->add_option("--ft-lr", experiment.ft_lr, "fold teachers: peak lr (5e-4)")
      ->type_name("X")
      ->check(CLI::PositiveNumber);
  experiment_cmd->add_option("--ft-warmup", experiment.ft_warmup, "fold teachers: warm-up (50)")
      ->type_name("N")
      ->check(CLI::Range(0, 1 << 30));
  experiment_cmd
      ->add_option("--ft-normalize", experiment.ft_normalize,
                   "fold teachers: their tokenizer's text normalization (lowercase,prefix-space)")
      ->type_name("STEPS");
  add_step_init(experiment_cmd, step_init);
  add_squat_weights(experiment_cmd, experiment.weights);
  add_train_flags(experiment_cmd, experiment.train, false);
  add_threads(experiment_cmd, threads);
  add_data(experiment_cmd, experiment.data_dir);

  // `hil-train help` prints the help too.
  CLI::App* help_cmd = app.add_subcommand("help", "this text")->group("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  if (help_cmd->parsed()) {  // app.help() would show the help subcommand's own help
    std::fputs(
        app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal).c_str(),
        stdout);
    return hilq::cli::kExitOk;
  }
  try {
    qat::prepare_process(threads);
    train.task = eval.task = qat_c.task = experiment.task = to_task(task);
    qat_c.mse_init = experiment.mse_init = step_init == "mse";
    qat_c.kd = !no_kd;
    qat_c.entropy = !no_entropy;
    qat_c.distribution = !no_distribution;
    if (tok_cmd->parsed()) return qat::run_tokenizer(tokenizer);
    if (train_cmd->parsed()) return qat::run_train(train);
    if (eval_cmd->parsed()) return qat::run_eval(eval);
    if (export_cmd->parsed()) return qat::run_export(exp);
    if (qat_cmd->parsed()) return qat::run_qat(qat_c);
    if (experiment.tables_only) return qat::run_experiment_command(experiment);
    return run_experiment_into_db(experiment, experiment_db, argc, argv);
  } catch (const std::exception& e) {
    const int code = hilq::cli::exit_code(e);
    std::fprintf(stderr,
                 code == hilq::cli::kExitUsage ? "hil-train: %s\n(run hil-train --help)\n"
                                               : "hil-train: %s\n",
                 e.what());
    return code;
  }
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-train", [&] { return run(argc, argv); });
}
