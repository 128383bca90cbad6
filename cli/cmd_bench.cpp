// petrel bench: model throughput (pp/tg, llama-bench style), `bench kernels` (matmul
// throughput per block type and ISA) and `bench memory` (read/copy bandwidth). Tables go to
// stdout; progress goes to stderr unless -q; --plot writes an SVG (or HTML around it).
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>

#include "bench/lib/kernel_bench.h"
#include "bench/lib/memory_bench.h"
#include "bench/lib/model_bench.h"
#include "bench/lib/params.h"
#include "bench/lib/svg.h"
#include "bench/lib/table.h"
#include "bench/lib/vk_bench.h"
#include "cli/command.h"
#include "cli/common.h"

namespace petrel::cli {
namespace {

using namespace petrel::bench;

struct CommonArgs {
  std::string device = "cpu";
  std::string output = "md";
  std::string plot;
  int repeats = 5;
  bool quiet = false;
};

struct ModelBenchArgs {
  CommonArgs c;
  std::vector<std::string> models, synthetic, types, n_prompt{"512"}, n_gen{"128"}, threads{"0"};
  int gpu_layers = -1;
  uint64_t seed = 1234;
};

struct KernelArgs {
  CommonArgs c;
  std::string types = "all", shape = "4096x14336", isa, op = "both";
  int batch = 512, threads = 0;
  double min_time = 0.2, bandwidth = 0, max_case = 20;
  int working_set_mib = 0;
};

struct MemoryArgs {
  CommonArgs c;
  int size_mib = 1024, threads = 0;
};

void add_common(CLI::App* cmd, CommonArgs& c, bool with_plot) {
  cmd->add_option("--device", c.device, "cpu, vulkan or vulkan:N (bench memory: also all)")
      ->capture_default_str();
  cmd->add_option("-o,--output", c.output, "table format: md, json or csv")->capture_default_str();
  cmd->add_option("-r,--repetitions", c.repeats, "repeats per test (the median is quoted)")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", c.quiet, "no progress on stderr");
  if (with_plot)
    cmd->add_option("--plot", c.plot,
                    "also write the results as a bar chart: FILE.svg or FILE.html");
}

ProgressFn progress_printer(bool quiet) {
  if (quiet) return nullptr;
  return [](const std::string& m) {
    std::fprintf(stderr, "%s\n", m.c_str());
    std::fflush(stderr);
  };
}

ModelOptions parse_device(const std::string& device, int gpu_layers) {
  ModelArgs a;
  a.device = device;
  a.gpu_layers = gpu_layers;
  return model_options(a);
}

void print_table(const Table& t, const std::string& format) {
  const std::string s = format_table(t, parse_output_format(format));
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void write_plot(const std::string& path, const std::vector<BarChart>& charts,
                const std::string& title, bool quiet) {
  if (path.empty()) return;
  const std::string svg =
      render_svg(charts, title, "bars: median of repeats; whiskers: min to max");
  const bool html = path.size() >= 5 && path.compare(path.size() - 5, 5, ".html") == 0;
  std::ofstream f(path, std::ios::binary);
  if (!f) throw CliError("--plot: cannot write '" + path + "'");
  f << (html ? wrap_html(svg, title) : svg);
  f.close();
  if (!f) throw CliError("--plot: writing '" + path + "' failed");
  if (!quiet) std::fprintf(stderr, "bench: wrote %s\n", path.c_str());
}

void validate_common(const CommonArgs& c) {
  parse_output_format(c.output);
  if (c.repeats < 1)
    throw CliError("-r: repetitions must be >= 1, got " + std::to_string(c.repeats));
}

void run_model(const ModelBenchArgs& a) {
  validate_common(a.c);
  const auto models = split_list(a.models);
  const auto shapes = split_list(a.synthetic);
  if (models.empty() && shapes.empty())
    throw CliError("bench: give a model with -m FILE or --synthetic SHAPE");
  if (!a.types.empty() && shapes.empty())
    throw CliError("bench: --type goes with --synthetic SHAPE");
  ModelBenchOptions o;
  o.n_prompt = parse_int_list(a.n_prompt, "-p");
  o.n_gen = parse_int_list(a.n_gen, "-n");
  o.threads = parse_int_list(a.threads, "-t");
  if (o.threads.empty()) o.threads = {0};
  o.repeats = a.c.repeats;
  o.seed = a.seed;
  o.model_options = parse_device(a.c.device, a.gpu_layers);
  o.progress = progress_printer(a.c.quiet);
  o.models = models;
  o.labels.assign(models.size(), "");
  std::vector<ModelResult> results =
      models.empty() ? std::vector<ModelResult>{} : run_model_bench(o);
  // Each synthetic model is written to a temporary file just before its run and removed
  // right after, so only one is on disk at a time.
  auto types = split_list(a.types);
  if (types.empty()) types = {"Q4_K_M"};
  for (const auto& shape : shapes)
    for (const auto& type : types) {
      std::string upper = type;
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      SyntheticModel synth(shape, upper, o.threads.front(), o.progress);
      ModelBenchOptions so = o;
      so.models = {synth.path()};
      so.labels = {synth.label()};
      for (auto& r : run_model_bench(so)) {
        r.model_path = "synthetic:" + shape + ":" + upper;  // the temporary file is gone
        results.push_back(std::move(r));
      }
    }
  print_table(model_table(results), a.c.output);
  write_plot(a.c.plot, model_charts(results), "petrel bench: model throughput", a.c.quiet);
}

void run_kernels(const KernelArgs& a) {
  validate_common(a.c);
  KernelBenchOptions o;
  o.types = parse_kernel_types(a.types);
  if (!a.isa.empty()) o.isas = parse_isas(a.isa);
  std::tie(o.n_in, o.n_out) = parse_shape(a.shape);
  o.batch = a.batch;
  if (a.op != "both" && a.op != "matvec" && a.op != "matmul")
    throw CliError("--op '" + a.op + "': expected both, matvec or matmul");
  o.matvec = a.op != "matmul";
  o.matmul = a.op != "matvec";
  o.n_threads = a.threads;
  o.repeats = a.c.repeats;
  o.min_time_s = a.min_time;
  o.max_case_s = a.max_case;
  o.working_set_bytes = static_cast<uint64_t>(std::max(0, a.working_set_mib)) << 20;
  o.progress = progress_printer(a.c.quiet);
  const ModelOptions dev = parse_device(a.c.device, -1);
  std::vector<KernelResult> results;
  double read_gbps = a.bandwidth;
  if (dev.device == Device::kVulkan) {
    results = run_vulkan_kernel_bench(o, dev.device_index);
    if (read_gbps <= 0) {
      // The device's own read bandwidth (256 MiB, or less where the device limits buffers).
      MemoryBenchOptions mo;
      mo.repeats = 3;
      for (uint64_t bytes : {256ull << 20, 64ull << 20}) {
        try {
          mo.bytes = bytes;
          read_gbps = run_vulkan_memory_bench(mo, dev.device_index).at(0).gbps.median;
          break;
        } catch (const Error&) {
        }
      }
    }
  } else {
    if (read_gbps <= 0) {
      if (o.progress)
        o.progress(
            "kernels: measuring CPU read bandwidth (1 GiB, 3 repeats; --bandwidth GBPS skips "
            "this)");
      read_gbps = measure_read_bandwidth(1ull << 30, a.threads, 3, nullptr);
    }
    results = run_kernel_bench(o);
  }
  print_table(kernel_table(results, read_gbps), a.c.output);
  if (parse_output_format(a.c.output) == OutputFormat::kMarkdown && read_gbps > 0) {
    std::printf("\nread bandwidth (100%%): %.2f GB/s\n", read_gbps);
    std::fflush(stdout);
  }
  write_plot(a.c.plot, kernel_charts(results, read_gbps), "petrel bench kernels: " + a.shape,
             a.c.quiet);
}

void run_memory(const MemoryArgs& a) {
  validate_common(a.c);
  MemoryBenchOptions o;
  if (a.size_mib < 1) throw CliError("--size: must be >= 1 MiB, got " + std::to_string(a.size_mib));
  o.bytes = static_cast<uint64_t>(a.size_mib) << 20;
  o.n_threads = a.threads;
  o.repeats = a.c.repeats;
  o.progress = progress_printer(a.c.quiet);
  std::vector<MemoryResult> results;
  if (a.c.device == "all") {
    // The CPU, then every Vulkan device there is (none is not an error here).
    results = run_memory_bench(o);
    std::vector<DeviceInfo> devs;
    try {
      if (vulkan_bench_available()) devs = list_devices();
    } catch (const Error& e) {
      if (o.progress) o.progress(std::string("bench: no Vulkan devices: ") + e.what());
    }
    for (const auto& d : devs) {
      try {
        auto r = run_vulkan_memory_bench(o, d.index);
        results.insert(results.end(), r.begin(), r.end());
      } catch (const Error& e) {
        std::fprintf(stderr, "bench: skipped vulkan:%d (%s): %s\n", d.index, d.name.c_str(), e.what());
      }
    }
  } else {
    const ModelOptions dev = parse_device(a.c.device, -1);
    results = dev.device == Device::kVulkan ? run_vulkan_memory_bench(o, dev.device_index)
                                            : run_memory_bench(o);
  }
  print_table(memory_table(results), a.c.output);
}

void add_bench(CLI::App& app) {
  auto ma = std::make_shared<ModelBenchArgs>();
  auto* cmd = app.add_subcommand("bench",
                                 "Benchmark a model (ppN: N tokens as one batch into an empty "
                                 "cache; tgN: N tokens one at a time from an "
                                 "empty cache); t/s is the median ± sd over -r repeats after a "
                                 "warm-up. Lists (-m, -p, -n, -t) take "
                                 "comma-separated or repeated values and run as a cross product. "
                                 "Subcommands: kernels, memory.");
  cmd->add_option("-m,--model", ma->models, "GGUF model file(s)")->delimiter(',');
  cmd->add_option("--synthetic", ma->synthetic,
                  "benchmark a random-weight model of this shape (llama-1b, llama-8b, "
                  "qwen2-1.5b, qwen2-7b, tiny) written to a temporary file")
      ->delimiter(',');
  cmd->add_option("--type", ma->types,
                  "file types for --synthetic (Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, Q5_0, F16, "
                  "BF16; default Q4_K_M)")
      ->delimiter(',');
  cmd->add_option("-p,--n-prompt", ma->n_prompt, "prompt lengths (0 skips pp)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", ma->n_gen, "generation lengths (0 skips tg)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-t,--threads", ma->threads, "CPU threads (0 = all cores)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--gpu-layers", ma->gpu_layers,
                  "layers to offload with --device vulkan (-1 = all)");
  cmd->add_option("--seed", ma->seed, "seed of the random token ids")->capture_default_str();
  add_common(cmd, ma->c, true);

  auto ka = std::make_shared<KernelArgs>();
  auto* kc = cmd->add_subcommand(
      "kernels",
      "Matrix product throughput per block type: matvec (N=1, decode) and matmul (N=--batch, "
      "prompt) on random "
      "weights. --shape AxB means rows of A elements giving B outputs (4096x14336 = ffn_up of an "
      "8B llama). "
      "The matvec rotates among weight copies larger than the cache, so GB/s is read from DRAM.");
  kc->add_option("--type", ka->types,
                 "all or a list: f32,f16,bf16,q4_0,q4_1,q5_0,q5_1,q8_0,q4_k,q5_k,q6_k")
      ->capture_default_str();
  kc->add_option("--shape", ka->shape, "N_INxN_OUT (n_in = row length, n_out = outputs)")
      ->capture_default_str();
  kc->add_option("--batch", ka->batch, "tokens N of the matmul test")->capture_default_str();
  kc->add_option("--isa", ka->isa,
                 "scalar, avx2, avx512, a list, or all (default: the active ISA)");
  kc->add_option("--op", ka->op, "both, matvec or matmul")->capture_default_str();
  kc->add_option("-t,--threads", ka->threads, "CPU threads (0 = all cores)")->capture_default_str();
  kc->add_option("--min-time", ka->min_time, "seconds each repeat runs at least")
      ->capture_default_str();
  kc->add_option("--max-time", ka->max_case,
                 "seconds per case before repeats are cut (slow scalar GEMM)")
      ->capture_default_str();
  kc->add_option("--working-set", ka->working_set_mib,
                 "MiB of weight copies the matvec rotates through (0 = "
                 "max(256 MiB, 2 x L3), at most 2 GiB)")
      ->capture_default_str();
  kc->add_option("--bandwidth", ka->bandwidth,
                 "read bandwidth in GB/s for the % column (0 = measure it)");
  add_common(kc, ka->c, true);
  kc->callback([ka] { run_kernels(*ka); });

  auto mem = std::make_shared<MemoryArgs>();
  auto* mc = cmd->add_subcommand(
      "memory", "Read and copy bandwidth (STREAM-like, OpenMP threads), median of repeats");
  mc->add_option("--size", mem->size_mib, "buffer size in MiB")->capture_default_str();
  mc->add_option("-t,--threads", mem->threads, "threads (0 = all cores)")->capture_default_str();
  mem->c.device = "all";
  add_common(mc, mem->c, false);
  mc->callback([mem] { run_memory(*mem); });

  cmd->callback([ma, kc, mc] {
    if (kc->parsed() || mc->parsed()) return;
    run_model(*ma);
  });
}

}  // namespace

PETREL_REGISTER_COMMAND(60, add_bench);

}  // namespace petrel::cli
