// Model loading: maps the GGUF file, reads hyper-parameters, and builds weight views that
// point into the mapping (no copy of the matrices). Small F16/BF16 vectors (norms,
// biases) are converted to f32 copies.
#include <cmath>
#include <unistd.h>

#include "engine/model_impl.h"
#include "kernels/types.h"

namespace petrel {
namespace {

std::string shape_text(const std::vector<uint64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

const char* ftype_name(uint32_t ftype) {
  switch (ftype) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 12: return "Q3_K_M";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 32: return "BF16";
    default: return "";
  }
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const ModelOptions& opt) {
  return std::make_unique<ModelImpl>(path, opt);
}

ModelImpl::ModelImpl(const std::string& path, const ModelOptions& opt) : opt_(opt) {
  file_ = gguf::File::open(path);
  tok_ = Tokenizer::from_gguf(*file_);
  info_.path = path;
  info_.file_bytes = file_->size();
  info_.name = file_->get_string("general.name", "");
  info_.arch = file_->get_string("general.architecture", "");
  info_.n_vocab = tok_->n_vocab();
  if (file_->has("general.file_type")) info_.file_type = ftype_name(file_->get_u32("general.file_type"));
  for (const auto& t : file_->tensors()) {
    info_.n_params += static_cast<int64_t>(t.n_elements);
    info_.weight_bytes += t.n_bytes;
  }
  if (opt.vocab_only) return;
  load_hparams();
  load_weights();
}

void ModelImpl::load_hparams() {
  const gguf::File& f = *file_;
  HParams& hp = w_.hp;
  hp.arch = info_.arch;
  if (hp.arch.empty()) throw Error(f.path() + ": general.architecture is missing");
  if (hp.arch != "llama" && hp.arch != "qwen2")
    throw Error(f.path() + ": architecture '" + hp.arch +
                "' is not supported (supported: llama, qwen2)");
  const std::string a = hp.arch + ".";
  hp.n_embd = static_cast<int>(f.get_u32(a + "embedding_length"));
  hp.n_layer = static_cast<int>(f.get_u32(a + "block_count"));
  hp.n_ff = static_cast<int>(f.get_u32(a + "feed_forward_length"));
  hp.n_head = static_cast<int>(f.get_u32(a + "attention.head_count"));
  hp.n_head_kv = static_cast<int>(f.get_u32(a + "attention.head_count_kv", hp.n_head));
  hp.n_ctx_train = static_cast<int>(f.get_u32(a + "context_length", 2048));
  hp.norm_eps = f.get_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  hp.rope_base = f.get_f32(a + "rope.freq_base", 10000.f);
  if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_ff <= 0 ||
      hp.n_head % hp.n_head_kv != 0)
    throw Error(f.path() + ": inconsistent hyper-parameters (n_embd " + std::to_string(hp.n_embd) +
                ", layers " + std::to_string(hp.n_layer) + ", heads " + std::to_string(hp.n_head) +
                ", kv heads " + std::to_string(hp.n_head_kv) + ", n_ff " + std::to_string(hp.n_ff) + ")");
  hp.head_dim = static_cast<int>(f.get_u32(a + "attention.key_length", hp.n_embd / hp.n_head));
  int v_len = static_cast<int>(f.get_u32(a + "attention.value_length", hp.head_dim));
  if (v_len != hp.head_dim)
    throw Error(f.path() + ": key_length " + std::to_string(hp.head_dim) + " != value_length " +
                std::to_string(v_len) + " is not supported");
  hp.n_rot = static_cast<int>(f.get_u32(a + "rope.dimension_count", hp.head_dim));
  if (hp.n_rot <= 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
    throw Error(f.path() + ": rope.dimension_count " + std::to_string(hp.n_rot) +
                " does not fit head size " + std::to_string(hp.head_dim));
  hp.rope_mode = hp.arch == "qwen2" ? kernels::RopeMode::kNeox : kernels::RopeMode::kAdjacent;
  info_.n_ctx_train = hp.n_ctx_train;
  info_.n_embd = hp.n_embd;
  info_.n_layer = hp.n_layer;
  info_.n_head = hp.n_head;
  info_.n_head_kv = hp.n_head_kv;
  info_.n_ff = hp.n_ff;
}

const gguf::TensorInfo& ModelImpl::tensor(const std::string& name) {
  const gguf::TensorInfo* t = file_->find_tensor(name);
  if (!t) throw Error(file_->path() + ": tensor '" + name + "' is missing");
  return *t;
}

kernels::WeightView ModelImpl::matrix(const std::string& name, int64_t n_in, int64_t n_out) {
  const gguf::TensorInfo& t = tensor(name);
  const kernels::TypeTraits* tr = kernels::type_traits(t.type);
  if (!tr || tr->type == kernels::Type::kQ8_K || tr->type == kernels::Type::kQ8_1)
    throw Error(file_->path() + ": tensor '" + name + "' has type " + gguf::ggml_type_name(t.type) +
                ", which Petrel does not support");
  if (t.ne.size() != 2 || static_cast<int64_t>(t.ne[0]) != n_in ||
      static_cast<int64_t>(t.ne[1]) != n_out)
    throw Error(file_->path() + ": tensor '" + name + "' has shape " + shape_text(t.ne) +
                ", expected [" + std::to_string(n_in) + ", " + std::to_string(n_out) + "]");
  kernels::WeightView v;
  v.type = tr->type;
  v.n_in = n_in;
  v.n_out = n_out;
  v.data = t.data;
  v.row_bytes = kernels::row_bytes(*tr, n_in);
  return v;
}

const float* ModelImpl::vector(const std::string& name, int64_t n, bool required) {
  const gguf::TensorInfo* t = file_->find_tensor(name);
  if (!t) {
    if (required) throw Error(file_->path() + ": tensor '" + name + "' is missing");
    return nullptr;
  }
  if (static_cast<int64_t>(t->n_elements) != n || t->ne.size() != 1)
    throw Error(file_->path() + ": tensor '" + name + "' has shape " + shape_text(t->ne) +
                ", expected [" + std::to_string(n) + "]");
  const kernels::TypeTraits* tr = kernels::type_traits(t->type);
  if (t->type == static_cast<uint32_t>(kernels::Type::kF32) &&
      reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0)
    return reinterpret_cast<const float*>(t->data);
  if (!tr || tr->block_elems != 1)
    throw Error(file_->path() + ": tensor '" + name + "' has type " + gguf::ggml_type_name(t->type) +
                ", expected F32, F16 or BF16");
  owned_.emplace_back(n);
  tr->dequantize_row_ref(t->data, owned_.back().data(), n);
  return owned_.back().data();
}

void ModelImpl::load_weights() {
  HParams& hp = w_.hp;
  const gguf::TensorInfo& emb = tensor("token_embd.weight");
  if (emb.ne.size() != 2) throw Error(file_->path() + ": tensor 'token_embd.weight' is not 2-D");
  hp.n_vocab = static_cast<int>(emb.ne[1]);
  if (hp.n_vocab < tok_->n_vocab())
    throw Error(file_->path() + ": token_embd.weight has " + std::to_string(hp.n_vocab) +
                " rows but the tokenizer has " + std::to_string(tok_->n_vocab()) + " tokens");
  const int64_t n_embd = hp.n_embd, n_q = int64_t(hp.n_head) * hp.head_dim,
                n_kv = int64_t(hp.n_head_kv) * hp.head_dim;
  w_.tok_embd = matrix("token_embd.weight", n_embd, hp.n_vocab);
  w_.output_norm = vector("output_norm.weight", n_embd);
  w_.output = file_->find_tensor("output.weight") ? matrix("output.weight", n_embd, hp.n_vocab)
                                                   : w_.tok_embd;
  w_.rope_freqs = vector("rope_freqs.weight", hp.n_rot / 2, false);
  w_.layers.resize(hp.n_layer);
  bytes_per_token_ = w_.output.row_bytes * w_.output.n_out;
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = w_.layers[l];
    L.attn_norm = vector(p + "attn_norm.weight", n_embd);
    L.wq = matrix(p + "attn_q.weight", n_embd, n_q);
    L.wk = matrix(p + "attn_k.weight", n_embd, n_kv);
    L.wv = matrix(p + "attn_v.weight", n_embd, n_kv);
    L.bq = vector(p + "attn_q.bias", n_q, false);
    L.bk = vector(p + "attn_k.bias", n_kv, false);
    L.bv = vector(p + "attn_v.bias", n_kv, false);
    L.wo = matrix(p + "attn_output.weight", n_q, n_embd);
    L.ffn_norm = vector(p + "ffn_norm.weight", n_embd);
    L.w_gate = matrix(p + "ffn_gate.weight", n_embd, hp.n_ff);
    L.w_up = matrix(p + "ffn_up.weight", n_embd, hp.n_ff);
    L.w_down = matrix(p + "ffn_down.weight", hp.n_ff, n_embd);
    for (const auto* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      bytes_per_token_ += m->row_bytes * m->n_out;
  }
}

std::vector<TokenId> ModelImpl::tokenize(const std::string& text, bool add_special,
                                         bool parse_special) const {
  return tok_->encode(text, add_special, parse_special);
}

std::string ModelImpl::token_to_piece(TokenId id, bool special) const {
  return tok_->token_to_piece(id, special);
}

std::string ModelImpl::detokenize(const std::vector<TokenId>& ids, bool special) const {
  return tok_->decode(ids, special);
}

}  // namespace petrel
