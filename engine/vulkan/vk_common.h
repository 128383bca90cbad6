// Internal to the Vulkan backend: the Vulkan headers without prototypes (the loader is
// opened with dlopen, see vk_device.cpp), the table of entry points we use, and the check
// macro that turns a failed call into petrel::Error with the call text, the VkResult name
// and file:line.
#pragma once
#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include <string>

#include "gguf/error.h"

namespace petrel::vk {

// Entry points resolved without an instance.
#define PETREL_VK_GLOBAL_FNS(X) \
  X(vkCreateInstance)           \
  X(vkEnumerateInstanceVersion) \
  X(vkEnumerateInstanceExtensionProperties)

// Entry points resolved through the instance.
#define PETREL_VK_INSTANCE_FNS(X)              \
  X(vkDestroyInstance)                         \
  X(vkEnumeratePhysicalDevices)                \
  X(vkGetPhysicalDeviceProperties)             \
  X(vkGetPhysicalDeviceProperties2)            \
  X(vkGetPhysicalDeviceFeatures)               \
  X(vkGetPhysicalDeviceFeatures2)              \
  X(vkGetPhysicalDeviceMemoryProperties)       \
  X(vkGetPhysicalDeviceMemoryProperties2)      \
  X(vkGetPhysicalDeviceQueueFamilyProperties)  \
  X(vkEnumerateDeviceExtensionProperties)      \
  X(vkCreateDevice)                            \
  X(vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) \
  X(vkGetPhysicalDeviceCalibrateableTimeDomainsEXT) \
  X(vkGetDeviceProcAddr)

// Entry points resolved through the device.
#define PETREL_VK_DEVICE_FNS(X)      \
  X(vkDestroyDevice)                 \
  X(vkGetDeviceQueue)                \
  X(vkDeviceWaitIdle)                \
  X(vkCreateBuffer)                  \
  X(vkDestroyBuffer)                 \
  X(vkGetBufferMemoryRequirements)   \
  X(vkAllocateMemory)                \
  X(vkFreeMemory)                    \
  X(vkBindBufferMemory)              \
  X(vkMapMemory)                     \
  X(vkUnmapMemory)                   \
  X(vkInvalidateMappedMemoryRanges)  \
  X(vkCreateShaderModule)            \
  X(vkDestroyShaderModule)           \
  X(vkCreateDescriptorSetLayout)     \
  X(vkDestroyDescriptorSetLayout)    \
  X(vkCreatePipelineLayout)          \
  X(vkDestroyPipelineLayout)         \
  X(vkCreateComputePipelines)        \
  X(vkDestroyPipeline)               \
  X(vkCreateDescriptorPool)          \
  X(vkDestroyDescriptorPool)         \
  X(vkAllocateDescriptorSets)        \
  X(vkUpdateDescriptorSets)          \
  X(vkCreateCommandPool)             \
  X(vkDestroyCommandPool)            \
  X(vkAllocateCommandBuffers)        \
  X(vkFreeCommandBuffers)            \
  X(vkBeginCommandBuffer)            \
  X(vkEndCommandBuffer)              \
  X(vkCmdBindPipeline)               \
  X(vkCmdBindDescriptorSets)         \
  X(vkCmdPushConstants)              \
  X(vkCmdDispatch)                   \
  X(vkCmdPipelineBarrier)            \
  X(vkCreateEvent)                   \
  X(vkDestroyEvent)                  \
  X(vkCmdSetEvent)                   \
  X(vkCmdWaitEvents)                 \
  X(vkCmdCopyBuffer)                 \
  X(vkCmdFillBuffer)                 \
  X(vkCmdWriteTimestamp)             \
  X(vkCmdResetQueryPool)             \
  X(vkCreateQueryPool)               \
  X(vkDestroyQueryPool)              \
  X(vkGetQueryPoolResults)           \
  X(vkCmdCopyQueryPoolResults)       \
  X(vkQueueSubmit)                   \
  X(vkCreateFence)                   \
  X(vkDestroyFence)                  \
  X(vkWaitForFences)                 \
  X(vkGetFenceStatus)                \
  X(vkResetFences)                   \
  X(vkCreateSemaphore)               \
  X(vkDestroySemaphore)              \
  X(vkSignalSemaphore)               \
  X(vkGetCalibratedTimestampsEXT)    \
  X(vkGetPipelineExecutablePropertiesKHR) \
  X(vkGetPipelineExecutableStatisticsKHR)

struct Fns {
#define PETREL_VK_DECL(f) PFN_##f f = nullptr;
  PETREL_VK_GLOBAL_FNS(PETREL_VK_DECL)
  PETREL_VK_INSTANCE_FNS(PETREL_VK_DECL)
  PETREL_VK_DEVICE_FNS(PETREL_VK_DECL)
#undef PETREL_VK_DECL
};

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc.
const char* result_name(VkResult r);

// Throws petrel::Error("Vulkan: <call> failed: <VkResult> (<file>:<line>)").
[[noreturn]] void throw_vk_error(const char* call, VkResult r, const char* file, int line);

}  // namespace petrel::vk

#define PETREL_VK_CHECK(call)                                                  \
  do {                                                                         \
    VkResult petrel_vk_r_ = (call);                                            \
    if (petrel_vk_r_ != VK_SUCCESS)                                            \
      ::petrel::vk::throw_vk_error(#call, petrel_vk_r_, __FILE__, __LINE__);   \
  } while (0)
