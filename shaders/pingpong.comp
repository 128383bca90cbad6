#version 450
// pingpong: the latency of a host <-> device handshake through mapped memory, with no
// submission or fence in the loop (bench only: vk_bench's time_host_pingpong). One
// invocation runs p.rounds rounds: it polls rel[0] until the host has written the round's
// number i there, then writes i to done[0] (host memory) for the host to see. A poll that
// gives up after p.spin_limit reads writes the round to done[1] and ends. The poll and the
// answer are atomics (a plain volatile load may be hoisted out of the loop); lavapipe ends
// any loop after 65535 iterations, so there it is no measure.
//
// bindings: 0 rel (uint [1], written by the host), 1 done (uint [2], read by the host)
// push:     rounds, spin_limit
layout(local_size_x = 1) in;
layout(binding = 0) volatile coherent buffer R { uint rel[]; };
layout(binding = 1) volatile coherent buffer D { uint done[]; };
layout(push_constant) uniform Push { uint rounds, spin_limit; } p;

void main() {
  for (uint i = 1u; i <= p.rounds; ++i) {
    for (uint k = 0u; atomicCompSwap(rel[0], 0xFFFFFFFFu, 0xFFFFFFFFu) < i; ++k) {
      if (k == p.spin_limit) {
        atomicExchange(done[1], i);
        return;
      }
    }
    atomicExchange(done[0], i);
  }
}
