// petrel quantize IN.gguf OUT.gguf TYPE: write an F32/F16/BF16 model in a llama.cpp file
// type, printing "[12/291] blk.3.ffn_up.weight Q4_K" progress to stderr.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/command.h"
#include "petrel/tools.h"

namespace petrel::cli {
namespace {

struct QuantizeArgs {
  std::string in, out, type;
  int threads = 0;
  bool quiet = false;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

void run_quantize(const QuantizeArgs& a) {
  tools::QuantizeOptions opt;
  opt.ftype = a.type;
  opt.n_threads = a.threads;
  if (!a.quiet) {
    opt.progress = [](size_t done, size_t total, const std::string& what) {
      std::fprintf(stderr, "[%zu/%zu] %s\n", done, total, what.c_str());
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  tools::quantize_model(a.in, a.out, opt);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::error_code ec;
  const auto in_bytes = std::filesystem::file_size(a.in, ec);
  const auto out_bytes = std::filesystem::file_size(a.out, ec);
  std::fprintf(stderr, "quantize: wrote %s (%s, %.1f MiB -> %.1f MiB) in %.1f s\n", a.out.c_str(),
               a.type.c_str(), static_cast<double>(in_bytes) / (1 << 20),
               static_cast<double>(out_bytes) / (1 << 20), s);
}

void add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand(
      "quantize", "Quantize an F32/F16/BF16 model (" + join(tools::quantize_ftypes()) + ")");
  cmd->add_option("input", a->in, "input model (.gguf)")->required()->check(CLI::ExistingFile);
  cmd->add_option("output", a->out, "output model (.gguf)")->required();
  cmd->add_option("type", a->type, "file type: " + join(tools::quantize_ftypes()))->required();
  cmd->add_option("-t,--threads", a->threads, "threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("-q,--quiet", a->quiet, "no per-tensor progress");
  cmd->callback([a] { run_quantize(*a); });
}

}  // namespace

PETREL_REGISTER_COMMAND(60, add_quantize);

}  // namespace petrel::cli
