// Subcommand registry: each cli/cmd_*.cpp registers one subcommand with
// PETREL_REGISTER_COMMAND, so main.cpp needs no list. A command's callback throws
// petrel::Error (or CliError) on failure; main maps that to a message and exit code 1.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <stdexcept>
#include <string>

namespace petrel::cli {

// A usage error found after parsing (e.g. two options that exclude each other).
class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using AddCommand = std::function<void(CLI::App& app)>;

struct CommandRegistrar {
  CommandRegistrar(int order, AddCommand add);
};

// Runs every registered AddCommand in `order`.
void add_registered_commands(CLI::App& app);

// Reads a whole file as text (for -f FILE); throws CliError naming the file on failure.
std::string read_text_file(const std::string& path);

}  // namespace petrel::cli

#define PETREL_CLI_CAT2(a, b) a##b
#define PETREL_CLI_CAT(a, b) PETREL_CLI_CAT2(a, b)
#define PETREL_REGISTER_COMMAND(order, fn) \
  static ::petrel::cli::CommandRegistrar PETREL_CLI_CAT(petrel_cmd_, __LINE__)(order, fn)
