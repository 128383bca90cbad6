// Times the CPU kernels: memory read bandwidth (the matvec ceiling), matrix-vector
// products (decode) and batched matmuls (prompt) per weight type and ISA. Prints the
// median of the repeats: time, GB/s of weights read, GFLOP/s.
// Usage: bench_kernels_cpu [--threads N] [--reps N] [--types Q4_K,Q8_0,...]
//                          [--isa scalar,avx2,avx512] [--quick] [--cpu-time]
//                          [--shape n_in,n_out,N]...
// --cpu-time reports process CPU time instead of wall time (use with --threads 1 when
// the machine is shared; it hides memory stalls only partly and spin-waits not at all).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/types.h"

using namespace petrel::kernels;

namespace {

bool g_cpu_time = false;  // --cpu-time: process CPU seconds (tuning on a shared machine)

double now_s() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename F>
double median_time(int reps, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    f();
    t.push_back(now_s() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Sums n 64-bit words with 4 independent AVX2 accumulators (one cache line per step).
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 16 <= n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// Read bandwidth of a multi-threaded sum over a 1 GiB buffer (each thread its own slice).
double read_bandwidth_gbs(int threads, int reps) {
  const size_t n = (size_t{1} << 30) / sizeof(uint64_t);
  uint64_t* buf = static_cast<uint64_t*>(std::aligned_alloc(64, n * sizeof(uint64_t)));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = i;
  volatile uint64_t sink = 0;
  const double t = median_time(reps, [&] {
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const size_t nth = static_cast<size_t>(omp_get_num_threads()), ith = static_cast<size_t>(omp_get_thread_num());
      const size_t chunk = (n / nth) & ~size_t{15};
      total += sum_words_avx2(buf + ith * chunk, chunk);
    }
    sink = sink + total;
  });
  std::free(buf);
  return static_cast<double>(n * sizeof(uint64_t)) / t / 1e9;
}

// Random row bytes with sane f16 scales (as in the kernel tests), so no quantizer is needed.
std::vector<uint8_t> random_weights(Type type, int64_t n_in, int64_t n_out) {
  const TypeTraits& t = *type_traits(type);
  const size_t rb = row_bytes(t, n_in);
  std::vector<uint8_t> w(rb * static_cast<size_t>(n_out));
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= w.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&w[i], &v, 8);
  }
  const uint16_t small = f32_to_f16(0.01f);
  const size_t nblocks = w.size() / t.block_bytes;
  for (size_t b = 0; b < nblocks; ++b) {
    uint8_t* p = w.data() + b * t.block_bytes;
    switch (type) {
      case Type::kF16:
        std::memcpy(p, &small, 2);
        break;
      case Type::kBF16: {
        const uint16_t v = f32_to_bf16(0.01f);
        std::memcpy(p, &v, 2);
        break;
      }
      case Type::kF32: {
        const float v = 0.01f;
        std::memcpy(p, &v, 4);
        break;
      }
      case Type::kQ6_K:
        std::memcpy(p + offsetof(BlockQ6_K, d), &small, 2);
        break;
      case Type::kQ4_1: case Type::kQ5_1: case Type::kQ4_K: case Type::kQ5_K:
        std::memcpy(p, &small, 2);
        std::memcpy(p + 2, &small, 2);
        break;
      default:
        std::memcpy(p, &small, 2);
        break;
    }
  }
  return w;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 7;
  bool quick = false;
  std::vector<std::string> types = {"Q4_K", "Q6_K", "Q8_0", "Q4_0", "Q5_K", "F16"};
  std::vector<std::string> isas = {"avx2", "avx512"};
  std::vector<std::string> shape_args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--threads") threads = std::stoi(next());
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--types") types = split(next());
    else if (a == "--isa") isas = split(next());
    else if (a == "--quick") quick = true;
    else if (a == "--cpu-time") g_cpu_time = true;
    else if (a == "--shape") shape_args.push_back(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::printf("%s", kernel_table_report().c_str());
  std::printf("threads %d, median of %d\n", threads, reps);
  if (!quick && __builtin_cpu_supports("avx2")) std::printf("read bandwidth (1 GiB sum, %d threads): %.1f GB/s\n", threads, read_bandwidth_gbs(threads, 5));

  struct Shape { int64_t n_in, n_out, n_tokens; };
  std::vector<Shape> shapes = {{4096, 14336, 1}, {2048, 8192, 1}, {2048, 8192, 64}, {2048, 8192, 512}};
  if (quick) shapes = {{2048, 8192, 1}, {2048, 8192, 64}};
  if (!shape_args.empty()) {
    shapes.clear();
    for (const std::string& sa : shape_args) {
      const auto f = split(sa);
      if (f.size() != 3) {
        std::fprintf(stderr, "--shape wants n_in,n_out,N (got %s)\n", sa.c_str());
        return 2;
      }
      shapes.push_back({std::stoll(f[0]), std::stoll(f[1]), std::stoll(f[2])});
    }
  }
  std::printf("%-6s %-7s %6s %6s %5s %10s %8s %9s\n", "type", "isa", "n_in", "n_out", "N", "ms", "GB/s", "GFLOP/s");
  for (const std::string& tn : types) {
    Type type = Type::kF32;
    bool found = false;
    for (uint32_t id = 0; id < 40; ++id) {
      const TypeTraits* t = type_traits(id);
      if (t && tn == t->name) {
        type = t->type;
        found = true;
      }
    }
    if (!found) {
      std::fprintf(stderr, "unknown type %s\n", tn.c_str());
      return 2;
    }
    for (const Shape& sh : shapes) {
      const auto w = random_weights(type, sh.n_in, sh.n_out);
      const WeightView view{type, sh.n_in, sh.n_out, w.data(), row_bytes(*type_traits(type), sh.n_in)};
      std::vector<float> x(static_cast<size_t>(sh.n_in * sh.n_tokens));
      std::mt19937 rng(1);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (auto& v : x) v = nd(rng);
      std::vector<float> y(static_cast<size_t>(sh.n_out * sh.n_tokens));
      for (const std::string& in : isas) {
        const Isa isa = in == "scalar" ? Isa::kScalar : in == "avx2" ? Isa::kAvx2 : Isa::kAvx512;
        if (!set_active_isa(isa)) continue;
        if (isa == Isa::kScalar && sh.n_tokens > 64) continue;
        Workspace ws;
        const int r = sh.n_tokens >= 512 ? std::max(1, reps / 3) : reps;
        const double t = median_time(r, [&] { matmul(view, x.data(), sh.n_tokens, y.data(), ws, threads); });
        const double gb = static_cast<double>(w.size()) / t / 1e9;
        const double gflop = 2.0 * static_cast<double>(sh.n_in * sh.n_out * sh.n_tokens) / t / 1e9;
        std::printf("%-6s %-7s %6lld %6lld %5lld %10.3f %8.1f %9.1f\n", tn.c_str(), in.c_str(),
                    static_cast<long long>(sh.n_in), static_cast<long long>(sh.n_out),
                    static_cast<long long>(sh.n_tokens), t * 1e3, gb, gflop);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
