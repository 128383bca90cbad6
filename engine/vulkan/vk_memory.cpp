// Buffers and device memory. Device-local buffers are placed in blocks of kBlockBytes (a
// buffer larger than a block gets its own allocation); host-visible buffers each get their
// own allocation and stay mapped. Uploads go through one staging buffer in pieces.
#include "engine/vulkan/vk_memory.h"

#include <algorithm>
#include <cstring>

namespace petrel::vk {
namespace {
constexpr VkDeviceSize kBlockBytes = VkDeviceSize(256) << 20;
constexpr VkDeviceSize kStagingBytes = VkDeviceSize(64) << 20;

std::string mib(VkDeviceSize b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; }
}  // namespace

Memory::Memory(Context& ctx) : ctx_(ctx) {}

Memory::~Memory() {
  ctx_.fn.vkDeviceWaitIdle(ctx_.device);
  for (Buffer& b : buffers_) {
    if (b.mapped) ctx_.fn.vkUnmapMemory(ctx_.device, b.memory);
    ctx_.fn.vkDestroyBuffer(ctx_.device, b.handle, nullptr);
  }
  for (VkDeviceMemory m : own_memory_) ctx_.fn.vkFreeMemory(ctx_.device, m, nullptr);
  for (Block& bl : blocks_) ctx_.fn.vkFreeMemory(ctx_.device, bl.mem, nullptr);
}

uint32_t Memory::pick_type(uint32_t bits, VkMemoryPropertyFlags want,
                           VkMemoryPropertyFlags avoid) const {
  const auto& mp = ctx_.caps.mem;
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
    if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) return i;
  }
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
    if ((bits & (1u << i)) && (f & want) == want) return i;
  }
  return UINT32_MAX;
}

VkDeviceMemory Memory::allocate(VkDeviceSize size, uint32_t type, const std::string& what) {
  VkMemoryAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  ai.allocationSize = size;
  ai.memoryTypeIndex = type;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkResult r = ctx_.fn.vkAllocateMemory(ctx_.device, &ai, nullptr, &mem);
  if (r != VK_SUCCESS)
    throw Error("Vulkan: cannot allocate " + mib(size) + " for " + what + " on '" + ctx_.name +
                "' (" + result_name(r) + "; " + mib(device_bytes_) + " already allocated" +
                (ctx_.caps.memory_budget ? ", budget " + mib(ctx_.device_budget()) : "") + ")");
  return mem;
}

VkBuffer Memory::make_buffer(VkDeviceSize size, const std::string& what) {
  if (size > ctx_.caps.props.limits.maxStorageBufferRange)
    throw Error("Vulkan: buffer for " + what + " needs " + std::to_string(size) +
                " bytes, over the device's maxStorageBufferRange (" +
                std::to_string(ctx_.caps.props.limits.maxStorageBufferRange) + ")");
  VkBufferCreateInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = std::max<VkDeviceSize>(size, 16);
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buf = VK_NULL_HANDLE;
  PETREL_VK_CHECK(ctx_.fn.vkCreateBuffer(ctx_.device, &bi, nullptr, &buf));
  return buf;
}

Buffer* Memory::device_buffer(VkDeviceSize size, const std::string& what) {
  Buffer b;
  b.size = size;
  b.handle = make_buffer(size, what);
  VkMemoryRequirements req;
  ctx_.fn.vkGetBufferMemoryRequirements(ctx_.device, b.handle, &req);
  uint32_t type = pick_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
  if (type == UINT32_MAX) type = pick_type(req.memoryTypeBits, 0, 0);
  try {
    if (type == UINT32_MAX) throw Error("Vulkan: no memory type for " + what);
    if (req.size > kBlockBytes / 2) {
      b.memory = allocate(req.size, type, what);
      own_memory_.push_back(b.memory);
      b.memory_offset = 0;
    } else {
      Block* blk = nullptr;
      for (Block& bl : blocks_) {
        VkDeviceSize off = (bl.used + req.alignment - 1) / req.alignment * req.alignment;
        if (bl.type == type && off + req.size <= bl.size) {
          blk = &bl;
          break;
        }
      }
      if (!blk) {
        blocks_.push_back(Block{allocate(kBlockBytes, type, what), kBlockBytes, 0, type});
        blk = &blocks_.back();
      }
      VkDeviceSize off = (blk->used + req.alignment - 1) / req.alignment * req.alignment;
      b.memory = blk->mem;
      b.memory_offset = off;
      blk->used = off + req.size;
    }
    PETREL_VK_CHECK(ctx_.fn.vkBindBufferMemory(ctx_.device, b.handle, b.memory, b.memory_offset));
  } catch (...) {
    ctx_.fn.vkDestroyBuffer(ctx_.device, b.handle, nullptr);
    throw;
  }
  device_bytes_ += req.size;
  buffers_.push_back(b);
  return &buffers_.back();
}

Buffer* Memory::host_buffer(VkDeviceSize size, bool readback, const std::string& what) {
  return mapped_buffer(size, readback ? Mapped::kReadback : Mapped::kHost, what);
}

Buffer* Memory::mapped_device_buffer(VkDeviceSize size, const std::string& what) {
  return mapped_buffer(size, Mapped::kDevice, what);
}

Buffer* Memory::mapped_buffer(VkDeviceSize size, Mapped kind, const std::string& what) {
  Buffer b;
  b.size = size;
  b.handle = make_buffer(size, what);
  VkMemoryRequirements req;
  ctx_.fn.vkGetBufferMemoryRequirements(ctx_.device, b.handle, &req);
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
  const VkMemoryPropertyFlags coherent = host | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  uint32_t type = UINT32_MAX;
  if (kind == Mapped::kDevice) {
    type = pick_type(req.memoryTypeBits, coherent | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (type == UINT32_MAX) {
      ctx_.fn.vkDestroyBuffer(ctx_.device, b.handle, nullptr);
      return nullptr;
    }
  }
  if (kind == Mapped::kReadback)
    type = pick_type(req.memoryTypeBits, coherent | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
  if (type == UINT32_MAX)
    type = pick_type(req.memoryTypeBits, coherent, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (type == UINT32_MAX) type = pick_type(req.memoryTypeBits, host, 0);
  try {
    if (type == UINT32_MAX) throw Error("Vulkan: no host-visible memory type for " + what);
    b.coherent = ctx_.caps.mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    b.memory = allocate(req.size, type, what);
    own_memory_.push_back(b.memory);
    PETREL_VK_CHECK(ctx_.fn.vkBindBufferMemory(ctx_.device, b.handle, b.memory, 0));
    PETREL_VK_CHECK(ctx_.fn.vkMapMemory(ctx_.device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped));
  } catch (...) {
    ctx_.fn.vkDestroyBuffer(ctx_.device, b.handle, nullptr);
    throw;
  }
  buffers_.push_back(b);
  return &buffers_.back();
}

void Memory::invalidate(const Buffer& b) {
  if (b.coherent || !b.mapped) return;
  VkMappedMemoryRange r{};
  r.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
  r.memory = b.memory;
  r.offset = 0;
  r.size = VK_WHOLE_SIZE;
  PETREL_VK_CHECK(ctx_.fn.vkInvalidateMappedMemoryRanges(ctx_.device, 1, &r));
}

void Memory::upload(const Buffer& dst, VkDeviceSize off, const void* src, size_t bytes) {
  if (off + bytes > dst.size)
    throw Error("Vulkan: upload of " + std::to_string(bytes) + " bytes at offset " +
                std::to_string(off) + " runs past a buffer of " + std::to_string(dst.size));
  if (!staging_) staging_ = host_buffer(kStagingBytes, false, "staging");
  const auto* p = static_cast<const uint8_t*>(src);
  for (size_t done = 0; done < bytes;) {
    size_t n = std::min<size_t>(bytes - done, kStagingBytes);
    std::memcpy(staging_->mapped, p + done, n);
    ctx_.run_now([&](VkCommandBuffer cb) {
      VkBufferCopy c{0, off + done, n};
      ctx_.fn.vkCmdCopyBuffer(cb, staging_->handle, dst.handle, 1, &c);
    });
    done += n;
  }
}

void Memory::download(const Buffer& src, VkDeviceSize off, void* dst, size_t bytes) {
  if (off + bytes > src.size)
    throw Error("Vulkan: download of " + std::to_string(bytes) + " bytes at offset " +
                std::to_string(off) + " runs past a buffer of " + std::to_string(src.size));
  if (!staging_) staging_ = host_buffer(kStagingBytes, false, "staging");
  auto* p = static_cast<uint8_t*>(dst);
  for (size_t done = 0; done < bytes;) {
    size_t n = std::min<size_t>(bytes - done, kStagingBytes);
    ctx_.run_now([&](VkCommandBuffer cb) {
      VkBufferCopy c{off + done, 0, n};
      ctx_.fn.vkCmdCopyBuffer(cb, src.handle, staging_->handle, 1, &c);
    });
    invalidate(*staging_);
    std::memcpy(p + done, staging_->mapped, n);
    done += n;
  }
}

}  // namespace petrel::vk
