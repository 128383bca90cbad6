// Helpers shared by the Vulkan tests: the normalized mean squared error every shader test
// compares with, and one Ops on device 0 per test program.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <exception>
#include <vector>

#include "engine/vulkan/vk_ops.h"

namespace petrel::vk::test {

// sum (got - want)^2 / sum want^2 (the plain sum when want is all zero); infinite when
// got has a non-finite value.
inline double nmse(const float* got, const float* want, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return den > 0 ? num / den : num;
}
inline double nmse(const std::vector<float>& got, const std::vector<float>& want) {
  return nmse(got.data(), want.data(), want.size());
}

// Device 0 with its default tuning, or null without a Vulkan device. Created once and
// never destroyed: destroying a device from a static destructor at exit crashed the
// NVIDIA driver (its own teardown runs first).
inline Ops* ops() {
  static Ops* o = [] {
    try {
      return new Ops(0);
    } catch (const std::exception&) {
      return static_cast<Ops*>(nullptr);
    }
  }();
  return o;
}

}  // namespace petrel::vk::test

#define REQUIRE_VULKAN()                                                          \
  do {                                                                            \
    if (!::petrel::vk::test::ops()) GTEST_SKIP() << "no Vulkan device available; skipping"; \
  } while (0)
