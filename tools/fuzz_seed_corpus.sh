#!/bin/sh
# Writes small seed GGUF files for tools/fuzz_gguf into DIR. Needs only python3; also
# copies the small models from ../shared/models when that directory exists.
# Usage: tools/fuzz_seed_corpus.sh DIR
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
python3 - "$dir" <<'PY'
import struct, sys, os

out = sys.argv[1]

def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b

# (value type id, pack format) for scalars
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}

def val(t, v):
    if t == 8:
        return s(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(val(et, i) for i in items)
    return struct.pack(SCALARS[t], v)

def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, type_id, ne, nbytes)]"""
    body = struct.pack("<4sIQQ", b"GGUF", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        body += s(k) + struct.pack("<I", t) + val(t, v)
    off = 0
    offs = []
    for name, tid, ne, nb in tensors:
        body += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        body += struct.pack("<IQ", tid, off)
        offs.append(off)
        off += (nb + alignment - 1) // alignment * alignment
    body += b"\0" * ((-len(body)) % alignment)
    for (name, tid, ne, nb), o in zip(tensors, offs):
        body += bytes((i * 37 + 11) & 255 for i in range(nb))
        body += b"\0" * ((-nb) % alignment)
    return body

tok = [("tokenizer.ggml.model", 8, "llama"),
       ("tokenizer.ggml.tokens", 9, (8, ["<unk>", "<s>", "</s>", "a", "b"])),
       ("tokenizer.ggml.scores", 9, (6, [0.0, 0.0, 0.0, -1.0, -2.0])),
       ("tokenizer.ggml.token_type", 9, (5, [2, 3, 3, 1, 1])),
       ("tokenizer.ggml.bos_token_id", 4, 1),
       ("tokenizer.ggml.add_bos_token", 7, True)]
llama = [("general.architecture", 8, "llama"),
         ("llama.embedding_length", 4, 32),
         ("llama.block_count", 4, 1),
         ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
         ("llama.rope.freq_base", 12, 10000.0)]
seeds = {
    "empty_v3.gguf": gguf([], []),
    "v2_kv_only.gguf": gguf(llama + tok, [], version=2),
    "all_types.gguf": gguf([("u8", 0, 1), ("i8", 1, -1), ("u16", 2, 2), ("i16", 3, -2),
                            ("u32", 4, 3), ("i32", 5, -3), ("f32", 6, 0.5), ("b", 7, False),
                            ("s", 8, "str"), ("u64", 10, 4), ("i64", 11, -4), ("f64", 12, 0.25),
                            ("nested", 9, (9, [(0, [1, 2]), (8, ["x"]), (9, [(7, [True])])]))],
                           [("t", 0, [2], 8)]),
    "tiny_llama.gguf": gguf(llama + tok,
                            [("token_embd.weight", 0, [32, 5], 640),
                             ("blk.0.attn_q.weight", 8, [32, 32], 32 * 34),
                             ("blk.0.ffn_down.weight", 12, [256, 2], 288),
                             ("output_norm.weight", 1, [32], 64)]),
    "align64.gguf": gguf([("general.alignment", 4, 64)] + llama,
                         [("a", 2, [32, 2], 36), ("b", 14, [256], 210), ("c", 30, [4, 1, 1, 2], 16)],
                         alignment=64),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
PY
here=$(cd "$(dirname "$0")" && pwd)
shared="$here/../../shared/models"
if [ -d "$shared" ]; then
  for f in "$shared"/stories260K-*.gguf; do
    if [ -f "$f" ] && [ "$(wc -c < "$f")" -lt 1000000 ]; then
      cp -f "$f" "$dir/" && chmod 644 "$dir/$(basename "$f")"
    fi
  done
fi
echo "seed corpus written to $dir"
