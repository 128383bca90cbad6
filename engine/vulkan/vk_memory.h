// Buffers and device memory: device-local storage buffers sub-allocated from large blocks,
// host-visible buffers (inputs, readback), and uploads/downloads through a staging buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/vulkan/vk_device.h"

namespace petrel::vk {

struct Buffer {
  VkBuffer handle = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
  void* mapped = nullptr;  // host-visible buffers: persistently mapped
  bool coherent = true;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize memory_offset = 0;
};

// A view of a buffer for a descriptor binding.
struct BufRef {
  const Buffer* buf = nullptr;
  VkDeviceSize offset = 0;
  VkDeviceSize range = VK_WHOLE_SIZE;
};

class Memory {
 public:
  explicit Memory(Context& ctx);
  ~Memory();
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  // A device-local storage buffer of `size` bytes (what names it in errors). Lives as long
  // as this Memory.
  Buffer* device_buffer(VkDeviceSize size, const std::string& what);
  // A host-visible, mapped storage buffer; `readback` prefers host-cached memory.
  Buffer* host_buffer(VkDeviceSize size, bool readback, const std::string& what);
  // A device-local buffer the host writes through a mapping (host-coherent), or null
  // where the device has no such memory type.
  Buffer* mapped_device_buffer(VkDeviceSize size, const std::string& what);
  // Copies bytes host -> dst at byte offset `off` through the staging buffer (synchronous).
  void upload(const Buffer& dst, VkDeviceSize off, const void* src, size_t bytes);
  // Copies bytes src at `off` -> host (synchronous).
  void download(const Buffer& src, VkDeviceSize off, void* dst, size_t bytes);
  // Makes device writes to a mapped host buffer visible to the host (non-coherent memory).
  void invalidate(const Buffer& b);
  // Device-local bytes allocated so far.
  uint64_t device_bytes() const { return device_bytes_; }

 private:
  struct Block {
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkDeviceSize size = 0, used = 0;
    uint32_t type = 0;
  };
  uint32_t pick_type(uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) const;
  // host_buffer (kHost; kReadback: host-cached where there is such memory) and
  // mapped_device_buffer (kDevice: device-local host-visible memory or null)
  enum class Mapped { kHost, kReadback, kDevice };
  Buffer* mapped_buffer(VkDeviceSize size, Mapped kind, const std::string& what);
  VkDeviceMemory allocate(VkDeviceSize size, uint32_t type, const std::string& what);
  VkBuffer make_buffer(VkDeviceSize size, const std::string& what);

  Context& ctx_;
  std::deque<Buffer> buffers_;
  std::vector<Block> blocks_;
  std::vector<VkDeviceMemory> own_memory_;
  Buffer* staging_ = nullptr;
  uint64_t device_bytes_ = 0;
};

}  // namespace petrel::vk
