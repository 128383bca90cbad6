#include "cli/common.h"

#include "cli/command.h"

namespace petrel::cli {

void add_model_args(CLI::App* cmd, ModelArgs& a) {
  cmd->add_option("-m,--model", a.model, "GGUF model file")->required();
  cmd->add_option("--device", a.device,
                  "cpu, vulkan, vulkan:N, or auto (Vulkan device 0 if usable, else the CPU)")
      ->capture_default_str();
  cmd->add_option("--gpu-layers", a.gpu_layers, "layers to offload to the GPU (-1 = all)");
  cmd->add_option("-t,--threads", a.threads, "CPU threads (0 = all cores)");
  cmd->add_option("-c,--ctx", a.ctx, "context size (0 = min(model context, 4096))");
}

ModelOptions model_options(const ModelArgs& a) {
  ModelOptions o;
  o.gpu_layers = a.gpu_layers;
  if (a.device == "cpu") return o;
  if (a.device == "auto") {
    o.device = Device::kVulkan;  // not explicit: the session falls back to the CPU
    return o;
  }
  if (a.device.rfind("vulkan", 0) == 0) {
    o.device = Device::kVulkan;
    o.device_explicit = true;
    if (a.device.size() > 6) {
      if (a.device[6] != ':') throw CliError("--device '" + a.device + "': expected cpu, vulkan or vulkan:N");
      try {
        o.device_index = std::stoi(a.device.substr(7));
      } catch (const std::exception&) {
        throw CliError("--device '" + a.device + "': N must be a device index");
      }
    }
    return o;
  }
  throw CliError("--device '" + a.device + "': expected cpu, vulkan, vulkan:N or auto");
}

void add_prompt_args(CLI::App* cmd, std::string& text, std::string& file) {
  auto* p = cmd->add_option("-p,--prompt", text, "prompt text");
  auto* f = cmd->add_option("-f,--file", file, "read the prompt from a file");
  p->excludes(f);
  f->excludes(p);
}

std::string prompt_text(const std::string& text, const std::string& file) {
  if (!file.empty()) return read_text_file(file);
  return text;
}

}  // namespace petrel::cli
