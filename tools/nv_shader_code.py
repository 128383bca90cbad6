#!/usr/bin/env python3
"""Machine code of the Vulkan pipelines from the NVIDIA driver's shader disk cache (diagnostic).

On the GPU machine, run a bench with the cache in a known place and the pipeline statistics on:
  __GL_SHADER_DISK_CACHE_PATH=/tmp/glc __GL_SHADER_DISK_CACHE_SKIP_CLEANUP=1 \\
    build-vk/bench_vulkan ... --profile --pipeline-stats > bench.log
bring /tmp/glc and bench.log back, then here:
  tools/nv_shader_code.py /tmp/glc bench.log OUTDIR
which writes OUTDIR/NAME.bin for every pipeline it can place, and disassemble those where
nvdisasm is (the CUDA image of the GPU machine): nvdisasm -b SM90 OUTDIR/NAME.bin

How it places them (driver 580, seen on the H100; not a documented format): each cache
entry holds zstd frames; a frame whose contents start with NVDA holds one pipeline's code,
which ends with the NOP padding after the last instruction, and its length as a 32-bit word
at byte 76. That length is the "Binary Size" of the pipeline statistics, which names it.
Pipelines of equal size cannot be told apart this way (each is written, NAME.N.bin). Needs
the zstd program.
"""
import os
import re
import struct
import subprocess
import sys

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
NOP = bytes([0x18, 0x79, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 0x0F, 0])  # sm_90 NOP


def frames(cache_dir):
    for dirpath, _, files in os.walk(cache_dir):
        for f in sorted(files):
            data = open(os.path.join(dirpath, f), "rb").read()
            starts = [m.start() for m in re.finditer(re.escape(ZSTD_MAGIC), data)]
            for a, b in zip(starts, starts[1:] + [len(data)]):
                # trailing bytes after a frame make zstd fail after writing the frame
                r = subprocess.run(["zstd", "-q", "-d", "-c"], input=data[a:b], capture_output=True)
                if r.stdout.startswith(b"NVDA"):
                    yield r.stdout


def pipeline_sizes(log_path):
    sizes = {}
    for line in open(log_path, errors="replace"):
        m = re.match(r"\s*(\S+)\s+spec .*Binary Size (\d+)", line)
        if m:
            sizes[m.group(1)] = int(m.group(2))
    return sizes


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    cache_dir, log_path, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    sizes = pipeline_sizes(log_path)
    found = {}
    for blob in frames(cache_dir):
        end = blob.rfind(NOP)
        if end < 0:
            continue
        end += len(NOP)
        size = struct.unpack_from("<I", blob, 76)[0]
        if not 0 < size <= end:
            continue
        for name, s in sizes.items():
            code = blob[end - size:end]
            if s == size and code not in found.setdefault(name, []):  # entries repeat
                found[name].append(code)
    found = {k: v for k, v in found.items() if v}
    for name, codes in sorted(found.items()):
        for i, code in enumerate(codes):
            path = os.path.join(out, name + ("" if len(codes) == 1 else ".%d" % i) + ".bin")
            open(path, "wb").write(code)
            print(path, len(code))
    missing = sorted(set(sizes) - set(found))
    if missing:
        print("not placed:", " ".join(missing))


if __name__ == "__main__":
    main()
