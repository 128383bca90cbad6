// Options shared by the model-running subcommands (device, threads, prompt input).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "petrel/petrel.h"

namespace petrel::cli {

struct ModelArgs {
  std::string model;
  std::string device = "cpu";  // cpu | vulkan | vulkan:N
  int gpu_layers = -1;
  int threads = 0;
  int ctx = 0;
};

// Adds -m, --device, --gpu-layers, -t, -c to `cmd`.
void add_model_args(CLI::App* cmd, ModelArgs& a);
// ModelOptions from --device/--gpu-layers; throws CliError on a malformed device.
ModelOptions model_options(const ModelArgs& a);

// Adds -p TEXT / -f FILE (exactly one required) to `cmd`.
void add_prompt_args(CLI::App* cmd, std::string& text, std::string& file);
// The prompt text from -p or -f.
std::string prompt_text(const std::string& text, const std::string& file);

}  // namespace petrel::cli
