#!/bin/bash
# Builds the Vulkan test/bench binaries here and copies them, stripped, into build-vk/
# (git-ignored) for tools/vk_device_run.sh on a lent GPU machine (carry .gl and build-vk).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build-vulkan}
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$B" -j2 test_vulkan_ops test_vulkan_forward bench_vulkan petrel
rm -rf build-vk && mkdir -p build-vk/lib
cp "$B/tests/test_vulkan_ops" "$B/tests/test_vulkan_forward" "$B/bench/bench_vulkan" "$B/cli/petrel" build-vk/
strip build-vk/test_vulkan_ops build-vk/test_vulkan_forward build-vk/bench_vulkan build-vk/petrel
cp "$(g++ -print-file-name=libstdc++.so.6)" "$(g++ -print-file-name=libgcc_s.so.1)" "$(g++ -print-file-name=libgomp.so.1)" build-vk/lib/
du -sh build-vk
