// petrel devices: lists the Vulkan devices (index, name, type, memory, budget, subgroup
// size, driver) that `--device vulkan:N` can select.
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "petrel/petrel.h"

namespace petrel::cli {
namespace {

std::string gib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", double(b) / double(1ull << 30));
  return buf;
}

void run_devices() {
  std::vector<DeviceInfo> devs;
  try {
    devs = list_devices();
  } catch (const Error& e) {
    std::printf("No Vulkan devices: %s\n", e.what());
    return;
  }
  std::printf("%-9s %-40s %-10s %10s %10s %9s  %s\n", "index", "name", "type", "memory", "budget",
              "subgroup", "driver");
  for (const auto& d : devs)
    std::printf("%-9s %-40s %-10s %10s %10s %9u  %s\n", ("vulkan:" + std::to_string(d.index)).c_str(),
                d.name.c_str(), d.type.c_str(), gib(d.memory_bytes).c_str(),
                d.budget_bytes ? gib(d.budget_bytes).c_str() : "-", d.subgroup_size, d.driver.c_str());
}

void add_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List the Vulkan devices usable with --device vulkan:N");
  cmd->callback([] { run_devices(); });
}

PETREL_REGISTER_COMMAND(5, add_devices);

}  // namespace
}  // namespace petrel::cli
