// Vulkan instance and device: opening the loader (dlopen), listing physical devices,
// creating a logical device with one compute queue, and one-shot command submission.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

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
  // Vulkan 1.2's timeline semaphores enabled: Context::submit_gated
  bool timeline_semaphore = false;
  // storageBuffer16BitAccess enabled: f16 values stored by shaders (mul_mvq_gluh)
  bool storage16 = false;
  // VK_EXT_calibrated_timestamps enabled with the device's and CLOCK_MONOTONIC's domains:
  // Context::calibrate
  bool calibrated_timestamps = false;
  // VK_KHR_shader_clock with the device and subgroup clocks enabled (diagnostic shaders)
  bool shader_clock = false;
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
  // its fence, for up to a second, then by sleeping on it). A held gated submission is
  // released and waited for first.
  void submit_and_wait(VkCommandBuffer cb);
  // Gated submissions (with caps.timeline_semaphore): submit_gated hands a recorded command
  // buffer to the queue now, to be held by the device until open_gate (the host signals a
  // timeline semaphore the submission waits for), so that the submission's cost is paid
  // while earlier work runs; host writes to coherent mapped memory made before open_gate
  // are seen by the released work. At most one is held at a time, and one released and
  // not yet waited for: wait_gated waits for that one (as submit_and_wait does). settle
  // releases a held one and waits; the destructor settles. Throws on misuse.
  void submit_gated(VkCommandBuffer cb);
  void open_gate();
  void wait_gated();
  void settle();
  // Releases a held submission without waiting for it (a no-op without one).
  void release() {
    if (held_ >= 0) open_gate();
  }
  bool holding() const { return held_ >= 0; }
  // With caps.calibrated_timestamps: the device's timestamp (ticks) and the host's
  // steady clock (seconds since its epoch, CLOCK_MONOTONIC) at one moment; {0, 0} without.
  std::pair<uint64_t, double> calibrate() const;
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
  // one before to this one's submission (0 for the first); of the last open_gate: in
  // vkSignalSemaphore, and from the last return to the signal
  double last_submit_s = 0, last_outside_s = 0;
  // the host's steady clock (seconds since its epoch) at the last submission or release
  // (the call's start) and when the last wait for a pass returned
  double last_release_at = 0, last_seen_at = 0;

 private:
  Context() = default;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  // waits for `fence` (see submit_and_wait), then notes the time of the return
  void wait_fence(VkFence fence);
  // after a submission or release call that began at t0: last_release_at, last_submit_s
  // and last_outside_s
  void note_release(std::chrono::steady_clock::time_point t0);
  // signals gate_ to gate_value_ (releases the held submission)
  VkResult signal_gate();
  VkFence fence_ = VK_NULL_HANDLE;
  std::chrono::steady_clock::time_point last_return_{};  // of the last wait for a pass
  // submit_gated: the semaphore, the value the last gated submission waits for, and two
  // fences (gate_fences_[held_] of the held one, gate_fences_[released_] of the one
  // released and not waited for; -1: none)
  VkSemaphore gate_ = VK_NULL_HANDLE;
  uint64_t gate_value_ = 0;
  VkFence gate_fences_[2] = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  int held_ = -1, released_ = -1;
};

}  // namespace petrel::vk
