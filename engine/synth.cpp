// `petrel synth`: a random-weight model of a named shape, written directly in the target
// file type. Each tensor's rows are generated (gaussian, seeded per tensor and row, so the
// thread count does not change the result) and quantized straight into the writer's
// buffer; no f32 copy of the model is ever held.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/ftype.h"
#include "gguf/error.h"
#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "kernels/types.h"
#include "petrel/tools.h"

namespace petrel::tools {
namespace {

constexpr uint32_t kQuantizationVersion = 2;
constexpr uint64_t kAlignment = 32;
// Vocabulary of the built-in tokenizer when the shape leaves it to the tokenizer (tiny).
constexpr uint32_t kBuiltinVocab = 512;
// Weight scales (as in ../shared's synthetic models): norms 1 +- 0.1, biases 0.1,
// embeddings 1, projections into the residual stream half the 1/sqrt(fan-in) of the rest,
// the output head 2/sqrt(n_embd) so logits spread over a few units.
constexpr float kNormStd = 0.1f;
constexpr float kBiasStd = 0.1f;
constexpr float kEmbdStd = 1.0f;
constexpr float kResidualGain = 0.5f;
constexpr float kOutputGain = 2.0f;

// ---- deterministic random numbers -------------------------------------------------------

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// xoshiro256+ seeded by splitmix64; gaussian pairs by Box-Muller.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = s_[0] + s_[3];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = (s_[3] << 45) | (s_[3] >> 19);
    return result;
  }
  // Uniform in (0, 1].
  double uniform() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  void gaussian(float* out, uint64_t n, float mean, float stddev) {
    constexpr double kTwoPi = 6.283185307179586;
    for (uint64_t i = 0; i < n; i += 2) {
      const double r = std::sqrt(-2.0 * std::log(uniform()));
      const double a = kTwoPi * uniform();
      out[i] = mean + stddev * static_cast<float>(r * std::cos(a));
      if (i + 1 < n) out[i + 1] = mean + stddev * static_cast<float>(r * std::sin(a));
    }
  }

 private:
  uint64_t s_[4];
};

// ---- shapes -----------------------------------------------------------------------------

struct Init {
  float mean;
  float stddev;
};

struct PlannedTensor {
  std::string name;
  std::vector<uint64_t> ne;
  Init init;
};

std::vector<PlannedTensor> plan_tensors(const SynthShape& s, uint32_t n_vocab) {
  const uint64_t e = s.n_embd, ff = s.n_ff;
  const uint64_t head_dim = s.n_embd / s.n_head;
  const uint64_t kv = head_dim * s.n_head_kv;
  const auto fan_in = [](uint64_t n, float gain) {
    return gain / std::sqrt(static_cast<float>(n));
  };
  const Init norm{1.0f, kNormStd}, bias{0.0f, kBiasStd};
  std::vector<PlannedTensor> t;
  t.push_back({"token_embd.weight", {e, n_vocab}, {0.0f, kEmbdStd}});
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", {e}, norm});
    t.push_back({p + "attn_q.weight", {e, e}, {0.0f, fan_in(e, 1.0f)}});
    t.push_back({p + "attn_k.weight", {e, kv}, {0.0f, fan_in(e, 1.0f)}});
    t.push_back({p + "attn_v.weight", {e, kv}, {0.0f, fan_in(e, 1.0f)}});
    if (s.qkv_bias) {
      t.push_back({p + "attn_q.bias", {e}, bias});
      t.push_back({p + "attn_k.bias", {kv}, bias});
      t.push_back({p + "attn_v.bias", {kv}, bias});
    }
    t.push_back({p + "attn_output.weight", {e, e}, {0.0f, fan_in(e, kResidualGain)}});
    t.push_back({p + "ffn_norm.weight", {e}, norm});
    t.push_back({p + "ffn_gate.weight", {e, ff}, {0.0f, fan_in(e, 1.0f)}});
    t.push_back({p + "ffn_up.weight", {e, ff}, {0.0f, fan_in(e, 1.0f)}});
    t.push_back({p + "ffn_down.weight", {ff, e}, {0.0f, fan_in(ff, kResidualGain)}});
  }
  t.push_back({"output_norm.weight", {e}, norm});
  if (!s.tied_output) t.push_back({"output.weight", {e, n_vocab}, {0.0f, fan_in(e, kOutputGain)}});
  return t;
}

void check_shape(const SynthShape& s) {
  if (s.n_embd == 0 || s.n_layer == 0 || s.n_ff == 0 || s.n_head == 0 || s.n_head_kv == 0)
    throw Error("synth: shape '" + s.name + "' has a zero dimension");
  if (s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0)
    throw Error("synth: shape '" + s.name + "': n_embd " + std::to_string(s.n_embd) + " / n_head " +
                std::to_string(s.n_head) + " / n_head_kv " + std::to_string(s.n_head_kv) +
                " do not divide");
}

// ---- built-in tokenizer -----------------------------------------------------------------

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// GPT-2's byte-to-unicode map: printable bytes stand for themselves, the rest for 256+k.
std::vector<std::string> gpt2_byte_tokens() {
  std::vector<std::string> tokens(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    append_utf8(tokens[b], printable ? b : next++);
  }
  return tokens;
}

constexpr int32_t kTypeNormal = 1, kTypeControl = 3, kTypeUnused = 5;

// Byte-level BPE ("gpt2"): the 256 byte tokens, a few merges, BOS/EOS control tokens and
// unused filler tokens up to n_vocab.
void add_builtin_tokenizer(gguf::Writer& w, uint32_t n_vocab) {
  static const char* const kMerges[][2] = {{"Ġ", "t"}, {"Ġ", "a"}, {"h", "e"},  {"i", "n"},
                                           {"t", "h"}, {"e", "r"}, {"o", "n"},  {"Ġ", "s"},
                                           {"r", "e"}, {"a", "n"}, {"Ġt", "he"}};
  std::vector<std::string> tokens = gpt2_byte_tokens();
  std::vector<int32_t> types(tokens.size(), kTypeNormal);
  std::vector<std::string> merges;
  for (const auto& m : kMerges) {
    merges.push_back(std::string(m[0]) + " " + m[1]);
    tokens.push_back(std::string(m[0]) + m[1]);
    types.push_back(kTypeNormal);
  }
  const auto bos = static_cast<uint32_t>(tokens.size());
  tokens.emplace_back("<|begin_of_text|>");
  tokens.emplace_back("<|end_of_text|>");
  types.insert(types.end(), {kTypeControl, kTypeControl});
  if (n_vocab < tokens.size())
    throw Error("synth: vocabulary size " + std::to_string(n_vocab) +
                " is smaller than the built-in tokenizer's " + std::to_string(tokens.size()));
  for (uint32_t i = 0; tokens.size() < n_vocab; ++i) {
    tokens.push_back("<|filler_" + std::to_string(i) + "|>");
    types.push_back(kTypeUnused);
  }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", merges);
  w.set_u32("tokenizer.ggml.bos_token_id", bos);
  w.set_u32("tokenizer.ggml.eos_token_id", bos + 1);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace

const std::vector<SynthShape>& synth_shape_table() {
  static const std::vector<SynthShape> k = {
      {"llama-1b", "llama", 2048, 16, 8192, 32, 8, 32000, 4096, 10000.0f, 1e-5f, false, false},
      {"llama-8b", "llama", 4096, 32, 14336, 32, 8, 32000, 8192, 10000.0f, 1e-5f, false, false},
      {"qwen2-1.5b", "qwen2", 1536, 28, 8960, 12, 2, 151936, 32768, 1e6f, 1e-6f, true, true},
      // Qwen2.5-7B / DeepSeek-R1-Distill-Qwen-7B
      {"qwen2-7b", "qwen2", 3584, 28, 18944, 28, 4, 152064, 32768, 1e6f, 1e-6f, true, false},
      {"tiny", "llama", 256, 4, 768, 4, 2, 0, 2048, 10000.0f, 1e-5f, false, false},
  };
  return k;
}

std::vector<std::string> synth_shapes() {
  std::vector<std::string> names;
  for (const SynthShape& s : synth_shape_table()) names.push_back(s.name);
  return names;
}

void synth_model(const SynthOptions& opt) {
  for (const SynthShape& s : synth_shape_table()) {
    if (s.name == opt.shape) return synth_model_shape(s, opt);
  }
  std::string valid;
  for (const std::string& n : synth_shapes()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("synth: unknown shape '" + opt.shape + "' (expected one of " + valid + ")");
}

void synth_model_shape(const SynthShape& shape, const SynthOptions& opt) {
  check_shape(shape);
  const Ftype& ftype = find_ftype(opt.ftype);
  if (opt.out_path.empty()) throw Error("synth: no output path");
  gguf::Writer w(kAlignment);
  const std::string& a = shape.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", "synthetic-" + shape.name);
  w.set_u32(a + ".context_length", shape.n_ctx);
  w.set_u32(a + ".embedding_length", shape.n_embd);
  w.set_u32(a + ".block_count", shape.n_layer);
  w.set_u32(a + ".feed_forward_length", shape.n_ff);
  w.set_u32(a + ".attention.head_count", shape.n_head);
  w.set_u32(a + ".attention.head_count_kv", shape.n_head_kv);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", shape.rms_eps);
  w.set_f32(a + ".rope.freq_base", shape.rope_base);
  w.set_u32(a + ".rope.dimension_count", shape.n_embd / shape.n_head);
  w.set_u32("general.quantization_version", kQuantizationVersion);
  w.set_u32("general.file_type", ftype.file_type);

  uint32_t n_vocab = shape.n_vocab != 0 ? shape.n_vocab : kBuiltinVocab;
  std::unique_ptr<gguf::File> vocab;
  if (!opt.vocab_path.empty()) {
    vocab = gguf::File::open(opt.vocab_path);
    const auto n_tokens = vocab->get_string_array("tokenizer.ggml.tokens").size();
    if (n_tokens == 0 || n_tokens > UINT32_MAX)
      throw Error(opt.vocab_path + ": tokenizer.ggml.tokens has " + std::to_string(n_tokens) +
                  " tokens");
    if (shape.n_vocab != 0 && n_tokens != shape.n_vocab && opt.progress) {
      opt.progress(0, 0,
                   "vocab: " + opt.vocab_path + " has " + std::to_string(n_tokens) +
                       " tokens; using that instead of " + shape.name + "'s " +
                       std::to_string(shape.n_vocab));
    }
    n_vocab = static_cast<uint32_t>(n_tokens);
    w.copy_metadata(*vocab, "tokenizer.");
  } else {
    add_builtin_tokenizer(w, n_vocab);
  }

  const std::vector<PlannedTensor> plan = plan_tensors(shape, n_vocab);
  std::vector<TensorDesc> descs;
  for (const PlannedTensor& t : plan) descs.push_back({t.name, t.ne});
  const std::vector<uint32_t> types = choose_tensor_types(ftype, descs);
  const int n_threads = resolve_threads(opt.n_threads);
  const size_t n_tensors = plan.size();
  for (size_t i = 0; i < n_tensors; ++i) {
    const PlannedTensor& t = plan[i];
    const kernels::TypeTraits* to = kernels::type_traits(types[i]);
    if (to == nullptr || to->quantize_row_ref == nullptr)
      throw Error("synth: tensor '" + t.name + "': no quantizer for " +
                  gguf::ggml_type_name(types[i]));
    uint64_t tensor_seed = opt.seed ^ fnv1a(t.name);
    tensor_seed = splitmix64(tensor_seed);
    w.add_tensor(t.name, types[i], t.ne,
                 [&opt, &t, to, i, n_tensors, n_threads, tensor_seed](uint8_t* dst, uint64_t) {
                   const uint64_t ne0 = t.ne[0];
                   uint64_t n_rows = 1;
                   for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
                   const size_t row = kernels::row_bytes(*to, static_cast<int64_t>(ne0));
                   parallel_rows(n_rows, ne0, n_threads, [&](uint64_t begin, uint64_t end) {
                     std::vector<float> buf(ne0);
                     for (uint64_t r = begin; r < end; ++r) {
                       Rng rng(tensor_seed + r * 0x9e3779b97f4a7c15ull);
                       rng.gaussian(buf.data(), ne0, t.init.mean, t.init.stddev);
                       to->quantize_row_ref(buf.data(), dst + r * row, static_cast<int64_t>(ne0));
                     }
                   });
                   if (opt.progress) opt.progress(i + 1, n_tensors, t.name + " " + to->name);
                 });
  }
  w.write(opt.out_path);
}

}  // namespace petrel::tools
