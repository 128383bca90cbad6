// The pipeline table and descriptor-set cache. Every compute pipeline of the backend is
// one row of kTable; typed rows exist once per weight type ("mul_mv" -> "mul_mv_q4_k"...).
#include "engine/vulkan/vk_pipelines.h"

#include <algorithm>
#include <initializer_list>

#include "engine/vulkan/vk_spirv.h"

namespace petrel::vk {
namespace {

enum class Spec {
  kMvWg, kMvRows, kMvqWg, kMvqRows, kMvqoWg, kMvqoRows, kMvqoGroups, kMvqUnroll, kMvqoUnroll,
  kMvqGluUnroll, kMvqoxUnroll, kWgSmall, kWgLarge, kAttnWg
};

struct Row {
  const char* name;
  bool per_type;                          // one pipeline per weight type
  std::initializer_list<uint32_t> bindings;  // descriptor count per binding
  uint32_t push_bytes;
  std::initializer_list<Spec> spec;       // constant ids 0, 1, ...
};

const char* const kTypeSuffixes[] = {"f32",  "f16",  "bf16", "q4_0", "q4_1", "q5_0",
                                     "q5_1", "q8_0", "q4_k", "q5_k", "q6_k"};

const Row kTable[] = {
    {"mul_mv", true, {1, 1, 1, 1}, sizeof(MulMvPush), {Spec::kMvWg, Spec::kMvRows}},
    {"mul_mv_glu", true, {2, 1, 1, 1}, sizeof(MulMvPush), {Spec::kMvWg, Spec::kMvRows}},
    // mul_mvq*: constant 2 (NG) exists only in the QOUT variants, the others ignore it;
    // constant 3 (UNR) left out is 1 (mul_mvqo_glu)
    {"mul_mvq", true, {1, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqWg, Spec::kMvqRows, Spec::kMvqoGroups, Spec::kMvqUnroll}},
    {"mul_mvq_glu", true, {2, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqWg, Spec::kMvqRows, Spec::kMvqoGroups, Spec::kMvqGluUnroll}},
    {"mul_mvq_qkv", true, {3, 1, 3, 3}, sizeof(MulMvqkvPush),
     {Spec::kMvqWg, Spec::kMvqRows, Spec::kMvqoGroups, Spec::kMvqUnroll}},
    {"mul_mvq_heads", true, {1, 1, 1, 1, 1}, sizeof(MulMvqHeadsPush),
     {Spec::kMvqWg, Spec::kMvqRows, Spec::kMvqoGroups, Spec::kMvqUnroll}},
    {"mul_mvq_qkv_heads", true, {3, 1, 3, 3, 1}, sizeof(MulMvqkvHeadsPush),
     {Spec::kMvqWg, Spec::kMvqRows, Spec::kMvqoGroups, Spec::kMvqUnroll}},
    {"mul_mvqo", true, {1, 1, 1, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqoWg, Spec::kMvqoRows, Spec::kMvqoGroups, Spec::kMvqoUnroll}},
    {"mul_mvqox", true, {1, 1, 1, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqoWg, Spec::kMvqoRows, Spec::kMvqoGroups, Spec::kMvqoxUnroll}},
    {"mul_mvq_gluh", true, {2, 1, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqWg, Spec::kMvqRows, Spec::kMvqoGroups, Spec::kMvqGluUnroll}},
    {"mul_mvqoxh", true, {1, 1, 1, 1, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqoWg, Spec::kMvqoRows, Spec::kMvqoGroups, Spec::kMvqoxUnroll}},
    {"mul_mvqo_glu", true, {2, 1, 1, 1, 1, 1}, sizeof(MulMvqPush),
     {Spec::kMvqoWg, Spec::kMvqoRows, Spec::kMvqoGroups}},
    {"quantize_q8", false, {1, 1, 1}, sizeof(QuantizeQ8Push), {Spec::kWgLarge}},
    {"mul_mm", true, {1, 1, 1, 1}, sizeof(MulMmPush), {}},
    {"mul_mm_cm", true, {1, 1, 1, 1}, sizeof(MulMmPush), {}},
    {"mul_mm_cm_n64", true, {1, 1, 1, 1}, sizeof(MulMmPush), {}},
    {"get_rows", true, {1, 1, 1}, sizeof(GetRowsPush), {Spec::kWgSmall}},
    {"get_rows_q8", true, {1, 1, 1, 1, 1}, sizeof(GetRowsPush), {Spec::kWgSmall}},
    {"rms_norm", false, {1, 1, 1}, sizeof(RmsNormPush), {Spec::kWgLarge}},
    {"rope_store", false, {1, 1, 1, 1, 1, 1, 1}, sizeof(RopeStorePush), {Spec::kWgSmall}},
    {"attn", false, {1, 1, 1, 1, 1, 1}, sizeof(AttnPush), {Spec::kWgSmall}},
    {"attn_tiled", false, {1, 1, 1, 1, 1}, sizeof(AttnTiledPush), {}},
    {"attn_combine", false, {1, 1}, sizeof(AttnCombinePush), {Spec::kWgSmall}},
    {"attn_fused", false, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, sizeof(AttnFusedPush), {Spec::kAttnWg}},
    {"attn_fused_clk", false, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, sizeof(AttnFusedPush), {Spec::kAttnWg}},
    {"attn_decode", false, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, sizeof(AttnFusedPush), {Spec::kAttnWg}},
    {"attn_decode_wait", false, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, sizeof(AttnFusedPush), {Spec::kAttnWg}},
    {"attn_decode_clk", false, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, sizeof(AttnFusedPush), {Spec::kAttnWg}},
    {"x_tiles", false, {1, 1}, sizeof(XTilesPush), {Spec::kWgLarge}},
    {"x_tiles_glu", false, {1, 1, 1}, sizeof(XTilesPush), {Spec::kWgLarge}},
    {"silu_mul", false, {1, 1, 1}, sizeof(CountPush), {Spec::kWgLarge}},
    {"add", false, {1, 1}, sizeof(CountPush), {Spec::kWgLarge}},
    {"softmax", false, {1}, sizeof(CountPush), {Spec::kWgLarge}},
    {"argmax", false, {1, 1}, sizeof(CountPush), {Spec::kWgLarge}},
    {"top_k", false, {1, 1, 1}, sizeof(TopKPush), {Spec::kWgLarge}},
    {"bandwidth", false, {1, 1}, sizeof(CountPush), {Spec::kWgLarge}},
    {"grid_sync", false, {1, 1, 1}, sizeof(GridSyncPush), {}},
    {"grid_sync_s16k", false, {1, 1, 1}, sizeof(GridSyncPush), {}},
    {"grid_sync_s44k", false, {1, 1, 1}, sizeof(GridSyncPush), {}},
    {"pingpong", false, {1, 1}, sizeof(PingPongPush), {}},
};

const Row* find_row(std::string_view name) {
  for (const Row& r : kTable) {
    if (!r.per_type) {
      if (name == r.name) return &r;
      continue;
    }
    for (const char* t : kTypeSuffixes)
      if (name == std::string(r.name) + "_" + t) return &r;
  }
  return nullptr;
}

}  // namespace

std::pair<uint32_t, uint32_t> mvqo_shape(const Tuning& t, bool q6_k, bool q8_0, bool glu) {
  const Tuning::MvqoShape& s = t.mvqo(q6_k, q8_0);
  return glu ? std::make_pair(s.glu_wg, s.glu_rows) : std::make_pair(s.wg, s.rows);
}

namespace {

uint32_t spec_value(Spec s, const Tuning& t, std::string_view name) {
  const bool k_quant = name.size() > 2 && name.substr(name.size() - 2) == "_k";
  const bool q6_k = name.size() > 4 && name.substr(name.size() - 4) == "q6_k";
  const bool q8_0 = name.size() > 4 && name.substr(name.size() - 4) == "q8_0";
  const auto shape = mvqo_shape(t, q6_k, q8_0, name.find("_glu_") != std::string_view::npos);
  switch (s) {
    case Spec::kMvWg: return t.mv_wg;
    case Spec::kMvRows: return q6_k ? t.mv_rows_q6_k : k_quant ? t.mv_rows_k : t.mv_rows;
    case Spec::kMvqWg: return q6_k ? t.mvq_wg_q6_k : q8_0 ? t.mvq_wg_q8_0 : t.mvq_wg;
    case Spec::kMvqRows: return q6_k ? t.mvq_rows_q6_k : q8_0 ? t.mvq_rows_q8_0 : t.mvq_rows;
    case Spec::kMvqoWg: return shape.second ? shape.first * (32 / shape.second) : 0;
    case Spec::kMvqoRows: return shape.second;
    case Spec::kMvqoGroups: return shape.second ? 32 / shape.second : 0;
    case Spec::kMvqUnroll: return std::max<uint32_t>(1, t.mvqo(q6_k, q8_0).unroll);
    case Spec::kMvqoUnroll: return std::max<uint32_t>(1, t.mvqo(q6_k, q8_0).o_unroll);
    case Spec::kMvqGluUnroll: return std::max<uint32_t>(1, t.mvqo(q6_k, q8_0).glu_unroll);
    case Spec::kMvqoxUnroll: return std::max<uint32_t>(1, t.mvqo(q6_k, q8_0).x_unroll);
    case Spec::kWgSmall: return t.wg_small;
    case Spec::kWgLarge: return t.wg_large;
    case Spec::kAttnWg: return t.attn_wg;
  }
  return 0;
}

constexpr uint32_t kSetsPerPool = 512;

}  // namespace

Pipelines::Pipelines(Context& ctx, const Tuning& t) : ctx_(ctx), tuning_(t) {}

Pipelines::~Pipelines() {
  for (auto& [name, p] : pipes_) {
    ctx_.fn.vkDestroyPipeline(ctx_.device, p->pipeline, nullptr);
    ctx_.fn.vkDestroyPipelineLayout(ctx_.device, p->layout, nullptr);
    ctx_.fn.vkDestroyDescriptorSetLayout(ctx_.device, p->set_layout, nullptr);
  }
  for (VkDescriptorPool pool : pools_) ctx_.fn.vkDestroyDescriptorPool(ctx_.device, pool, nullptr);
}

const Pipeline& Pipelines::get(std::string_view name) {
  auto it = pipes_.find(std::string(name));
  if (it != pipes_.end()) return *it->second;
  const Row* row = find_row(name);
  if (!row) throw Error("Vulkan: no pipeline named '" + std::string(name) + "' in the table");
  const Spirv* spv = find_spirv(name);
  if (!spv) throw Error("Vulkan: no embedded SPIR-V for '" + std::string(name) + "'");

  auto p = std::make_unique<Pipeline>();
  p->name = std::string(name);
  p->bindings.assign(row->bindings.begin(), row->bindings.end());
  p->push_bytes = row->push_bytes;
  std::vector<VkDescriptorSetLayoutBinding> lb;
  for (uint32_t i = 0; i < p->bindings.size(); ++i)
    lb.push_back({i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, p->bindings[i], VK_SHADER_STAGE_COMPUTE_BIT,
                  nullptr});
  VkDescriptorSetLayoutCreateInfo dl{};
  dl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  dl.bindingCount = uint32_t(lb.size());
  dl.pBindings = lb.data();
  PETREL_VK_CHECK(ctx_.fn.vkCreateDescriptorSetLayout(ctx_.device, &dl, nullptr, &p->set_layout));
  VkPushConstantRange pr{VK_SHADER_STAGE_COMPUTE_BIT, 0, p->push_bytes};
  VkPipelineLayoutCreateInfo pl{};
  pl.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &p->set_layout;
  pl.pushConstantRangeCount = 1;
  pl.pPushConstantRanges = &pr;
  PETREL_VK_CHECK(ctx_.fn.vkCreatePipelineLayout(ctx_.device, &pl, nullptr, &p->layout));

  VkShaderModuleCreateInfo sm{};
  sm.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  sm.codeSize = spv->n_words * 4;
  sm.pCode = spv->words;
  VkShaderModule module = VK_NULL_HANDLE;
  PETREL_VK_CHECK(ctx_.fn.vkCreateShaderModule(ctx_.device, &sm, nullptr, &module));

  std::vector<VkSpecializationMapEntry> entries;
  uint32_t i = 0;
  for (Spec s : row->spec) {
    p->spec[i] = spec_value(s, tuning_, name);
    entries.push_back({i, i * 4, 4});
    ++i;
  }
  VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), entries.size() * 4, p->spec};
  VkComputePipelineCreateInfo ci{};
  ci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = entries.empty() ? nullptr : &si;
  ci.layout = p->layout;
  if (tuning_.pipeline_stats && ctx_.caps.pipeline_stats)
    ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkResult r = ctx_.fn.vkCreateComputePipelines(ctx_.device, VK_NULL_HANDLE, 1, &ci, nullptr,
                                                &p->pipeline);
  ctx_.fn.vkDestroyShaderModule(ctx_.device, module, nullptr);
  if (r != VK_SUCCESS) throw_vk_error(("vkCreateComputePipelines(" + p->name + ")").c_str(), r, __FILE__, __LINE__);
  const Pipeline& out = *p;
  pipes_.emplace(p->name, std::move(p));
  return out;
}

std::vector<std::string> Pipelines::statistics(const std::string& name) const {
  std::vector<std::string> out;
  auto it = pipes_.find(name);
  if (it == pipes_.end() || !tuning_.pipeline_stats || !ctx_.caps.pipeline_stats) return out;
  VkPipelineInfoKHR pi{};
  pi.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR;
  pi.pipeline = it->second->pipeline;
  uint32_t n_exec = 0;
  PETREL_VK_CHECK(ctx_.fn.vkGetPipelineExecutablePropertiesKHR(ctx_.device, &pi, &n_exec, nullptr));
  for (uint32_t e = 0; e < n_exec; ++e) {
    VkPipelineExecutableInfoKHR ei{};
    ei.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR;
    ei.pipeline = pi.pipeline;
    ei.executableIndex = e;
    uint32_t n = 0;
    PETREL_VK_CHECK(ctx_.fn.vkGetPipelineExecutableStatisticsKHR(ctx_.device, &ei, &n, nullptr));
    std::vector<VkPipelineExecutableStatisticKHR> st(n);
    for (auto& s : st) s.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
    PETREL_VK_CHECK(ctx_.fn.vkGetPipelineExecutableStatisticsKHR(ctx_.device, &ei, &n, st.data()));
    for (const auto& s : st) {
      std::string v;
      switch (s.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: v = s.value.b32 ? "true" : "false"; break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: v = std::to_string(s.value.i64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: v = std::to_string(s.value.u64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: v = std::to_string(s.value.f64); break;
        default: v = "?";
      }
      out.push_back(std::string(s.name) + " " + v);
    }
  }
  return out;
}

VkDescriptorSet Pipelines::descriptor_set(const Pipeline& p, const std::vector<BufRef>& bufs) {
  size_t n_desc = 0;
  for (uint32_t c : p.bindings) n_desc += c;
  if (bufs.size() != n_desc)
    throw Error("Vulkan: pipeline '" + p.name + "' takes " + std::to_string(n_desc) +
                " buffers, got " + std::to_string(bufs.size()));
  std::vector<uint64_t> key;
  key.push_back(reinterpret_cast<uint64_t>(p.set_layout));
  for (const BufRef& b : bufs) {
    if (!b.buf) throw Error("Vulkan: pipeline '" + p.name + "' given a null buffer");
    key.push_back(reinterpret_cast<uint64_t>(b.buf->handle));
    key.push_back(b.offset);
    key.push_back(b.range);
  }
  auto it = sets_.find(key);
  if (it != sets_.end()) return it->second;

  if (pool_left_ == 0) {
    VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * 8};
    VkDescriptorPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    pci.maxSets = kSetsPerPool;
    pci.poolSizeCount = 1;
    pci.pPoolSizes = &ps;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    PETREL_VK_CHECK(ctx_.fn.vkCreateDescriptorPool(ctx_.device, &pci, nullptr, &pool));
    pools_.push_back(pool);
    pool_left_ = kSetsPerPool;
  }
  VkDescriptorSetAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  ai.descriptorPool = pools_.back();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &p.set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  PETREL_VK_CHECK(ctx_.fn.vkAllocateDescriptorSets(ctx_.device, &ai, &set));
  --pool_left_;

  std::vector<VkDescriptorBufferInfo> infos;
  infos.reserve(bufs.size());
  for (const BufRef& b : bufs) infos.push_back({b.buf->handle, b.offset, b.range});
  std::vector<VkWriteDescriptorSet> writes;
  size_t k = 0;
  for (uint32_t i = 0; i < p.bindings.size(); ++i) {
    VkWriteDescriptorSet w{};
    w.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    w.dstSet = set;
    w.dstBinding = i;
    w.descriptorCount = p.bindings[i];
    w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w.pBufferInfo = &infos[k];
    k += p.bindings[i];
    writes.push_back(w);
  }
  ctx_.fn.vkUpdateDescriptorSets(ctx_.device, uint32_t(writes.size()), writes.data(), 0, nullptr);
  sets_.emplace(std::move(key), set);
  return set;
}

void Pipelines::dispatch(VkCommandBuffer cb, const Pipeline& p, const std::vector<BufRef>& bufs,
                         const void* push, uint32_t gx, uint32_t gy, uint32_t gz) {
  VkDescriptorSet set = descriptor_set(p, bufs);
  ctx_.fn.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  ctx_.fn.vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0,
                                  nullptr);
  ctx_.fn.vkCmdPushConstants(cb, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p.push_bytes, push);
  ctx_.fn.vkCmdDispatch(cb, gx, gy, gz);
  if (tracking_) dispatched_.push_back(p.name);
}

}  // namespace petrel::vk
