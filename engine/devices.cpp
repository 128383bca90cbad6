// Device listing for the public API (petrel::list_devices).
#include "petrel/petrel.h"
#ifdef PETREL_HAVE_VULKAN
#include "engine/vulkan/vk_backend.h"
#endif

namespace petrel {

std::vector<DeviceInfo> list_devices() {
#ifdef PETREL_HAVE_VULKAN
  std::vector<DeviceInfo> out;
  for (const auto& d : vk::list_devices()) {
    DeviceInfo i;
    i.index = d.index;
    i.name = d.name;
    i.type = d.type;
    i.memory_bytes = d.device_local_bytes;
    i.budget_bytes = d.budget_bytes;
    i.subgroup_size = d.subgroup_size;
    i.driver = d.driver;
    out.push_back(std::move(i));
  }
  return out;
#else
  throw Error("Vulkan support was not built into this petrel");
#endif
}

}  // namespace petrel
