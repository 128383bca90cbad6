// petrel synth --shape NAME --type TYPE -o OUT.gguf: write a random-weight model of a named
// shape directly in a file type, with progress on stderr.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "petrel/tools.h"

namespace petrel::cli {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

void run_synth(const tools::SynthOptions& base, bool quiet) {
  tools::SynthOptions opt = base;
  if (!quiet) {
    opt.progress = [](size_t done, size_t total, const std::string& what) {
      if (total == 0) {
        std::fprintf(stderr, "%s\n", what.c_str());
      } else {
        std::fprintf(stderr, "[%zu/%zu] %s\n", done, total, what.c_str());
      }
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  tools::synth_model(opt);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "synth: wrote %s (%s, %s, seed %llu) in %.1f s\n", opt.out_path.c_str(),
               opt.shape.c_str(), opt.ftype.c_str(), static_cast<unsigned long long>(opt.seed), s);
}

void add_synth(CLI::App& app) {
  auto opt = std::make_shared<tools::SynthOptions>();
  auto quiet = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model of a named shape");
  cmd->add_option("--shape", opt->shape, "shape: " + join(tools::synth_shapes()))->required();
  cmd->add_option("--type", opt->ftype, "file type: " + join(tools::quantize_ftypes()))->required();
  cmd->add_option("-o,--output", opt->out_path, "output model (.gguf)")->required();
  cmd->add_option("--seed", opt->seed, "random seed")->capture_default_str();
  cmd->add_option("--vocab", opt->vocab_path, "copy the tokenizer from this GGUF")
      ->check(CLI::ExistingFile);
  cmd->add_option("-t,--threads", opt->n_threads, "threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("-q,--quiet", *quiet, "no per-tensor progress");
  cmd->callback([opt, quiet] { run_synth(*opt, *quiet); });
}

}  // namespace

PETREL_REGISTER_COMMAND(70, add_synth);

}  // namespace petrel::cli
