// Vulkan instance and device: the loader is opened with dlopen so that a petrel binary
// runs (CPU only) on machines without libvulkan; device listing with memory, budget and
// subgroup size; logical device creation with one compute queue.
#include "engine/vulkan/vk_device.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <vector>

#include "engine/vulkan/vk_backend.h"

namespace petrel::vk {

const char* result_name(VkResult r) {
  switch (r) {
#define PETREL_VK_CASE(x) \
  case x:                 \
    return #x;
    PETREL_VK_CASE(VK_SUCCESS)
    PETREL_VK_CASE(VK_NOT_READY)
    PETREL_VK_CASE(VK_TIMEOUT)
    PETREL_VK_CASE(VK_EVENT_SET)
    PETREL_VK_CASE(VK_EVENT_RESET)
    PETREL_VK_CASE(VK_INCOMPLETE)
    PETREL_VK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    PETREL_VK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    PETREL_VK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    PETREL_VK_CASE(VK_ERROR_DEVICE_LOST)
    PETREL_VK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    PETREL_VK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    PETREL_VK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    PETREL_VK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    PETREL_VK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    PETREL_VK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    PETREL_VK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    PETREL_VK_CASE(VK_ERROR_FRAGMENTED_POOL)
    PETREL_VK_CASE(VK_ERROR_UNKNOWN)
    PETREL_VK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    PETREL_VK_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    PETREL_VK_CASE(VK_ERROR_FRAGMENTATION)
    PETREL_VK_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
#undef PETREL_VK_CASE
    default:
      return "VK_RESULT_UNKNOWN";
  }
}

void throw_vk_error(const char* call, VkResult r, const char* file, int line) {
  throw Error(std::string("Vulkan: ") + call + " failed: " + result_name(r) + " (" + file + ":" +
              std::to_string(line) + ")");
}

namespace {

// Opens libvulkan once per process; nullptr when it cannot be found.
PFN_vkGetInstanceProcAddr loader_entry(std::string* why) {
  static std::once_flag once;
  static PFN_vkGetInstanceProcAddr gipa = nullptr;
  static std::string err;
  std::call_once(once, [] {
    void* lib = nullptr;
    for (const char* name : {"libvulkan.so.1", "libvulkan.so"}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
    }
    if (!lib) {
      const char* e = dlerror();
      err = e ? e : "libvulkan.so.1 not found";
      return;
    }
    gipa = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
    if (!gipa) err = "libvulkan has no vkGetInstanceProcAddr";
  });
  if (why) *why = err;
  return gipa;
}

// Loads the global entry points and creates an instance (Vulkan 1.2).
VkInstance new_instance(Fns& fn) {
  std::string why;
  PFN_vkGetInstanceProcAddr gipa = loader_entry(&why);
  if (!gipa) throw Error("Vulkan: no loader/driver (cannot open the Vulkan loader: " + why + ")");
#define PETREL_VK_LOAD(f) fn.f = reinterpret_cast<PFN_##f>(gipa(nullptr, #f));
  PETREL_VK_GLOBAL_FNS(PETREL_VK_LOAD)
#undef PETREL_VK_LOAD
  if (!fn.vkCreateInstance) throw Error("Vulkan: no loader/driver (vkCreateInstance missing)");
  uint32_t api = VK_API_VERSION_1_0;
  if (fn.vkEnumerateInstanceVersion) fn.vkEnumerateInstanceVersion(&api);
  if (api < VK_API_VERSION_1_2)
    throw Error("Vulkan: the loader supports Vulkan " + std::to_string(VK_API_VERSION_MAJOR(api)) +
                "." + std::to_string(VK_API_VERSION_MINOR(api)) + "; petrel needs 1.2");
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "petrel";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo ci{};
  ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  ci.pApplicationInfo = &app;
  VkInstance inst = VK_NULL_HANDLE;
  VkResult r = fn.vkCreateInstance(&ci, nullptr, &inst);
  if (r != VK_SUCCESS)
    throw Error(std::string("Vulkan: no loader/driver usable (vkCreateInstance: ") + result_name(r) +
                ")");
#define PETREL_VK_LOAD(f) fn.f = reinterpret_cast<PFN_##f>(gipa(inst, #f));
  PETREL_VK_INSTANCE_FNS(PETREL_VK_LOAD)
#undef PETREL_VK_LOAD
  return inst;
}

// The process's one instance, created on first use and never destroyed, with its entry
// points copied to fn. The NVIDIA driver fails (vkCreateInstance:
// VK_ERROR_INCOMPATIBLE_DRIVER after about 20 cycles on an H100, and corrupted subgroup
// ids reported after ~11) when instances are created and destroyed repeatedly, as a test
// process or a program opening several sessions does. A failed creation is retried on
// the next call.
VkInstance create_instance(Fns& fn) {
  static std::mutex mu;
  static Fns fns;
  static VkInstance inst = VK_NULL_HANDLE;
  std::lock_guard<std::mutex> lock(mu);
  if (!inst) inst = new_instance(fns);
  fn = fns;
  return inst;
}

std::vector<VkPhysicalDevice> physical_devices(const Fns& fn, VkInstance inst) {
  uint32_t n = 0;
  PETREL_VK_CHECK(fn.vkEnumeratePhysicalDevices(inst, &n, nullptr));
  std::vector<VkPhysicalDevice> devs(n);
  if (n) PETREL_VK_CHECK(fn.vkEnumeratePhysicalDevices(inst, &n, devs.data()));
  devs.resize(n);
  return devs;
}

bool has_extension(const Fns& fn, VkPhysicalDevice pd, const char* ext) {
  uint32_t n = 0;
  if (fn.vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> props(n);
  if (fn.vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, props.data()) != VK_SUCCESS)
    return false;
  for (uint32_t i = 0; i < n; ++i)
    if (std::strcmp(props[i].extensionName, ext) == 0) return true;
  return false;
}

// Fills the feature struct `feat` (sType set, pNext null) when the device lists `ext`;
// false when it does not.
bool query_features(const Fns& fn, VkPhysicalDevice pd, const char* ext, void* feat) {
  if (!has_extension(fn, pd, ext)) return false;
  VkPhysicalDeviceFeatures2 f2{};
  f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  f2.pNext = feat;
  fn.vkGetPhysicalDeviceFeatures2(pd, &f2);
  static_cast<VkBaseOutStructure*>(feat)->pNext = nullptr;
  return true;
}

// Whether the device lists VK_NV_cooperative_matrix with a 16x16x16 f16 x f16 -> f32
// (accumulator and result f32) subgroup-scope shape, the one shaders/mul_mm_cm.comp uses.
bool coopmat_shape_supported(const Fns& fn, VkPhysicalDevice pd) {
  if (!fn.vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) return false;
  if (!has_extension(fn, pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
  uint32_t n = 0;
  if (fn.vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkCooperativeMatrixPropertiesNV> props(n);
  for (auto& p : props) p.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
  if (n && fn.vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, props.data()) != VK_SUCCESS)
    return false;
  for (uint32_t i = 0; i < n && i < props.size(); ++i) {
    const VkCooperativeMatrixPropertiesNV& p = props[i];
    if (p.MSize == 16 && p.NSize == 16 && p.KSize == 16 && p.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        p.BType == VK_COMPONENT_TYPE_FLOAT16_NV && p.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        p.DType == VK_COMPONENT_TYPE_FLOAT32_NV && p.scope == VK_SCOPE_SUBGROUP_NV)
      return true;
  }
  return false;
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

struct PhysInfo {
  DeviceCaps caps;
  std::string driver;
  uint64_t device_local = 0;
  uint64_t budget = 0;
};

PhysInfo query(const Fns& fn, VkPhysicalDevice pd) {
  PhysInfo info;
  VkPhysicalDeviceSubgroupProperties sub{};
  sub.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  VkPhysicalDeviceDriverProperties drv{};
  drv.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
  sub.pNext = &drv;
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm{};
  sm.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV;
  if (has_extension(fn, pd, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) drv.pNext = &sm;
  VkPhysicalDeviceProperties2 p2{};
  p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  p2.pNext = &sub;
  fn.vkGetPhysicalDeviceProperties2(pd, &p2);
  info.caps.sm_count = sm.shaderSMCount;
  info.caps.props = p2.properties;
  info.caps.subgroup_size = sub.subgroupSize;
  info.caps.subgroup_arithmetic = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                  (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  info.driver = std::string(drv.driverName);
  if (drv.driverInfo[0]) info.driver += std::string(" ") + drv.driverInfo;
  info.caps.memory_budget = has_extension(fn, pd, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{};
  budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
  VkPhysicalDeviceMemoryProperties2 m2{};
  m2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
  if (info.caps.memory_budget) m2.pNext = &budget;
  fn.vkGetPhysicalDeviceMemoryProperties2(pd, &m2);
  info.caps.mem = m2.memoryProperties;
  for (uint32_t h = 0; h < m2.memoryProperties.memoryHeapCount; ++h) {
    if (!(m2.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
    info.device_local += m2.memoryProperties.memoryHeaps[h].size;
    if (info.caps.memory_budget) info.budget += budget.heapBudget[h];
  }
  return info;
}

}  // namespace

std::vector<DeviceInfo> list_devices() {
  Fns fn;
  VkInstance inst = create_instance(fn);
  std::vector<DeviceInfo> out;
  auto devs = physical_devices(fn, inst);
  for (size_t i = 0; i < devs.size(); ++i) {
    PhysInfo pi = query(fn, devs[i]);
    DeviceInfo d;
    d.index = int(i);
    d.name = pi.caps.props.deviceName;
    d.type = type_name(pi.caps.props.deviceType);
    d.device_local_bytes = pi.device_local;
    d.budget_bytes = pi.budget;
    d.subgroup_size = pi.caps.subgroup_size;
    d.driver = pi.driver;
    out.push_back(std::move(d));
  }
  if (out.empty()) throw Error("Vulkan: no loader/driver exposes a device (0 physical devices)");
  return out;
}

std::unique_ptr<Context> Context::create(int device_index) {
  std::unique_ptr<Context> c(new Context());
  c->instance = create_instance(c->fn);
  auto devs = physical_devices(c->fn, c->instance);
  if (devs.empty()) throw Error("Vulkan: no loader/driver exposes a device (0 physical devices)");
  if (device_index < 0 || size_t(device_index) >= devs.size())
    throw Error("Vulkan: device index " + std::to_string(device_index) + " out of range (" +
                std::to_string(devs.size()) + " devices; see `petrel devices`)");
  c->phys = devs[size_t(device_index)];
  PhysInfo pi = query(c->fn, c->phys);
  c->caps = pi.caps;
  c->name = pi.caps.props.deviceName;
  if (pi.caps.props.apiVersion < VK_API_VERSION_1_2)
    throw Error("Vulkan: device '" + c->name + "' supports only Vulkan " +
                std::to_string(VK_API_VERSION_MAJOR(pi.caps.props.apiVersion)) + "." +
                std::to_string(VK_API_VERSION_MINOR(pi.caps.props.apiVersion)) + "; petrel needs 1.2");
  if (!c->caps.subgroup_arithmetic)
    throw Error("Vulkan: device '" + c->name + "' lacks subgroup arithmetic in compute shaders");

  uint32_t nq = 0;
  c->fn.vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> qf(nq);
  c->fn.vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, qf.data());
  int family = -1;
  for (uint32_t i = 0; i < nq; ++i) {
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      family = int(i);
      break;
    }
  }
  if (family < 0) throw Error("Vulkan: device '" + c->name + "' has no compute queue");
  c->queue_family = uint32_t(family);
  c->caps.timestamp_bits = qf[size_t(family)].timestampValidBits;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci{};
  qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  qci.queueFamilyIndex = c->queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  VkPhysicalDeviceFeatures supported{};
  c->fn.vkGetPhysicalDeviceFeatures(c->phys, &supported);
  VkPhysicalDeviceFeatures feats{};
  feats.shaderStorageBufferArrayDynamicIndexing = supported.shaderStorageBufferArrayDynamicIndexing;
  std::vector<const char*> exts;
  if (c->caps.memory_budget) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  // 8-bit packed integer dot products (OpSDot in shaders/mul_mvq.comp), when offered
  VkPhysicalDeviceShaderIntegerDotProductFeatures idp{};
  idp.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
  if (query_features(c->fn, c->phys, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME, &idp) &&
      idp.shaderIntegerDotProduct) {
    exts.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    c->caps.integer_dot = true;
  }
  // Tensor cores through VK_NV_cooperative_matrix (shaders/mul_mm_cm.comp), when offered
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cmf{};
  cmf.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV;
  VkPhysicalDeviceShaderFloat16Int8Features f16f{};
  f16f.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
  VkPhysicalDeviceVulkanMemoryModelFeatures vmm{};
  vmm.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES;
  if (coopmat_shape_supported(c->fn, c->phys) && c->caps.subgroup_size == 32) {
    cmf.pNext = &f16f;
    f16f.pNext = &vmm;
    VkPhysicalDeviceFeatures2 f2{};
    f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    f2.pNext = &cmf;
    c->fn.vkGetPhysicalDeviceFeatures2(c->phys, &f2);
    if (cmf.cooperativeMatrix && f16f.shaderFloat16 && vmm.vulkanMemoryModel) {
      exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
      c->caps.coopmat = true;
      // enable only what the shader needs
      cmf = VkPhysicalDeviceCooperativeMatrixFeaturesNV{};
      cmf.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV;
      cmf.cooperativeMatrix = VK_TRUE;
      f16f = VkPhysicalDeviceShaderFloat16Int8Features{};
      f16f.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
      f16f.shaderFloat16 = VK_TRUE;
      vmm = VkPhysicalDeviceVulkanMemoryModelFeatures{};
      vmm.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES;
      vmm.vulkanMemoryModel = VK_TRUE;
      cmf.pNext = &f16f;
      f16f.pNext = &vmm;
    }
  }
  // the compiler's statistics of each pipeline (registers ...), for benchmarks
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pef{};
  pef.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR;
  if (query_features(c->fn, c->phys, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME, &pef) &&
      pef.pipelineExecutableInfo) {
    exts.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    c->caps.pipeline_stats = true;
  }
  // timeline semaphores (core in 1.2): gated submissions (Context::submit_gated); 16-bit
  // storage buffer access (core in 1.1): f16 stores (mul_mvq_gluh)
  VkPhysicalDeviceTimelineSemaphoreFeatures tsf{};
  tsf.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES;
  VkPhysicalDevice16BitStorageFeatures s16{};
  s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
  {
    VkPhysicalDeviceFeatures2 f2{};
    f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    f2.pNext = &tsf;
    tsf.pNext = &s16;
    c->fn.vkGetPhysicalDeviceFeatures2(c->phys, &f2);
    tsf.pNext = nullptr;
    c->caps.timeline_semaphore = tsf.timelineSemaphore == VK_TRUE;
    c->caps.storage16 = s16.storageBuffer16BitAccess == VK_TRUE;
    // enable only what the shaders use
    s16 = VkPhysicalDevice16BitStorageFeatures{};
    s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
    s16.storageBuffer16BitAccess = VK_TRUE;
  }
  // the device's clock against the host's (pass timing diagnostics: Context::calibrate)
  if (c->fn.vkGetPhysicalDeviceCalibrateableTimeDomainsEXT &&
      has_extension(c->fn, c->phys, VK_EXT_CALIBRATED_TIMESTAMPS_EXTENSION_NAME)) {
    uint32_t n = 0;
    c->fn.vkGetPhysicalDeviceCalibrateableTimeDomainsEXT(c->phys, &n, nullptr);
    std::vector<VkTimeDomainEXT> d(n);
    if (n && c->fn.vkGetPhysicalDeviceCalibrateableTimeDomainsEXT(c->phys, &n, d.data()) == VK_SUCCESS) {
      d.resize(n);
      auto has = [&](VkTimeDomainEXT t) { return std::find(d.begin(), d.end(), t) != d.end(); };
      if (has(VK_TIME_DOMAIN_DEVICE_EXT) && has(VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT)) {
        exts.push_back(VK_EXT_CALIBRATED_TIMESTAMPS_EXTENSION_NAME);
        c->caps.calibrated_timestamps = true;
      }
    }
  }
  // the device clock in shaders (diagnostics: attn_fused_clk, attn_decode_clk)
  VkPhysicalDeviceShaderClockFeaturesKHR clk{};
  clk.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR;
  if (query_features(c->fn, c->phys, VK_KHR_SHADER_CLOCK_EXTENSION_NAME, &clk) &&
      clk.shaderDeviceClock && clk.shaderSubgroupClock) {
    exts.push_back(VK_KHR_SHADER_CLOCK_EXTENSION_NAME);
    c->caps.shader_clock = true;
  }
  // feature chain of the device: 16-bit storage, timeline semaphores, pipeline statistics,
  // integer dot, then cooperative matrix structs
  void* chain = nullptr;
  if (c->caps.coopmat) chain = &cmf;
  if (c->caps.integer_dot) {
    idp.pNext = chain;
    chain = &idp;
  }
  if (c->caps.pipeline_stats) {
    pef.pNext = chain;
    chain = &pef;
  }
  if (c->caps.timeline_semaphore) {
    tsf.pNext = chain;
    chain = &tsf;
  }
  if (c->caps.storage16) {
    s16.pNext = chain;
    chain = &s16;
  }
  if (c->caps.shader_clock) {
    clk.pNext = chain;
    chain = &clk;
  }
  VkDeviceCreateInfo dci{};
  dci.pNext = chain;
  dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.pEnabledFeatures = &feats;
  dci.enabledExtensionCount = uint32_t(exts.size());
  dci.ppEnabledExtensionNames = exts.data();
  PETREL_VK_CHECK(c->fn.vkCreateDevice(c->phys, &dci, nullptr, &c->device));
#define PETREL_VK_LOAD(f) \
  c->fn.f = reinterpret_cast<PFN_##f>(c->fn.vkGetDeviceProcAddr(c->device, #f));
  PETREL_VK_DEVICE_FNS(PETREL_VK_LOAD)
#undef PETREL_VK_LOAD
  c->fn.vkGetDeviceQueue(c->device, c->queue_family, 0, &c->queue);

  VkCommandPoolCreateInfo pci{};
  pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = c->queue_family;
  PETREL_VK_CHECK(c->fn.vkCreateCommandPool(c->device, &pci, nullptr, &c->pool_));
  VkFenceCreateInfo fci{};
  fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  PETREL_VK_CHECK(c->fn.vkCreateFence(c->device, &fci, nullptr, &c->fence_));
  if (c->caps.timeline_semaphore) {
    for (VkFence& f : c->gate_fences_) PETREL_VK_CHECK(c->fn.vkCreateFence(c->device, &fci, nullptr, &f));
    VkSemaphoreTypeCreateInfo tci{};
    tci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    tci.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    tci.initialValue = 0;
    VkSemaphoreCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    sci.pNext = &tci;
    PETREL_VK_CHECK(c->fn.vkCreateSemaphore(c->device, &sci, nullptr, &c->gate_));
  }
  return c;
}

Context::~Context() {
  if (device) {
    if (held_ >= 0) signal_gate();  // (else the device would wait for it forever)
    fn.vkDeviceWaitIdle(device);
    if (gate_) fn.vkDestroySemaphore(device, gate_, nullptr);
    for (VkFence f : gate_fences_)
      if (f) fn.vkDestroyFence(device, f, nullptr);
    if (fence_) fn.vkDestroyFence(device, fence_, nullptr);
    if (pool_) fn.vkDestroyCommandPool(device, pool_, nullptr);
    fn.vkDestroyDevice(device, nullptr);
  }
  // the instance is the process's (create_instance): not destroyed here
}

VkCommandBuffer Context::alloc_command_buffer() {
  VkCommandBufferAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  PETREL_VK_CHECK(fn.vkAllocateCommandBuffers(device, &ai, &cb));
  return cb;
}

void Context::free_command_buffer(VkCommandBuffer cb) {
  fn.vkFreeCommandBuffers(device, pool_, 1, &cb);
}

void Context::submit_and_wait(VkCommandBuffer cb) {
  settle();
  VkSubmitInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  PETREL_VK_CHECK(fn.vkResetFences(device, 1, &fence_));
  const auto t0 = std::chrono::steady_clock::now();
  PETREL_VK_CHECK(fn.vkQueueSubmit(queue, 1, &si, fence_));
  note_release(t0);
  wait_fence(fence_);
}

// seconds on `t`'s clock since its epoch
static double epoch_seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

void Context::note_release(std::chrono::steady_clock::time_point t0) {
  using Clock = std::chrono::steady_clock;
  last_release_at = epoch_seconds(t0);
  last_submit_s = std::chrono::duration<double>(Clock::now() - t0).count();
  last_outside_s = last_return_ == Clock::time_point{}
                       ? 0.0
                       : std::chrono::duration<double>(t0 - last_return_).count();
}

void Context::wait_fence(VkFence fence) {
  using Clock = std::chrono::steady_clock;
  bool done = false;
  if (spin_wait) {
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(1);
    do {
      const VkResult r = fn.vkGetFenceStatus(device, fence);
      if (r != VK_SUCCESS && r != VK_NOT_READY)
        throw_vk_error("vkGetFenceStatus", r, __FILE__, __LINE__);
      done = r == VK_SUCCESS;
    } while (!done && Clock::now() < give_up);
  }
  if (!done) PETREL_VK_CHECK(fn.vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX));
  last_return_ = Clock::now();
  last_seen_at = epoch_seconds(last_return_);
}

std::pair<uint64_t, double> Context::calibrate() const {
  if (!caps.calibrated_timestamps) return {0, 0.0};
  VkCalibratedTimestampInfoEXT info[2]{};
  for (auto& i : info) i.sType = VK_STRUCTURE_TYPE_CALIBRATED_TIMESTAMP_INFO_EXT;
  info[0].timeDomain = VK_TIME_DOMAIN_DEVICE_EXT;
  info[1].timeDomain = VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT;
  uint64_t ts[2] = {0, 0}, deviation = 0;
  PETREL_VK_CHECK(fn.vkGetCalibratedTimestampsEXT(device, 2, info, ts, &deviation));
  return {ts[0], double(ts[1]) * 1e-9};
}

void Context::submit_gated(VkCommandBuffer cb) {
  if (!gate_) throw Error("Vulkan: gated submission needs timeline semaphores (device '" + name + "')");
  if (held_ >= 0) throw Error("Vulkan: a gated submission is already held");
  const int slot = released_ == 0 ? 1 : 0;
  PETREL_VK_CHECK(fn.vkResetFences(device, 1, &gate_fences_[slot]));
  const uint64_t wait_value = gate_value_ + 1;
  VkTimelineSemaphoreSubmitInfo ts{};
  ts.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
  ts.waitSemaphoreValueCount = 1;
  ts.pWaitSemaphoreValues = &wait_value;
  const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  VkSubmitInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  si.pNext = &ts;
  si.waitSemaphoreCount = 1;
  si.pWaitSemaphores = &gate_;
  si.pWaitDstStageMask = &stage;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  PETREL_VK_CHECK(fn.vkQueueSubmit(queue, 1, &si, gate_fences_[slot]));
  gate_value_ = wait_value;
  held_ = slot;
}

void Context::open_gate() {
  if (held_ < 0) throw Error("Vulkan: open_gate without a held submission");
  if (released_ >= 0) wait_gated();
  const auto t0 = std::chrono::steady_clock::now();
  PETREL_VK_CHECK(signal_gate());
  note_release(t0);
  released_ = held_;
  held_ = -1;
}

VkResult Context::signal_gate() {
  VkSemaphoreSignalInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
  si.semaphore = gate_;
  si.value = gate_value_;
  return fn.vkSignalSemaphore(device, &si);
}

void Context::wait_gated() {
  if (released_ < 0) return;
  const int slot = released_;
  released_ = -1;  // (also when the wait throws: the device is then lost anyway)
  wait_fence(gate_fences_[slot]);
}

void Context::settle() {
  release();
  wait_gated();
}

void Context::run_now(const std::function<void(VkCommandBuffer)>& rec) {
  VkCommandBuffer cb = alloc_command_buffer();
  try {
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    PETREL_VK_CHECK(fn.vkBeginCommandBuffer(cb, &bi));
    // earlier submissions' device writes (uploads, shaders) -> this one
    VkMemoryBarrier mb{};
    mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    mb.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
    fn.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                            0, 1, &mb, 0, nullptr, 0, nullptr);
    rec(cb);
    PETREL_VK_CHECK(fn.vkEndCommandBuffer(cb));
    submit_and_wait(cb);
  } catch (...) {
    free_command_buffer(cb);
    throw;
  }
  free_command_buffer(cb);
}

uint64_t Context::device_budget() const {
  if (!caps.memory_budget) return 0;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{};
  budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
  VkPhysicalDeviceMemoryProperties2 m2{};
  m2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
  m2.pNext = &budget;
  fn.vkGetPhysicalDeviceMemoryProperties2(phys, &m2);
  uint64_t total = 0;
  for (uint32_t h = 0; h < m2.memoryProperties.memoryHeapCount; ++h)
    if (m2.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      total += budget.heapBudget[h];
  return total;
}

}  // namespace petrel::vk
