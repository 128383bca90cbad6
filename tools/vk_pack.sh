#!/bin/bash
# Builds the Vulkan test/bench binaries here and copies them, stripped, into build-vk/
# (git-ignored; PACK=dir picks another) for tools/vk_device_run.sh on a lent GPU machine
# (carry .gl and that folder).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build-vulkan}
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
T="test_vulkan_ops test_vulkan_forward test_vulkan_attn test_gpu_layers ref_golden"
ninja -C "$B" -j2 $T bench_vulkan petrel
P=${PACK:-build-vk}
rm -rf "$P" && mkdir -p "$P/lib"
for t in $T; do cp "$B/tests/$t" "$P/"; strip "$P/$t"; done
cp "$B/bench/bench_vulkan" "$B/cli/petrel" "$P/"
strip "$P/bench_vulkan" "$P/petrel"
cp "$(g++ -print-file-name=libstdc++.so.6)" "$(g++ -print-file-name=libgcc_s.so.1)" "$(g++ -print-file-name=libgomp.so.1)" "$P/lib/"
du -sh "$P"
