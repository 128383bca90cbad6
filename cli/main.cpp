// petrel: one binary, subcommands registered by cli/cmd_*.cpp.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/command.h"
#include "petrel/petrel.h"

namespace petrel::cli {
namespace {
std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> r;
  return r;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, AddCommand add) {
  registry().emplace_back(order, std::move(add));
}

void add_registered_commands(CLI::App& app) {
  auto& r = registry();
  std::stable_sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [order, add] : r) add(app);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError("cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw CliError("cannot read '" + path + "'");
  return ss.str();
}

}  // namespace petrel::cli

int main(int argc, char** argv) {
  CLI::App app{"Petrel: a self-contained LLM inference engine for GGUF models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "petrel 0.1.0");
  petrel::cli::add_registered_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const petrel::cli::CliError& e) {
    std::fprintf(stderr, "petrel: error: %s\n", e.what());
    return 2;
  } catch (const petrel::Error& e) {
    std::fprintf(stderr, "petrel: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petrel: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
