// Summary statistics of benchmark repeats: the figure quoted is the median, the spread is
// the sample standard deviation and the min-max range. Header-only so tests can use it
// without linking petrel_bench_lib.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace petrel::bench {

struct Summary {
  int n = 0;  // number of samples
  double mean = 0;
  double sd = 0;      // sample standard deviation (n - 1); 0 when n < 2
  double median = 0;  // middle sample, or the mean of the two middle ones
  double min = 0;
  double max = 0;
};

// Summary of `samples` (any order); all zeros when empty.
inline Summary summarize(std::vector<double> samples) {
  Summary s;
  s.n = static_cast<int>(samples.size());
  if (s.n == 0) return s;
  std::sort(samples.begin(), samples.end());
  s.min = samples.front();
  s.max = samples.back();
  const size_t mid = samples.size() / 2;
  s.median = (samples.size() % 2 == 1) ? samples[mid] : 0.5 * (samples[mid - 1] + samples[mid]);
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / s.n;
  if (s.n >= 2) {
    double ss = 0;
    for (double v : samples) ss += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(ss / (s.n - 1));
  }
  return s;
}

// Each sample mapped through f (e.g. seconds -> tokens/s), then summarized.
template <class F>
Summary summarize_mapped(const std::vector<double>& samples, F f) {
  std::vector<double> out;
  out.reserve(samples.size());
  for (double v : samples) out.push_back(f(v));
  return summarize(std::move(out));
}

}  // namespace petrel::bench
