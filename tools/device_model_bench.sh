#!/bin/bash
# Issue-5 measurement on a lent GPU machine (see /work/.library/device): synthesizes
# llama-8b-shaped models (SHAPE=... another `petrel synth` shape) with `petrel synth` and
# runs `petrel bench` on them with the Vulkan backend, plus (unless MODELS_ONLY=1) the
# Vulkan kernel and memory benchmarks. Expects build-vk/ from tools/vk_pack.sh and the
# loader debs in .gl/. Usage (on the device):
#   [SHAPE=qwen2-7b] [MODELS_ONLY=1] bash tools/device_model_bench.sh [TYPES (default Q4_K_M,Q8_0,Q6_K)]
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-vk/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
OUT=${OUT:-/tmp/out}
P=build-vk/petrel
mkdir -p "$OUT" /tmp/models
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | tail -1
$P devices
SHAPE=${SHAPE:-llama-8b}
models=""
for t in $(echo "${1:-Q4_K_M,Q8_0,Q6_K}" | tr ',' ' '); do
  f=/tmp/models/$SHAPE-$t.gguf
  /usr/bin/time -f "synth $SHAPE $t: %e s" $P synth --shape "$SHAPE" --type "$t" -o "$f" --threads "$(nproc)" 2>&1 | tail -1
  models="$models${models:+,}$f"
done
if [ "${MODELS_ONLY:-0}" != 1 ]; then
  echo "== memory"
  $P bench memory -q -r 3 2>&1 | tee "$OUT/memory.md"
  echo "== kernels"
  $P bench kernels --device vulkan --type q4_k,q6_k,q8_0 --shape 4096x14336 -r 3 -q 2>&1 | tee "$OUT/kernels.md"
fi
echo "== models ($SHAPE)"
$P bench -m "$models" --device vulkan -p 512 -n 128 -r 3 -q 2>&1 | tee "$OUT/models-$SHAPE.md"
