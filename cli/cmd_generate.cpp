// petrel generate: stream a continuation of a prompt, then one stats line on stderr
// (or one JSON object with --json).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"

namespace petrel::cli {
namespace {

struct GenerateArgs {
  ModelArgs m;
  std::string prompt, file, overflow = "error";
  int n = 128;
  SamplingParams s;
  std::vector<std::string> stop;
  bool json = false;
};

void run_generate(const GenerateArgs& a) {
  if (a.prompt.empty() && a.file.empty()) throw CliError("generate: give a prompt with -p TEXT or -f FILE");
  if (a.n < 0) throw CliError("-n must be >= 0");
  const auto t0 = std::chrono::steady_clock::now();
  auto model = Model::load(a.m.model, model_options(a.m));
  SessionOptions so;
  so.n_ctx = a.m.ctx;
  so.n_threads = a.m.threads;
  auto session = Session::create(*model, so);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "petrel: %s loaded in %.0f ms on %s\n", model->info().path.c_str(), load_ms,
               session->backend_name().c_str());
  auto prompt = model->tokenize(prompt_text(a.prompt, a.file), true, true);
  GenerateOptions go;
  go.n_predict = a.n;
  go.sampling = a.s;
  go.stop = a.stop;
  const int room = session->n_ctx() - static_cast<int>(prompt.size());
  if (room < 1)
    throw CliError("the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                   std::to_string(session->n_ctx()) + " (raise it with -c)");
  if (a.n > room) {
    if (a.overflow != "stop")
      throw CliError("prompt (" + std::to_string(prompt.size()) + " tokens) + -n " + std::to_string(a.n) +
                     " exceeds the context of " + std::to_string(session->n_ctx()) +
                     "; raise -c, lower -n, or pass --ctx-overflow stop to end at the context limit");
    go.n_predict = room;
  }
  auto on_text = [&](const std::string& t) {
    if (!a.json) {
      std::fwrite(t.data(), 1, t.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  GenerateResult r = generate(*model, *session, prompt, go, on_text);
  r.timings.load_ms = load_ms;
  const auto& tm = r.timings;
  const double pp = tm.prompt_ms > 0 ? tm.n_prompt * 1000.0 / tm.prompt_ms : 0;
  const double tg = tm.gen_ms > 0 ? tm.n_gen * 1000.0 / tm.gen_ms : 0;
  if (a.json) {
    nlohmann::json j;
    j["tokens"] = r.tokens;
    j["text"] = r.text;
    j["finish_reason"] = finish_reason_name(r.finish);
    j["timings"] = {{"load_ms", tm.load_ms},     {"prompt_tokens", tm.n_prompt},
                    {"prompt_ms", tm.prompt_ms}, {"prompt_tps", pp},
                    {"gen_tokens", tm.n_gen},    {"gen_ms", tm.gen_ms},
                    {"gen_tps", tg},             {"peak_rss_bytes", peak_rss_bytes()},
                    {"device_bytes", session->device_bytes_used()}};
    j["backend"] = session->backend_name();
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  std::fprintf(stderr,
               "load %.0f ms | prompt %d tokens, %.1f t/s | generated %d tokens, %.1f t/s | "
               "finish %s | peak RSS %.1f MiB | %s\n",
               tm.load_ms, tm.n_prompt, pp, tm.n_gen, tg, finish_reason_name(r.finish),
               peak_rss_bytes() / 1048576.0, session->backend_name().c_str());
}

void add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt");
  add_model_args(cmd, a->m);
  add_prompt_args(cmd, a->prompt, a->file);
  cmd->add_option("-n,--n-predict", a->n, "tokens to generate")->capture_default_str();
  cmd->add_option("--temp", a->s.temperature, "temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--top-k", a->s.top_k, "top-k (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", a->s.top_p, "top-p (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", a->s.min_p, "min-p (0 = off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", a->s.repeat_penalty, "repeat penalty (1 = off)")->capture_default_str();
  cmd->add_option("--repeat-last-n", a->s.repeat_last_n, "tokens the penalties look back on")->capture_default_str();
  cmd->add_option("--presence-penalty", a->s.presence_penalty, "presence penalty")->capture_default_str();
  cmd->add_option("--frequency-penalty", a->s.frequency_penalty, "frequency penalty")->capture_default_str();
  cmd->add_option("--seed", a->s.seed, "random seed")->capture_default_str();
  cmd->add_option("--stop", a->stop, "stop string (repeatable)");
  cmd->add_option("--ctx-overflow", a->overflow, "when prompt + n exceeds the context: error | stop")
      ->check(CLI::IsMember({"error", "stop"}))->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace

PETREL_REGISTER_COMMAND(40, add_generate);

}  // namespace petrel::cli
