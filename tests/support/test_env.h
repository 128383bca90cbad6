// Test helpers shared by every test executable: where ../shared is, and skipping when
// it is absent (a user's fresh clone has no ../shared; its own tests must still pass).
#pragma once
#include <string>

namespace petrel::test {

// Path of the reference data directory (../shared beside the checkout), or "" if absent.
std::string shared_dir();

// Full path of a file under ../shared, e.g. shared_path("models/stories260K-f32.gguf").
std::string shared_path(const std::string& rel);

// Directory for temporary files of this test run (created on demand).
std::string temp_dir();

}  // namespace petrel::test

// Skips the current test with a message when ../shared is missing.
#define PETREL_REQUIRE_SHARED()                                                    \
  do {                                                                             \
    if (::petrel::test::shared_dir().empty())                                      \
      GTEST_SKIP() << "reference data ../shared not found; skipping reference test"; \
  } while (0)
