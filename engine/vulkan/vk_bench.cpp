// GPU-timed benchmark helpers: timestamp queries around repeated dispatches.
#include "engine/vulkan/vk_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/types.h"

namespace petrel::vk {
namespace {

using kernels::Type;

// Offsets of the f16 scale fields inside one block.
std::vector<size_t> half_fields(Type t) {
  switch (t) {
    case Type::kQ4_0: case Type::kQ5_0: case Type::kQ8_0: return {0};
    case Type::kQ4_1: case Type::kQ5_1: case Type::kQ4_K: case Type::kQ5_K: return {0, 2};
    case Type::kQ6_K: return {208};
    default: return {};
  }
}

// Seconds between the two timestamps of `pool` (waits for them).
double pool_seconds(Ops& ops, VkQueryPool pool) {
  Context& c = ops.ctx();
  uint64_t ts[2] = {0, 0};
  PETREL_VK_CHECK(c.fn.vkGetQueryPoolResults(c.device, pool, 0, 2, sizeof ts, ts, 8,
                                             VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  return ops.ticks_to_seconds(ts[1] - ts[0]);
}

// Times `body` (recorded `n` times between two timestamps) and returns seconds per call.
double timed(Ops& ops, int n, const std::function<void(VkCommandBuffer, int)>& body) {
  Context& c = ops.ctx();
  VkQueryPool pool = ops.timestamp_pool(2);
  double seconds = 0;
  try {
    c.run_now([&](VkCommandBuffer cb) {
      c.fn.vkCmdResetQueryPool(cb, pool, 0, 2);
      ops.transfer_barrier(cb);
      c.fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool, 0);
      for (int i = 0; i < n; ++i) {
        body(cb, i);
        ops.barrier(cb);
      }
      c.fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, 1);
    });
    seconds = pool_seconds(ops, pool);
  } catch (...) {
    c.fn.vkDestroyQueryPool(c.device, pool, nullptr);
    throw;
  }
  c.fn.vkDestroyQueryPool(c.device, pool, nullptr);
  return seconds / n;
}

}  // namespace

double time_recorded(Ops& ops, int n, const std::function<void(VkCommandBuffer, int)>& body) {
  return timed(ops, n, body);
}

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

void fill_random_blocks(Type type, void* dst, size_t bytes, uint64_t seed) {
  auto* p = static_cast<uint8_t*>(dst);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    std::memcpy(p + i, &s, 8);
  }
  for (; i < bytes; ++i) p[i] = uint8_t(i * 131 + seed);
  const kernels::TypeTraits* tr = kernels::type_traits(type);
  if (!tr) throw Error("fill_random_blocks: unsupported type id " + std::to_string(uint32_t(type)));
  if (type == Type::kF32) {
    auto* f = static_cast<float*>(dst);
    for (size_t k = 0; k < bytes / 4; ++k) f[k] = float(int(p[k * 4] % 200) - 100) * 1e-3f;
    return;
  }
  if (type == Type::kF16 || type == Type::kBF16) {
    auto* h = static_cast<uint16_t*>(dst);
    for (size_t k = 0; k < bytes / 2; ++k) {
      const float f = float(int(h[k] % 200) - 100) * 1e-3f;
      h[k] = type == Type::kF16 ? kernels::f32_to_f16(f) : kernels::f32_to_bf16(f);
    }
    return;
  }
  const auto fields = half_fields(type);
  for (size_t b = 0; b + tr->block_bytes <= bytes; b += tr->block_bytes)
    for (size_t off : fields) {
      const uint16_t h = kernels::f32_to_f16(float(p[b + off] % 64 + 1) * 1e-4f);
      std::memcpy(p + b + off, &h, 2);
    }
}

uint64_t gpu_weight_bytes(Type type, int64_t n_in, int64_t n_out) {
  return gpu_layout(type, n_in, n_out, "bench").words * 4;
}

std::vector<GpuWeight> upload_random_weights(Ops& ops, Type type, int64_t n_in, int64_t n_out,
                                             int count) {
  const kernels::TypeTraits* tr = kernels::type_traits(type);
  if (!tr) throw Error("bench: unsupported type id " + std::to_string(uint32_t(type)));
  const size_t rb = kernels::row_bytes(*tr, n_in);
  std::vector<uint8_t> host(rb * size_t(n_out));
  std::vector<GpuWeight> ws;
  for (int c = 0; c < count; ++c) {
    fill_random_blocks(type, host.data(), host.size(), uint64_t(c) + 1);
    ws.push_back(ops.upload_weight({type, n_in, n_out, host.data(), rb}, "bench weight"));
  }
  return ws;
}

double time_matmul(Ops& ops, Type type, int64_t n_in, int64_t n_out, int64_t n_tokens, int reps,
                   int copies) {
  const std::vector<GpuWeight> ws = upload_random_weights(ops, type, n_in, n_out, copies);
  std::vector<float> x(size_t(n_in * n_tokens));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.01f;
  Buffer* xb = ops.upload_f32(x.data(), x.size(), "bench x");
  Buffer* yb = ops.mem().device_buffer(size_t(n_out * n_tokens) * 4, "bench y");
  const MatArgs a{xb, 0, uint32_t(n_in), yb, 0, uint32_t(n_out)};
  // the int8-activation matvec: x quantized once here, only mul_mvq_q8 timed
  const bool mvq = n_tokens < kMmMinTokens && ops.pipes().tuning().use_mvq && ops.mvq_supported(ws[0]);
  Q8Act xq;
  if (mvq) {
    xq = ops.alloc_q8(uint32_t(n_in * n_tokens), "bench x int8");
    ops.ctx().run_now([&](VkCommandBuffer cb) {
      ops.quantize_q8(cb, *xb, 0, uint32_t(n_in), uint32_t(n_in), uint32_t(n_tokens), xq, nullptr, 0.f);
    });
  }
  auto body = [&](VkCommandBuffer cb, int i) {
    const GpuWeight& w = ws[size_t(i) % ws.size()];
    if (mvq)
      ops.mul_mvq_q8(cb, w, xq, a, uint32_t(n_tokens));
    else
      ops.matmul(cb, w, a, uint32_t(n_tokens));
  };
  const int per = std::max(copies, 8 / copies * copies);
  // warm-up: pipeline creation and descriptor sets, then at least kWarmSeconds of GPU work:
  // an H100 left idle while the host prepares the next case drops to 345 MHz, and a short
  // burst right after measured prompt matmuls 3-4x slow (not with the clocks kept up)
  constexpr double kWarmSeconds = 0.2;
  timed(ops, copies, body);
  for (double busy = 0; busy < kWarmSeconds;) busy += timed(ops, per, body) * per;
  std::vector<double> t;
  for (int r = 0; r < std::max(1, reps); ++r) t.push_back(timed(ops, per, body));
  return median(t);
}

double time_read_bandwidth(Ops& ops, uint64_t bytes, int reps) {
  bytes = bytes / 16 * 16;
  if (bytes / 16 > 0xFFFFFFFFull) throw Error("time_read_bandwidth: buffer too large");
  Buffer* src = ops.mem().device_buffer(bytes, "bandwidth source");
  const uint32_t groups = 2048, threads = groups * ops.pipes().tuning().wg_large;
  Buffer* dst = ops.mem().device_buffer(uint64_t(threads) * 4, "bandwidth sink");
  ops.ctx().run_now([&](VkCommandBuffer cb) {
    ops.ctx().fn.vkCmdFillBuffer(cb, src->handle, 0, VK_WHOLE_SIZE, 0x01020304u);
  });
  auto body = [&](VkCommandBuffer cb, int) { ops.bandwidth(cb, *src, uint32_t(bytes / 16), *dst, groups); };
  timed(ops, 1, body);
  std::vector<double> t;
  for (int r = 0; r < std::max(1, reps); ++r) t.push_back(timed(ops, 4, body));
  return double(bytes) / median(t);
}

namespace {

// The buffers of Ops::grid_sync_stream runs (`what` names them): src, 8 regions of n4
// 16-byte words, filled; cnt of cnt_bytes; dst, a word per thread of `groups` workgroups.
struct StreamBuffers {
  Buffer *src, *cnt, *dst;
};
StreamBuffers stream_buffers(Ops& ops, uint64_t n4, uint64_t cnt_bytes, uint32_t groups,
                             const std::string& what) {
  Memory& m = ops.mem();
  Context& c = ops.ctx();
  StreamBuffers b{m.device_buffer(n4 * 16 * 8, what + " source"),
                  m.device_buffer(cnt_bytes, what + " counters"),
                  m.device_buffer(uint64_t(groups) * Ops::kGridSyncThreads * 4, what + " sink")};
  c.run_now([&](VkCommandBuffer cb) {
    c.fn.vkCmdFillBuffer(cb, b.src->handle, 0, VK_WHOLE_SIZE, 0x01020304u);
  });
  return b;
}

}  // namespace

GridSyncTimes time_grid_sync(Ops& ops, uint64_t bytes, uint32_t groups, int phases, int reps) {
  const uint64_t n4 = bytes / 16;
  if (n4 == 0 || n4 * 8 > 0xFFFFFFFFull || groups == 0 || phases <= 0)
    throw Error("time_grid_sync: bad shape (" + std::to_string(bytes) + " bytes, " +
                std::to_string(groups) + " groups, " + std::to_string(phases) + " phases)");
  Memory& m = ops.mem();
  Context& c = ops.ctx();
  const StreamBuffers sb = stream_buffers(ops, n4, (uint64_t(phases) + 1) * 4, groups, "grid sync");
  Buffer *src = sb.src, *cnt = sb.cnt, *dst = sb.dst;
  Buffer* host = m.host_buffer(4, true, "grid sync gave-up count");
  const uint32_t k = uint32_t(phases);
  auto run = [&](VkCommandBuffer cb, uint32_t n, uint32_t sync, uint32_t phase0) {
    ops.grid_sync_stream(cb, *src, *cnt, *dst, {uint32_t(n4), n, sync, phase0}, groups);
  };
  GridSyncTimes out;
  std::vector<double> tb, tg, tn;
  for (int r = 0; r < std::max(1, reps) + 1; ++r) {  // the first round warms up
    const double b = time_recorded(ops, phases, [&](VkCommandBuffer cb, int i) { run(cb, 1, 0, uint32_t(i)); });
    c.run_now([&](VkCommandBuffer cb) { c.fn.vkCmdFillBuffer(cb, cnt->handle, 0, VK_WHOLE_SIZE, 0); });
    const double g = time_recorded(ops, 1, [&](VkCommandBuffer cb, int) { run(cb, k, 1, 0); }) / phases;
    c.run_now([&](VkCommandBuffer cb) {
      const VkBufferCopy cp{uint64_t(phases) * 4, 0, 4};
      c.fn.vkCmdCopyBuffer(cb, cnt->handle, host->handle, 1, &cp);
    });
    m.invalidate(*host);
    out.gave_up += *static_cast<const uint32_t*>(host->mapped);
    const double n = time_recorded(ops, 1, [&](VkCommandBuffer cb, int) { run(cb, k, 0, 0); }) / phases;
    if (r == 0) continue;
    tb.push_back(b);
    tg.push_back(g);
    tn.push_back(n);
  }
  out.barriers = median(tb);
  out.grid = median(tg);
  out.none = median(tn);
  return out;
}

double time_smem_sequence(Ops& ops, uint64_t bytes, uint32_t groups,
                          const std::vector<uint32_t>& pattern, int reps) {
  const uint64_t n4 = std::max<uint64_t>(1, bytes / 16);
  if (n4 * 8 > 0xFFFFFFFFull || groups == 0 || pattern.empty())
    throw Error("time_smem_sequence: bad shape");
  const StreamBuffers sb = stream_buffers(ops, n4, 16, groups, "smem sequence");
  Buffer *src = sb.src, *cnt = sb.cnt, *dst = sb.dst;
  const int n = 32;
  std::vector<double> t;
  for (int r = 0; r < std::max(1, reps) + 1; ++r) {  // the first round warms up
    const double s = time_recorded(ops, n, [&](VkCommandBuffer cb, int i) {
      ops.grid_sync_stream(cb, *src, *cnt, *dst, {uint32_t(n4), 1, 0, uint32_t(i)}, groups,
                           pattern[size_t(i) % pattern.size()]);
    });
    if (r > 0) t.push_back(s);
  }
  return median(t);
}

EventSplitTimes time_event_split(Ops& ops, uint64_t bytes, uint32_t parts, uint32_t groups,
                                 int reps) {
  const uint64_t n4 = bytes / 16 / std::max(1u, parts);
  if (n4 == 0 || parts == 0 || parts > 4 || n4 * 8 * parts > 0xFFFFFFFFull || groups == 0)
    throw Error("time_event_split: bad shape (" + std::to_string(bytes) + " bytes, " +
                std::to_string(parts) + " parts)");
  Context& c = ops.ctx();
  // regions of one part each: A's parts 0..parts-1, B's parts..2 parts-1 (at most 8)
  const StreamBuffers sb = stream_buffers(ops, n4, 16, groups, "event split");
  Buffer *src = sb.src, *cnt = sb.cnt, *dst = sb.dst;
  // one dispatch streaming `words` 16-byte words from region `r` (of `words` each): a whole
  // stage (n4 * parts words, r 0 for A, 1 for B: the same bytes as its parts) or part r
  auto stream = [&](VkCommandBuffer cb, uint64_t words, uint32_t r) {
    ops.grid_sync_stream(cb, *src, *cnt, *dst, {uint32_t(words), 1, 0, r}, groups);
  };
  const int rounds = 16;
  // one event a part a round, unsignalled again before each timed run
  struct Events {
    Context& c;
    std::vector<VkEvent> v;
    ~Events() { clear(); }
    void clear() {
      for (VkEvent e : v) c.fn.vkDestroyEvent(c.device, e, nullptr);
      v.clear();
    }
    void fresh(size_t n) {
      clear();
      VkEventCreateInfo ei{};
      ei.sType = VK_STRUCTURE_TYPE_EVENT_CREATE_INFO;
      for (size_t i = 0; i < n; ++i) {
        VkEvent e = VK_NULL_HANDLE;
        PETREL_VK_CHECK(c.fn.vkCreateEvent(c.device, &ei, nullptr, &e));
        v.push_back(e);
      }
    }
  } events{c, {}};
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  std::vector<double> tw, ts, te, tn;
  for (int r = 0; r < std::max(1, reps) + 1; ++r) {  // the first round warms up
    const double w = time_recorded(ops, rounds, [&](VkCommandBuffer cb, int) {
      stream(cb, n4 * parts, 0);
      ops.barrier(cb);
      stream(cb, n4 * parts, 1);
    });
    const double s = time_recorded(ops, rounds, [&](VkCommandBuffer cb, int) {
      for (uint32_t i = 0; i < parts; ++i) stream(cb, n4, i);
      ops.barrier(cb);
      for (uint32_t i = 0; i < parts; ++i) stream(cb, n4, parts + i);
    });
    events.fresh(size_t(rounds) * parts);
    const double e = time_recorded(ops, rounds, [&](VkCommandBuffer cb, int k) {
      const VkEvent* ev = &events.v[size_t(k) * parts];
      for (uint32_t i = 0; i < parts; ++i) {
        stream(cb, n4, i);
        c.fn.vkCmdSetEvent(cb, ev[i], st);
      }
      for (uint32_t i = 0; i < parts; ++i) {
        c.fn.vkCmdWaitEvents(cb, 1, &ev[i], st, st, 1, &mb, 0, nullptr, 0, nullptr);
        stream(cb, n4, parts + i);
      }
    });
    const double n = time_recorded(ops, rounds, [&](VkCommandBuffer cb, int) {
      for (uint32_t i = 0; i < 2 * parts; ++i) stream(cb, n4, i);
    });
    if (r == 0) continue;
    tw.push_back(w);
    ts.push_back(s);
    te.push_back(e);
    tn.push_back(n);
  }
  return {median(tw), median(ts), median(te), median(tn)};
}

PingPongTimes time_host_pingpong(Ops& ops, int rounds) {
  if (rounds < 2) throw Error("time_host_pingpong: needs at least 2 rounds");
  Memory& m = ops.mem();
  Context& c = ops.ctx();
  Buffer* rel = m.mapped_device_buffer(16, "pingpong release word");
  if (!rel) throw Error("time_host_pingpong: the device has no device-local host-visible memory");
  Buffer* done = m.host_buffer(16, true, "pingpong done words");
  auto* r = static_cast<volatile uint32_t*>(rel->mapped);
  auto* d = static_cast<volatile uint32_t*>(done->mapped);
  r[0] = 0;
  d[0] = 0;
  d[1] = 0;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  VkCommandBuffer cb = c.alloc_command_buffer();
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  PETREL_VK_CHECK(c.fn.vkBeginCommandBuffer(cb, &bi));
  ops.pingpong(cb, *rel, *done, {uint32_t(rounds), 1u << 24});
  ops.host_barrier(cb);
  PETREL_VK_CHECK(c.fn.vkEndCommandBuffer(cb));
  c.submit_gated(cb);
  c.open_gate();
  using Clk = std::chrono::steady_clock;
  std::vector<double> t;
  PingPongTimes out;
  for (int i = 1; i <= rounds && !out.gave_up; ++i) {
    const auto t0 = Clk::now();
    r[0] = uint32_t(i);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    while (d[0] < uint32_t(i)) {
      if (d[1] != 0 || Clk::now() - t0 > std::chrono::seconds(2)) {
        out.gave_up = true;
        break;
      }
    }
    if (i > 1 && !out.gave_up) t.push_back(std::chrono::duration<double>(Clk::now() - t0).count());
  }
  if (out.gave_up) r[0] = uint32_t(rounds);  // (lets a poll still running end)
  c.wait_gated();
  c.free_command_buffer(cb);
  if (t.empty()) return out;
  std::sort(t.begin(), t.end());
  out.median = t[t.size() / 2];
  out.p10 = t[t.size() / 10];
  out.p90 = t[t.size() * 9 / 10];
  return out;
}

SubmitGapTimes time_submit_gap(Ops& ops, int count, int reps) {
  Context& c = ops.ctx();
  if (count < 2) throw Error("time_submit_gap: needs at least 2 dispatches");
  Memory& m = ops.mem();
  Buffer* src = m.device_buffer(4096, "submit gap source");
  Buffer* dst = m.device_buffer(4096, "submit gap sink");
  VkQueryPool pool = ops.timestamp_pool(2);
  VkFence fence = VK_NULL_HANDLE;
  VkFenceCreateInfo fci{};
  fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  PETREL_VK_CHECK(c.fn.vkCreateFence(c.device, &fci, nullptr, &fence));
  std::vector<VkCommandBuffer> cbs;
  auto begin = [&]() {
    VkCommandBuffer cb = c.alloc_command_buffer();
    cbs.push_back(cb);
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    PETREL_VK_CHECK(c.fn.vkBeginCommandBuffer(cb, &bi));
    return cb;
  };
  // dispatch i of count: a barrier against everything before, the read, the timestamps
  auto record = [&](VkCommandBuffer cb, int i) {
    if (i == 0) c.fn.vkCmdResetQueryPool(cb, pool, 0, 2);
    ops.start_barrier(cb);
    if (i == 0) c.fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, pool, 0);
    ops.bandwidth(cb, *src, 256, *dst, 1);
    if (i == count - 1) {
      ops.barrier(cb);
      c.fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, 1);
    }
  };
  {
    VkCommandBuffer one = begin();
    for (int i = 0; i < count; ++i) record(one, i);
    PETREL_VK_CHECK(c.fn.vkEndCommandBuffer(one));
    for (int i = 0; i < count; ++i) {
      VkCommandBuffer cb = begin();
      record(cb, i);
      PETREL_VK_CHECK(c.fn.vkEndCommandBuffer(cb));
    }
  }
  auto submit = [&](const std::vector<VkSubmitInfo>& si) {
    PETREL_VK_CHECK(c.fn.vkQueueSubmit(c.queue, uint32_t(si.size()), si.data(), VK_NULL_HANDLE));
  };
  auto finish = [&]() {
    PETREL_VK_CHECK(c.fn.vkResetFences(c.device, 1, &fence));
    PETREL_VK_CHECK(c.fn.vkQueueSubmit(c.queue, 0, nullptr, fence));
    PETREL_VK_CHECK(c.fn.vkWaitForFences(c.device, 1, &fence, VK_TRUE, UINT64_MAX));
    return pool_seconds(ops, pool) / (count - 1);
  };
  // cbs[0]: all in one; cbs[1..count]: one each, in one submission (s2) or one each (s3)
  VkSubmitInfo s1{};
  s1.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  s1.commandBufferCount = 1;
  s1.pCommandBuffers = &cbs[0];
  VkSubmitInfo s2 = s1;
  s2.commandBufferCount = uint32_t(count);
  s2.pCommandBuffers = &cbs[1];
  std::vector<VkSubmitInfo> s3(size_t(count), s1);
  for (int i = 0; i < count; ++i) s3[size_t(i)].pCommandBuffers = &cbs[size_t(i) + 1];
  c.settle();
  std::vector<double> t1, t2, t3, t4;
  for (int r = 0; r < std::max(1, reps) + 1; ++r) {  // the first round warms up
    submit({s1});
    const double a = finish();
    submit({s2});
    const double b = finish();
    submit(s3);
    const double d = finish();
    for (int i = 0; i < count; ++i) submit({s3[size_t(i)]});
    const double e = finish();
    if (r == 0) continue;
    t1.push_back(a);
    t2.push_back(b);
    t3.push_back(d);
    t4.push_back(e);
  }
  for (VkCommandBuffer cb : cbs) c.free_command_buffer(cb);
  c.fn.vkDestroyFence(c.device, fence, nullptr);
  c.fn.vkDestroyQueryPool(c.device, pool, nullptr);
  return {median(t1), median(t2), median(t3), median(t4)};
}

double bench_matmul(int device, Type type, int64_t n_in, int64_t n_out, int64_t n_tokens, int reps) {
  Ops ops(device);
  return time_matmul(ops, type, n_in, n_out, n_tokens, reps);
}

double bench_read_bandwidth(int device, uint64_t bytes, int reps) {
  Ops ops(device);
  return time_read_bandwidth(ops, bytes, reps);
}

}  // namespace petrel::vk
