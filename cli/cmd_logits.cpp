// petrel logits: run a prompt and print the top-N logits after every position as JSON.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "cli/command.h"
#include "cli/common.h"

namespace petrel::cli {
namespace {

struct LogitsArgs {
  ModelArgs m;
  std::string prompt, file;
  int top = 10;
  bool json = true;
};

void run_logits(const LogitsArgs& a) {
  if (a.prompt.empty() && a.file.empty()) throw CliError("logits: give a prompt with -p TEXT or -f FILE");
  auto model = Model::load(a.m.model, model_options(a.m));
  SessionOptions so;
  so.n_ctx = a.m.ctx;
  so.n_threads = a.m.threads;
  auto session = Session::create(*model, so);
  auto tokens = model->tokenize(prompt_text(a.prompt, a.file), true, true);
  if (tokens.empty()) throw CliError("logits: the prompt has no tokens");
  session->eval(tokens, true);
  const int nv = model->n_vocab();
  const int top = std::clamp(a.top, 1, nv);
  nlohmann::json out;
  out["tokens"] = tokens;
  out["top"] = nlohmann::json::array();
  std::vector<int> idx(nv);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const float* l = session->logits(static_cast<int>(i));
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + top, idx.end(),
                      [&](int x, int y) { return l[x] > l[y] || (l[x] == l[y] && x < y); });
    nlohmann::json row = nlohmann::json::array();
    for (int k = 0; k < top; ++k) row.push_back({idx[k], l[idx[k]]});
    out["top"].push_back(row);
  }
  std::printf("%s\n", out.dump().c_str());
}

void add_logits(CLI::App& app) {
  auto a = std::make_shared<LogitsArgs>();
  auto* cmd = app.add_subcommand("logits", "Print the top-N logits after every prompt position (JSON)");
  add_model_args(cmd, a->m);
  add_prompt_args(cmd, a->prompt, a->file);
  cmd->add_option("--top", a->top, "logits per position")->capture_default_str();
  cmd->add_flag("--json", a->json, "JSON output (the only format; accepted for symmetry)");
  cmd->callback([a] { run_logits(*a); });
}

}  // namespace

PETREL_REGISTER_COMMAND(50, add_logits);

}  // namespace petrel::cli
