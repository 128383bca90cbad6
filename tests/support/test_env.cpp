#include "tests/support/test_env.h"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace petrel::test {

std::string shared_dir() {
  const char* env = std::getenv("PETREL_SHARED_DIR");
  std::string dir = env ? env : PETREL_SHARED_DIR;
  std::error_code ec;
  if (std::filesystem::is_directory(dir + "/models", ec)) return dir;
  return "";
}

std::string shared_path(const std::string& rel) { return shared_dir() + "/" + rel; }

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("petrel-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace petrel::test
