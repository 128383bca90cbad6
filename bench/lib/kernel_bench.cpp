// Kernel throughput per (block type, ISA, op) on the CPU. Weights: a few random rows
// quantized with the type's reference quantizer, repeated to fill the matrix (the kernel's
// speed does not depend on the values), then copied to reach the working-set target.
#include "bench/lib/kernel_bench.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "bench/lib/params.h"
#include "bench/lib/units.h"
#include "kernels/matmul.h"

namespace petrel::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kDistinctRows = 64;  // random rows repeated through the matrix
constexpr uint64_t kMinWorkingSet = 256ull << 20;
constexpr uint64_t kMaxWorkingSet = 2ull << 30;
constexpr int kMaxCopies = 256;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<uint8_t[], FreeDeleter>;

Bytes alloc_bytes(size_t n, const std::string& what) {
  void* p = std::aligned_alloc(64, (n + 63) / 64 * 64);
  if (p == nullptr)
    throw Error("bench kernels: cannot allocate " + format_size(n) + " for " + what);
  return Bytes(static_cast<uint8_t*>(p));
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One weight matrix of `t` filled with kDistinctRows random quantized rows.
Bytes make_matrix(const kernels::TypeTraits& t, int64_t n_in, int64_t n_out, std::mt19937_64& rng) {
  const size_t rb = kernels::row_bytes(t, n_in);
  const int64_t k = std::min(kDistinctRows, n_out);
  std::vector<uint8_t> distinct(rb * static_cast<size_t>(k));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < k; ++r) {
    for (float& v : row) v = dist(rng);
    t.quantize_row_ref(row.data(), distinct.data() + rb * static_cast<size_t>(r), n_in);
  }
  Bytes m = alloc_bytes(rb * static_cast<size_t>(n_out), std::string(t.name) + " weights");
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n_out; ++r)
    std::memcpy(m.get() + rb * static_cast<size_t>(r),
                distinct.data() + rb * static_cast<size_t>(r % k), rb);
  return m;
}

// Runs `call(i)` (i = call counter) until both min_time and min_calls are reached; returns
// seconds per call.
template <class F>
double timed_calls(F call, double min_time, int64_t min_calls, int64_t& counter) {
  const auto t0 = Clock::now();
  int64_t calls = 0;
  double el = 0;
  do {
    call(counter++);
    ++calls;
    el = seconds_since(t0);
  } while (el < min_time || calls < min_calls);
  return el / static_cast<double>(calls);
}

}  // namespace

Summary KernelResult::gbps() const {
  const double b = static_cast<double>(weight_bytes);
  return summarize_mapped(seconds, [b](double s) { return b / s / 1e9; });
}

Summary KernelResult::gflops() const {
  const double f =
      2.0 * static_cast<double>(n_in) * static_cast<double>(n_out) * static_cast<double>(n_tokens);
  return summarize_mapped(seconds, [f](double s) { return f / s / 1e9; });
}

std::vector<kernels::Type> all_kernel_types() {
  using kernels::Type;
  return {Type::kF32,  Type::kF16,  Type::kBF16, Type::kQ4_0, Type::kQ4_1, Type::kQ5_0,
          Type::kQ5_1, Type::kQ8_0, Type::kQ4_K, Type::kQ5_K, Type::kQ6_K};
}

std::vector<kernels::Type> parse_kernel_types(const std::string& list) {
  std::vector<kernels::Type> out;
  for (const auto& piece : split_list({list})) {
    if (lower(piece) == "all") {
      for (auto t : all_kernel_types()) out.push_back(t);
      continue;
    }
    bool found = false;
    for (auto t : all_kernel_types()) {
      const kernels::TypeTraits* tr = kernels::type_traits(t);
      if (tr != nullptr && lower(tr->name) == lower(piece)) {
        out.push_back(t);
        found = true;
      }
    }
    if (!found)
      throw Error("--type '" + piece +
                  "': expected all or one of f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, "
                  "q5_k, q6_k");
  }
  if (out.empty()) throw Error("--type: no types given");
  return out;
}

std::vector<kernels::Isa> parse_isas(const std::string& list) {
  using kernels::Isa;
  std::vector<Isa> out;
  for (const auto& piece : split_list({list})) {
    const std::string p = lower(piece);
    if (p == "all") {
      out.insert(out.end(), {Isa::kScalar, Isa::kAvx2, Isa::kAvx512});
    } else if (p == "scalar" || p == "avx2" || p == "avx512") {
      out.push_back(p == "scalar" ? Isa::kScalar : p == "avx2" ? Isa::kAvx2 : Isa::kAvx512);
    } else {
      throw Error("--isa '" + piece + "': expected scalar, avx2, avx512 or all");
    }
  }
  return out;
}

std::pair<int64_t, int64_t> parse_shape(const std::string& s) {
  const size_t x = s.find_first_of("xX");
  long long a = 0, b = 0;
  size_t ua = 0, ub = 0;
  if (x != std::string::npos) {
    try {
      a = std::stoll(s.substr(0, x), &ua);
      b = std::stoll(s.substr(x + 1), &ub);
    } catch (const std::exception&) {
      ua = ub = 0;
    }
  }
  if (x == std::string::npos || ua != x || ub != s.size() - x - 1 || a <= 0 || b <= 0)
    throw Error("--shape '" + s + "': expected N_INxN_OUT with positive sizes, e.g. 4096x14336");
  return {a, b};
}

uint64_t default_working_set() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const uint64_t twice_l3 = l3 > 0 ? 2 * static_cast<uint64_t>(l3) : 0;
  return std::min(kMaxWorkingSet, std::max(kMinWorkingSet, twice_l3));
}

std::vector<KernelResult> run_kernel_bench(const KernelBenchOptions& opt) {
  using kernels::Isa;
  const std::vector<kernels::Type> types = opt.types.empty() ? all_kernel_types() : opt.types;
  const std::vector<Isa> isas =
      opt.isas.empty() ? std::vector<Isa>{kernels::active_isa()} : opt.isas;
  if (opt.repeats < 1)
    throw Error("bench kernels: repeats must be >= 1, got " + std::to_string(opt.repeats));
  if (opt.batch < 2 && opt.matmul)
    throw Error("bench kernels: --batch must be >= 2, got " + std::to_string(opt.batch));
  const int threads = resolve_threads(opt.n_threads);
  const uint64_t ws_target =
      opt.working_set_bytes > 0 ? opt.working_set_bytes : default_working_set();
  auto say = [&](const std::string& m) {
    if (opt.progress) opt.progress(m);
  };
  for (auto t : types) {
    const kernels::TypeTraits* tr = kernels::type_traits(t);
    if (tr == nullptr || tr->quantize_row_ref == nullptr)
      throw Error("bench kernels: type id " + std::to_string(static_cast<uint32_t>(t)) +
                  " has no reference quantizer");
    if (opt.n_in % tr->block_elems != 0)
      throw Error(strf("bench kernels: n_in %lld is not a multiple of the %s block (%lld)",
                       static_cast<long long>(opt.n_in), tr->name,
                       static_cast<long long>(tr->block_elems)));
  }
  const Isa saved_isa = kernels::active_isa();
  std::vector<KernelResult> out;
  std::mt19937_64 rng(opt.seed);
  std::vector<float> x(static_cast<size_t>(opt.n_in) * static_cast<size_t>(std::max(1, opt.batch)));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(opt.n_out) *
                       static_cast<size_t>(std::max(1, opt.batch)));
  kernels::Workspace ws;
  try {
    for (auto t : types) {
      const kernels::TypeTraits& tr = *kernels::type_traits(t);
      const size_t rb = kernels::row_bytes(tr, opt.n_in);
      const uint64_t mbytes = static_cast<uint64_t>(rb) * static_cast<uint64_t>(opt.n_out);
      const int copies = opt.matvec ? static_cast<int>(std::clamp<uint64_t>(
                                          (ws_target + mbytes - 1) / mbytes, 1, kMaxCopies))
                                    : 1;
      say(strf("kernels: %s: preparing %d weight cop%s of %s (%s in all)", tr.name, copies,
               copies == 1 ? "y" : "ies", format_size(mbytes).c_str(),
               format_size(mbytes * static_cast<uint64_t>(copies)).c_str()));
      std::vector<Bytes> mats;
      mats.push_back(make_matrix(tr, opt.n_in, opt.n_out, rng));
      for (int c = 1; c < copies; ++c) {
        mats.push_back(alloc_bytes(mbytes, std::string(tr.name) + " weight copy"));
        const uint8_t* src = mats[0].get();
        uint8_t* dst = mats.back().get();
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < opt.n_out; ++r)
          std::memcpy(dst + rb * static_cast<size_t>(r), src + rb * static_cast<size_t>(r), rb);
      }
      std::vector<kernels::WeightView> views;
      for (const auto& m : mats) views.push_back({t, opt.n_in, opt.n_out, m.get(), rb});

      for (Isa isa : isas) {
        if (!kernels::set_active_isa(isa)) {
          say(strf("kernels: %s: skipping %s (this CPU cannot run it)", tr.name,
                   kernels::isa_name(isa)));
          continue;
        }
        const bool is_ref = kernels::kernels_for(t, isa).is_reference;
        for (int op = 0; op < 2; ++op) {
          if ((op == 0 && !opt.matvec) || (op == 1 && !opt.matmul)) continue;
          KernelResult r;
          r.type = tr.name;
          r.device = "cpu";
          r.isa = kernels::isa_name(isa);
          r.op = op == 0 ? "matvec" : "matmul";
          r.n_in = opt.n_in;
          r.n_out = opt.n_out;
          r.n_tokens = op == 0 ? 1 : opt.batch;
          r.is_reference = is_ref;
          r.weight_bytes = mbytes;
          r.copies = op == 0 ? copies : 1;
          r.threads = threads;
          const int64_t nv = r.copies;
          auto call = [&](int64_t i) {
            kernels::matmul(views[static_cast<size_t>(i % nv)], x.data(), r.n_tokens, y.data(), ws,
                            threads);
          };
          int64_t counter = 0;
          // Warm-up: one pass over every copy (sizes the workspace, faults in code paths).
          const double warm = timed_calls(call, 0.0, nv, counter);
          int reps = opt.repeats;
          if (warm * opt.repeats > opt.max_case_s)
            reps = std::max(1, static_cast<int>(opt.max_case_s / std::max(warm, 1e-9)));
          for (int rep = 0; rep < reps; ++rep) {
            say(strf("kernels: %s %s %s N=%lld, repeat %d/%d", tr.name, r.isa.c_str(), r.op.c_str(),
                     static_cast<long long>(r.n_tokens), rep + 1, reps));
            r.seconds.push_back(timed_calls(call, opt.min_time_s, nv, counter));
          }
          out.push_back(std::move(r));
        }
      }
    }
  } catch (...) {
    kernels::set_active_isa(saved_isa);
    throw;
  }
  kernels::set_active_isa(saved_isa);
  return out;
}

Table kernel_table(const std::vector<KernelResult>& results, double read_gbps) {
  Table t;
  t.columns = {{"type", "type"},
               {"device", "device"},
               {"isa", "isa"},
               {"op", "op"},
               {"shape", "shape"},
               {"n_tokens", "N", Align::kRight},
               {"weight_bytes", "weights", Align::kRight},
               {"copies", "copies", Align::kRight, Shown::kMachine},
               {"threads", "threads", Align::kRight},
               {"time", "time/call", Align::kRight, Shown::kHuman},
               {"time_s_median", "", Align::kRight, Shown::kMachine},
               {"time_s_sd", "", Align::kRight, Shown::kMachine},
               {"gbps", "GB/s", Align::kRight, Shown::kHuman},
               {"gbps_median", "", Align::kRight, Shown::kMachine},
               {"gbps_sd", "", Align::kRight, Shown::kMachine},
               {"gbps_min", "", Align::kRight, Shown::kMachine},
               {"gbps_max", "", Align::kRight, Shown::kMachine},
               {"gflops", "GFLOP/s", Align::kRight},
               {"pct_read_bw", "% read BW", Align::kRight},
               {"repeats", "repeats", Align::kRight, Shown::kMachine},
               {"note", "note"}};
  for (const auto& r : results) {
    const Summary tm = r.time(), gb = r.gbps(), gf = r.gflops();
    const Cell pct = read_gbps > 0 ? Cell::num(100.0 * gb.median / read_gbps, 1) : Cell::none();
    t.add_row({r.type,
               r.device,
               r.isa,
               r.op,
               strf("%lldx%lld", static_cast<long long>(r.n_in), static_cast<long long>(r.n_out)),
               Cell::integer(r.n_tokens),
               Cell(format_size(r.weight_bytes), r.weight_bytes),
               Cell::integer(r.copies),
               Cell::integer(r.threads),
               format_seconds(tm.median) + " ± " + format_seconds(tm.sd),
               Cell(strf("%g", tm.median), tm.median),
               Cell(strf("%g", tm.sd), tm.sd),
               format_pm(gb.median, gb.sd),
               Cell::num(gb.median, 3),
               Cell::num(gb.sd, 3),
               Cell::num(gb.min, 3),
               Cell::num(gb.max, 3),
               Cell::num(gf.median, 1),
               pct,
               Cell::integer(tm.n),
               r.is_reference ? "scalar fallback" : ""});
  }
  return t;
}

std::vector<BarChart> kernel_charts(const std::vector<KernelResult>& results, double read_gbps) {
  BarChart bw, fl;
  bw.title = "Weight read throughput per block type";
  bw.y_label = "GB/s of weights";
  fl.title = "Compute throughput per block type";
  fl.y_label = "GFLOP/s";
  std::map<std::string, size_t> gidx, sidx;
  for (const auto& r : results)
    if (!gidx.count(r.type)) {
      gidx[r.type] = bw.groups.size();
      bw.groups.push_back(r.type);
    }
  // Series: every matvec first, then every matmul, each in the order first seen.
  std::vector<const KernelResult*> ordered;
  for (const char* op : {"matvec", "matmul"})
    for (const auto& r : results)
      if (r.op == op) ordered.push_back(&r);
  for (const KernelResult* rp : ordered) {
    const KernelResult& r = *rp;
    const std::string where = r.device == "cpu" ? r.isa : r.device;
    const std::string sname =
        strf("%s N=%lld (%s)", r.op.c_str(), static_cast<long long>(r.n_tokens), where.c_str());
    if (!sidx.count(sname)) {
      sidx[sname] = bw.series.size();
      bw.series.push_back({sname, {}, {}, {}});
    }
  }
  fl.groups = bw.groups;
  for (auto& s : bw.series) {
    s.values.assign(bw.groups.size(), NAN);
    s.lo.assign(bw.groups.size(), NAN);
    s.hi.assign(bw.groups.size(), NAN);
  }
  fl.series = bw.series;
  for (const auto& r : results) {
    const std::string where = r.device == "cpu" ? r.isa : r.device;
    const size_t s = sidx[strf("%s N=%lld (%s)", r.op.c_str(), static_cast<long long>(r.n_tokens),
                               where.c_str())];
    const size_t g = gidx[r.type];
    const Summary gb = r.gbps(), gf = r.gflops();
    bw.series[s].values[g] = gb.median;
    bw.series[s].lo[g] = gb.min;
    bw.series[s].hi[g] = gb.max;
    fl.series[s].values[g] = gf.median;
    fl.series[s].lo[g] = gf.min;
    fl.series[s].hi[g] = gf.max;
  }
  if (read_gbps > 0)
    bw.lines.push_back({read_gbps, strf("measured read bandwidth %.1f GB/s", read_gbps)});
  return {bw, fl};
}

}  // namespace petrel::bench
