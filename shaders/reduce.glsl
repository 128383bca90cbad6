// reduce.glsl: workgroup-wide sum and max through subgroup operations and shared memory.
// The including shader declares `const uint WG` (threads) before including. Every thread of
// the workgroup must call these (they contain barriers).
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable

shared float reduce_tmp[WG];

float wg_sum(float v) {
  float s = subgroupAdd(v);
  barrier();
  if (subgroupElect()) reduce_tmp[gl_SubgroupID] = s;
  barrier();
  float total = 0.0;
  for (uint i = 0u; i < gl_NumSubgroups; ++i) total += reduce_tmp[i];
  return total;
}

float wg_max(float v) {
  float s = subgroupMax(v);
  barrier();
  if (subgroupElect()) reduce_tmp[gl_SubgroupID] = s;
  barrier();
  float total = reduce_tmp[0];
  for (uint i = 1u; i < gl_NumSubgroups; ++i) total = max(total, reduce_tmp[i]);
  return total;
}
