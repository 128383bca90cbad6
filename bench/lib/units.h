// Number formatting for benchmark tables, in llama-bench's style ("636.18 MiB", "1.10 B").
// Header-only (tests use it without linking petrel_bench_lib).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace petrel::bench {

// printf-style formatting into a std::string.
template <class... Args>
std::string strf(const char* fmt, Args... args) {
  const int n = std::snprintf(nullptr, 0, fmt, args...);
  if (n <= 0) return {};
  std::string s(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(s.data(), s.size(), fmt, args...);
  s.resize(static_cast<size_t>(n));
  return s;
}

// Bytes as "636.18 MiB" below 1 GiB, "4.58 GiB" from 1 GiB on, "12.00 KiB" below 1 MiB.
inline std::string format_size(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return strf("%.2f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return strf("%.2f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return strf("%.2f KiB", b / 1024.0);
  return strf("%llu B", static_cast<unsigned long long>(bytes));
}

// Parameter count as "1.10 B", "135.00 M", "12.00 K" (decimal units, as llama-bench).
inline std::string format_params(int64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return strf("%.2f B", v / 1e9);
  if (v >= 1e6) return strf("%.2f M", v / 1e6);
  if (v >= 1e3) return strf("%.2f K", v / 1e3);
  return strf("%lld", static_cast<long long>(n));
}

// Short size class for a model label: "1B", "1.5B", "8B", "135M".
inline std::string params_label(int64_t n) {
  const double v = static_cast<double>(n);
  auto one = [](double x, const char* unit) {
    const double r = std::round(x);
    if (x >= 10 || std::fabs(x - r) < 0.15) return strf("%.0f%s", r, unit);
    return strf("%.1f%s", x, unit);
  };
  if (v >= 1e9) return one(v / 1e9, "B");
  if (v >= 1e6) return one(v / 1e6, "M");
  return one(v / 1e3, "K");
}

// Seconds as "12.3 us", "4.56 ms", "1.234 s" (three significant-ish digits).
inline std::string format_seconds(double s) {
  if (s < 1e-3) return strf("%.1f us", s * 1e6);
  if (s < 1.0) return strf("%.3f ms", s * 1e3);
  return strf("%.3f s", s);
}

// "median ± sd" with `decimals` digits after the point.
inline std::string format_pm(double median, double sd, int decimals = 2) {
  return strf("%.*f ± %.*f", decimals, median, decimals, sd);
}

}  // namespace petrel::bench
