// Model throughput runs: one model loaded at a time, one session per thread count, sized
// for the largest test; each repeat starts from an empty cache (truncate(0)).
#include "bench/lib/model_bench.h"

#include <algorithm>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>

#include "bench/lib/units.h"
#include "petrel/tools.h"

namespace petrel::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string default_label(const ModelInfo& info) {
  std::string s = info.arch.empty() ? "model" : info.arch;
  if (info.n_params > 0) s += " " + params_label(info.n_params);
  if (!info.file_type.empty()) s += " " + info.file_type;
  return s;
}

std::vector<TokenId> random_tokens(int n, int n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(0, std::max(0, n_vocab - 1));
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (auto& v : t) v = dist(rng);
  return t;
}

// Seconds for one run of the test from an empty cache.
double run_once(Session& s, const ModelTest& test, const std::vector<TokenId>& tokens) {
  s.truncate(0);
  const auto t0 = Clock::now();
  if (test.kind == TestKind::kPrompt) {
    s.eval(tokens, false);
  } else {
    for (int i = 0; i < test.n_tokens; ++i) s.eval({tokens[static_cast<size_t>(i)]}, false);
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

Summary ModelResult::tps() const {
  const double n = n_tokens;
  return summarize_mapped(seconds, [n](double s) { return n / s; });
}

Summary ModelResult::gbps() const {
  if (kind != TestKind::kGen) return {};
  const double f = static_cast<double>(n_tokens) * static_cast<double>(bytes_per_token) / 1e9;
  return summarize_mapped(seconds, [f](double s) { return f / s; });
}

std::vector<ModelResult> run_model_bench(const ModelBenchOptions& opt) {
  if (opt.models.empty()) throw Error("bench: no model given (-m FILE or --synthetic SHAPE)");
  if (opt.repeats < 1)
    throw Error("bench: repeats must be >= 1, got " + std::to_string(opt.repeats));
  auto say = [&](const std::string& m) {
    if (opt.progress) opt.progress(m);
  };
  std::vector<ModelResult> out;
  for (size_t mi = 0; mi < opt.models.size(); ++mi) {
    const std::string& path = opt.models[mi];
    const auto tests = cross_product({path}, opt.n_prompt, opt.n_gen, opt.threads);
    if (tests.empty()) continue;
    say("bench: loading " + path);
    auto model = Model::load(path, opt.model_options);
    const ModelInfo& info = model->info();
    const std::string label =
        mi < opt.labels.size() && !opt.labels[mi].empty() ? opt.labels[mi] : default_label(info);
    std::map<int, std::vector<ModelTest>> by_threads;
    std::vector<int> thread_order;
    for (const auto& t : tests) {
      if (!by_threads.count(t.threads)) thread_order.push_back(t.threads);
      by_threads[t.threads].push_back(t);
    }
    for (int th : thread_order) {
      const auto& group = by_threads[th];
      int max_tokens = 1, max_prompt = 1;
      for (const auto& t : group) {
        max_tokens = std::max(max_tokens, t.n_tokens);
        if (t.kind == TestKind::kPrompt) max_prompt = std::max(max_prompt, t.n_tokens);
      }
      SessionOptions so;
      so.n_ctx = max_tokens;
      so.n_threads = resolve_threads(th);
      so.n_batch = max_prompt;
      auto session = Session::create(*model, so);
      for (const auto& test : group) {
        ModelResult r;
        r.model_path = path;
        r.model = label;
        r.size_bytes = info.weight_bytes > 0 ? info.weight_bytes : info.file_bytes;
        r.n_params = info.n_params;
        r.backend = session->backend_name();
        r.gpu_bytes = session->device_bytes_used();
        r.threads = so.n_threads;
        r.test = test.name();
        r.kind = test.kind;
        r.n_tokens = test.n_tokens;
        r.bytes_per_token = model->bytes_per_token();
        const auto tokens = random_tokens(test.n_tokens, model->n_vocab(), opt.seed);
        say(strf("bench: %s, %d threads, %s: warm-up", label.c_str(), r.threads, r.test.c_str()));
        ModelTest warm = test;
        if (warm.kind == TestKind::kGen) warm.n_tokens = 1;  // llama-bench warms tg with one token
        // repeated until kWarmSeconds have passed: a GPU idle through the model load runs
        // its first short passes at idle clocks (an H100 pp512 repeat at 2/3 speed)
        constexpr double kWarmSeconds = 0.25;
        for (double spent = 0; spent < kWarmSeconds;) spent += run_once(*session, warm, tokens);
        for (int rep = 0; rep < opt.repeats; ++rep) {
          say(strf("bench: %s, %d threads, %s: repeat %d/%d", label.c_str(), r.threads,
                   r.test.c_str(), rep + 1, opt.repeats));
          r.seconds.push_back(run_once(*session, test, tokens));
        }
        r.peak_rss = peak_rss_bytes();
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

Table model_table(const std::vector<ModelResult>& results) {
  Table t;
  t.columns = {{"model", "model"},
               {"model_path", "path", Align::kLeft, Shown::kMachine},
               {"size_bytes", "size", Align::kRight},
               {"n_params", "params", Align::kRight},
               {"backend", "backend"},
               {"threads", "threads", Align::kRight},
               {"test", "test", Align::kRight},
               {"n_tokens", "", Align::kRight, Shown::kMachine},
               {"tps", "t/s", Align::kRight, Shown::kHuman},
               {"tps_median", "", Align::kRight, Shown::kMachine},
               {"tps_mean", "", Align::kRight, Shown::kMachine},
               {"tps_sd", "", Align::kRight, Shown::kMachine},
               {"tps_min", "", Align::kRight, Shown::kMachine},
               {"tps_max", "", Align::kRight, Shown::kMachine},
               {"gbps", "GB/s", Align::kRight},
               {"bytes_per_token", "", Align::kRight, Shown::kMachine},
               {"peak_rss_bytes", "peak RSS", Align::kRight},
               {"repeats", "", Align::kRight, Shown::kMachine}};
  const bool any_gpu = std::any_of(results.begin(), results.end(),
                                   [](const ModelResult& r) { return r.gpu_bytes > 0; });
  if (any_gpu) t.columns.push_back({"gpu_bytes", "GPU mem", Align::kRight});
  for (const auto& r : results) {
    const Summary tps = r.tps(), gb = r.gbps();
    const Cell gbps = r.kind == TestKind::kGen ? Cell::num(gb.median, 2) : Cell::none();
    std::vector<Cell> row{r.model, r.model_path, Cell(format_size(r.size_bytes), r.size_bytes),
               Cell(format_params(r.n_params), r.n_params), r.backend, Cell::integer(r.threads),
               r.test, Cell::integer(r.n_tokens), format_pm(tps.median, tps.sd),
               Cell::num(tps.median, 3), Cell::num(tps.mean, 3), Cell::num(tps.sd, 3),
               Cell::num(tps.min, 3), Cell::num(tps.max, 3), gbps,
               Cell::integer(static_cast<int64_t>(r.bytes_per_token)),
               Cell(format_size(r.peak_rss), r.peak_rss), Cell::integer(tps.n)};
    if (any_gpu) row.push_back(Cell(format_size(r.gpu_bytes), r.gpu_bytes));
    t.add_row(std::move(row));
  }
  return t;
}

std::vector<BarChart> model_charts(const std::vector<ModelResult>& results) {
  std::vector<BarChart> charts;
  bool several_threads = false;
  for (const auto& r : results) several_threads |= r.threads != results.front().threads;
  for (TestKind kind : {TestKind::kPrompt, TestKind::kGen}) {
    BarChart c;
    c.title = kind == TestKind::kPrompt
                  ? "Prompt processing (one batch into an empty cache)"
                  : "Text generation (one token at a time from an empty cache)";
    c.y_label = "tokens/s";
    std::map<std::string, size_t> gidx, sidx;
    for (const auto& r : results) {
      if (r.kind != kind) continue;
      const std::string sname =
          several_threads ? strf("%s, %d threads", r.model.c_str(), r.threads) : r.model;
      if (!gidx.count(r.test)) {
        gidx[r.test] = c.groups.size();
        c.groups.push_back(r.test);
      }
      if (!sidx.count(sname)) {
        sidx[sname] = c.series.size();
        c.series.push_back({sname, {}, {}, {}});
      }
    }
    if (c.groups.empty()) continue;
    for (auto& s : c.series) {
      s.values.assign(c.groups.size(), NAN);
      s.lo.assign(c.groups.size(), NAN);
      s.hi.assign(c.groups.size(), NAN);
    }
    for (const auto& r : results) {
      if (r.kind != kind) continue;
      const std::string sname =
          several_threads ? strf("%s, %d threads", r.model.c_str(), r.threads) : r.model;
      const size_t s = sidx[sname], g = gidx[r.test];
      const Summary tps = r.tps();
      c.series[s].values[g] = tps.median;
      c.series[s].lo[g] = tps.min;
      c.series[s].hi[g] = tps.max;
    }
    charts.push_back(std::move(c));
  }
  return charts;
}

SyntheticModel::SyntheticModel(const std::string& shape, const std::string& ftype, int n_threads,
                               const ProgressFn& progress) {
  namespace fs = std::filesystem;
  std::string up = ftype;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  label_ = shape + " " + up + " (synthetic)";
  path_ = (fs::temp_directory_path() / strf("petrel-bench-%d-%s-%s.gguf",
                                            static_cast<int>(getpid()), shape.c_str(), up.c_str()))
              .string();
  if (progress)
    progress("bench: writing synthetic " + shape + " " + up + " to " + path_ +
             " (deleted afterwards)");
  tools::SynthOptions o;
  o.shape = shape;
  o.ftype = up;
  o.out_path = path_;
  o.n_threads = n_threads;
  int last_quarter = -1;
  if (progress) {
    o.progress = [&progress, &last_quarter](size_t done, size_t total, const std::string&) {
      const int quarter = total > 0 ? static_cast<int>(4 * done / total) : 4;
      if (quarter != last_quarter) {
        last_quarter = quarter;
        progress(strf("bench: synth %d%%", quarter * 25));
      }
    };
  }
  try {
    tools::synth_model(o);
  } catch (...) {
    std::error_code ec;
    fs::remove(path_, ec);
    throw;
  }
}

SyntheticModel::~SyntheticModel() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace petrel::bench
