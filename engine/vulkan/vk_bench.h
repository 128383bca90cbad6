// GPU-timed measurements for benchmarks (bench/bench_vulkan.cpp, bench/lib/vk_bench.cpp):
// matmul shaders on random weights and device-memory read bandwidth, timed with
// timestamp queries. Not used by inference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/vulkan/vk_ops.h"

namespace petrel::vk {

// Fills `bytes` of blocks of `type` with random bytes, then sets every f16 scale field to a
// small finite value, so the data is valid and not all zeros.
void fill_random_blocks(kernels::Type type, void* dst, size_t bytes, uint64_t seed);

// `count` weights of `type` (n_out x n_in) filled by fill_random_blocks (seeds 1..count)
// and uploaded to `ops`.
std::vector<GpuWeight> upload_random_weights(Ops& ops, kernels::Type type, int64_t n_in,
                                             int64_t n_out, int count);

// Median seconds of one y = W x over n_tokens tokens (below kMmMinTokens mul_mvq_q8 on x
// quantized beforehand when the tuning enables it and the weight allows it, else mul_mv;
// mul_mm from there) for a random n_out x n_in weight of `type`; `copies` weights are
// rotated so a weight smaller than the cache is not read from it.
double time_matmul(Ops& ops, kernels::Type type, int64_t n_in, int64_t n_out, int64_t n_tokens,
                   int reps, int copies = 4);

// Median bytes/s of reading a `bytes` buffer once with the bandwidth shader.
double time_read_bandwidth(Ops& ops, uint64_t bytes, int reps);

// The same on device `device` with its default tuning (opens the device for the call).
double bench_matmul(int device, kernels::Type type, int64_t n_in, int64_t n_out,
                    int64_t n_tokens, int reps);
double bench_read_bandwidth(int device, uint64_t bytes, int reps);

// Seconds per phase of `phases` rounds that each read `bytes` (a different one of 8 regions
// each round) with `groups` workgroups of Ops::kGridSyncThreads, which must all be resident
// at once (at most one per SM): one dispatch per round with a pipeline barrier after each
// (`barriers`), one dispatch with a grid-wide counter barrier after each round (`grid`),
// one dispatch with neither (`none`); medians of `reps`. gave_up: grid-barrier polls that
// gave up over all runs (nonzero: the workgroups were not all resident, `grid` is void).
struct GridSyncTimes {
  double barriers = 0, grid = 0, none = 0;
  uint64_t gave_up = 0;
};
GridSyncTimes time_grid_sync(Ops& ops, uint64_t bytes, uint32_t groups, int phases, int reps);

// A stage boundary split by events: seconds per round of two stages A and B that each
// stream `bytes` (different data each) in `parts` dispatches (one wave of `groups`
// workgroups of Ops::kGridSyncThreads), part i of B depending on part i of A, and a
// pipeline barrier after B. `whole`: A and B one dispatch each with a pipeline barrier
// between; `split`: the parts with one pipeline barrier between the stages; `events`: each
// A part sets an event that its B part waits for (vkCmdSetEvent / vkCmdWaitEvents), so B's
// first parts may run beside A's last; `none`: the parts with no sync between the stages
// (the bound). Medians of `reps`.
struct EventSplitTimes {
  double whole = 0, split = 0, events = 0, none = 0;
};
EventSplitTimes time_event_split(Ops& ops, uint64_t bytes, uint32_t parts, uint32_t groups,
                                 int reps);

// Seconds per dispatch of 32 dispatches streaming `bytes` each (a different region each) with
// `groups` workgroups of Ops::kGridSyncThreads and a pipeline barrier after each, dispatch i
// holding pattern[i % size] KB of shared memory (0, 16 or 44): does changing the shared
// memory size between dispatches cost? Median of `reps`.
double time_smem_sequence(Ops& ops, uint64_t bytes, uint32_t groups,
                          const std::vector<uint32_t>& pattern, int reps);

// Host <-> device handshake latency with no submission in the loop (shaders/pingpong.comp):
// seconds from the host writing a round's number to the word the device polls
// (device-local host-visible memory) until it sees the device's answer in host memory.
// Medians and 10th / 90th percentiles over `rounds` rounds (the first one, the launch,
// left out); gave_up: the device's poll gave up (the figures are void; on lavapipe, which
// ends any shader loop after 65535 rounds, it does).
struct PingPongTimes {
  double median = 0, p10 = 0, p90 = 0;
  bool gave_up = false;
};
PingPongTimes time_host_pingpong(Ops& ops, int rounds);

// Device seconds per tiny dispatch (one workgroup reading 4 KB), `count` of them each
// after a barrier against everything before it: in one command buffer (`one_cb`), one a
// command buffer in one submission (`cbs`), one a submission in one vkQueueSubmit
// (`submits`) and one a vkQueueSubmit call (`calls`): what a submission boundary costs on
// the device beyond a barrier. Medians of `reps`.
struct SubmitGapTimes {
  double one_cb = 0, cbs = 0, submits = 0, calls = 0;
};
SubmitGapTimes time_submit_gap(Ops& ops, int count, int reps);

// Seconds per repetition of `body` (recorded n times, a barrier after each) between two
// GPU timestamps, in one submission.
double time_recorded(Ops& ops, int n, const std::function<void(VkCommandBuffer, int)>& body);

// Bytes of a weight in the GPU layout (what one matvec reads).
uint64_t gpu_weight_bytes(kernels::Type type, int64_t n_in, int64_t n_out);

}  // namespace petrel::vk
