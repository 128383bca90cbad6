#!/bin/bash
# Runs the Vulkan tests and benchmark on a lent GPU machine (see /work/.library/device).
# Expects the stripped binaries in build-vk/ (tools/vk_pack.sh) and the loader debs in .gl/.
# Usage (on the device): bash tools/vk_device_run.sh [bench_vulkan args...]
# With .refdata/ (a copy of ../shared's golden/ and models/, git-excluded) carried too, the
# golden-logit bar runs on the GPU as well.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-vk/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | tail -2
build-vk/petrel devices
echo "== tests"
for t in test_vulkan_ops test_vulkan_forward test_vulkan_attn test_gpu_layers; do
  echo "-- $t"
  build-vk/$t 2>&1 | tee "$OUT/$t.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|SKIPPED" | head -20
done
if [ -d .refdata ]; then
  echo "-- ref_golden (Vulkan cases)"
  PETREL_SHARED_DIR=$PWD/.refdata build-vk/ref_golden --gtest_filter='*ulkan*' 2>&1 | tee "$OUT/ref_golden.log" |
    grep -E "^\[  (PASSED|FAILED) |FAILED|SKIPPED" | head -20
fi
echo "== bench_vulkan $*"
build-vk/bench_vulkan "$@" 2>&1 | tee "$OUT/bench.log"
