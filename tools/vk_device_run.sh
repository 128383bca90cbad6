#!/bin/bash
# Runs the Vulkan tests and benchmark on a lent GPU machine (see /work/.library/device).
# Expects the stripped binaries in build-vk/ (tools/vk_pack.sh) and the loader debs in .gl/.
# Usage (on the device): bash tools/vk_device_run.sh [bench_vulkan args...]
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
build-vk/test_vulkan_ops 2>&1 | tee "$OUT/test_ops.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|SKIPPED" | head -20
build-vk/test_vulkan_forward 2>&1 | tee "$OUT/test_forward.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|SKIPPED" | head -20
echo "== bench_vulkan $*"
build-vk/bench_vulkan "$@" 2>&1 | tee "$OUT/bench.log"
