// Vulkan instance and device: opening the loader (dlopen), listing physical devices,
// creating a logical device with one compute queue, and one-shot command submission.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/vulkan/vk_common.h"

namespace petrel::vk {

struct DeviceCaps {
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties mem{};
  uint32_t subgroup_size = 0;
  bool subgroup_arithmetic = false;  // GL_KHR_shader_subgroup_arithmetic in compute
  bool memory_budget = false;        // VK_EXT_memory_budget
  uint32_t timestamp_bits = 0;       // of the compute queue; 0 = no timestamps
  bool integer_dot = false;          // VK_KHR_shader_integer_dot_product enabled (mul_mvq)
  // VK_NV_cooperative_matrix enabled with a 16x16x16 f16 x f16 -> f32 subgroup shape,
  // shaderFloat16 and the Vulkan memory model, subgroups of 32 (mul_mm_cm)
  bool coopmat = false;
  uint32_t sm_count = 0;  // streaming multiprocessors (VK_NV_shader_sm_builtins); 0 = unknown
  // VK_KHR_pipeline_executable_properties enabled: the driver's statistics of a compiled
  // pipeline (registers, ...), Pipelines::statistics
  bool pipeline_stats = false;
};

class Context {
 public:
  // Opens the loader, takes the process's instance (created once, kept) and creates a
  // device on physical device `index`.
  // Throws petrel::Error naming the device and the failing call.
  static std::unique_ptr<Context> create(int device_index);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Records with `rec` into a fresh primary command buffer (after a full memory barrier
  // against earlier submissions), submits, and waits.
  void run_now(const std::function<void(VkCommandBuffer)>& rec);
  // Submits an already recorded command buffer and waits for it (with spin_wait by polling
  // its fence, for up to a second, then by sleeping on it).
  void submit_and_wait(VkCommandBuffer cb);
  // Allocates a primary command buffer from the context's pool.
  VkCommandBuffer alloc_command_buffer();
  void free_command_buffer(VkCommandBuffer cb);
  // Device-local heap budget in bytes (VK_EXT_memory_budget), or 0 when unknown.
  uint64_t device_budget() const;

  Fns fn;
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice phys = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  DeviceCaps caps;
  std::string name;
  // submit_and_wait polls rather than sleeps (Tuning::spin_wait)
  bool spin_wait = false;
  // host seconds of the last submit_and_wait: in vkQueueSubmit, and from the return of the
  // one before to this one's submission (0 for the first)
  double last_submit_s = 0, last_outside_s = 0;

 private:
  Context() = default;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::chrono::steady_clock::time_point last_return_{};  // of submit_and_wait
};

}  // namespace petrel::vk
