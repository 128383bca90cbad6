#version 450
// grid_sync: the cost of a grid-wide barrier inside one dispatch against a pipeline
// barrier between dispatches (bench only: Ops::grid_sync_stream, vk_bench's
// time_grid_sync). Every round ("phase") streams n4 16-byte words of src (region
// (phase0 + k) % 8, so consecutive phases read different data) with eight loads in flight
// per thread; with sync != 0 the workgroups then meet at a counter barrier (counter k of
// `cnt`, zero before the dispatch): thread 0 of each workgroup adds 1 and polls until all
// gl_NumWorkGroups.x arrived. That needs every workgroup resident at once (the caller
// dispatches at most one per SM); a poll gives up after SPIN_LIMIT rounds and counts that
// in cnt[phases] instead of hanging.
//
// bindings: 0 src (uvec4 [8 * n4]), 1 cnt (uint [phases + 1]), 2 dst (uint [threads])
// push:     n4, phases, sync, phase0
// SMEM_WORDS (variants grid_sync_s16k, grid_sync_s44k): the workgroup also holds that many
// words of shared memory, written and read once at the end (bench_vulkan --smem-switch:
// does a change of shared memory size between dispatches cost?)
// grid:     x = workgroups (at most the number that can be resident together)
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x = 1024) in;  // Ops::kGridSyncThreads
layout(binding = 0) readonly buffer S { uvec4 src[]; };
layout(binding = 1) volatile coherent buffer C { uint cnt[]; };
layout(binding = 2) writeonly buffer D { uint dst[]; };
layout(push_constant) uniform Push { uint n4, phases, sync, phase0; } p;
const uint SPIN_LIMIT = 1u << 22;
#ifdef SMEM_WORDS
shared uint sm[SMEM_WORDS];
#endif

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uvec4 acc = uvec4(0u);
  for (uint k = 0u; k < p.phases; ++k) {
    const uint base = ((p.phase0 + k) % 8u) * p.n4;
    for (uint i = gl_GlobalInvocationID.x; i < p.n4; i += 8u * stride) {
      uvec4 v[8];
      [[unroll]] for (uint u = 0u; u < 8u; ++u) {
        const uint j = i + u * stride;
        v[u] = j < p.n4 ? src[base + j] : uvec4(0u);
      }
      [[unroll]] for (uint u = 0u; u < 8u; ++u) acc ^= v[u];
    }
    if (p.sync != 0u) {
      memoryBarrierBuffer();
      barrier();
      if (gl_LocalInvocationIndex == 0u) {
        atomicAdd(cnt[k], 1u);
        for (uint i = 0u; cnt[k] < gl_NumWorkGroups.x; ++i) {
          if (i == SPIN_LIMIT) {
            atomicAdd(cnt[p.phases], 1u);
            break;
          }
        }
      }
      barrier();
    }
  }
#ifdef SMEM_WORDS
  const uint tid = gl_LocalInvocationIndex;
  for (uint i = tid; i < SMEM_WORDS; i += gl_WorkGroupSize.x) sm[i] = acc.x + i;
  barrier();
  acc.x ^= sm[(tid * 37u + p.phase0) % SMEM_WORDS];
#endif
  dst[gl_GlobalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
