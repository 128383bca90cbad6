// petrel::tools::inspect_file: a readable summary of a GGUF file (header, architecture
// hyper-parameters, tokenizer, other metadata with long arrays summarized, tensor table,
// per-type totals, parameter count). Reads only the header and tables, never tensor data.
#include <algorithm>
#include <cstdio>
#include <map>

#include "gguf/gguf.h"
#include "petrel/tools.h"

namespace petrel::tools {
namespace {

using gguf::Value;
using gguf::ValueType;

constexpr size_t kMaxStringChars = 80;    // longer strings are cut with "..."
constexpr size_t kMaxInlineElements = 8;  // arrays up to this size are shown whole
constexpr size_t kSummaryElements = 3;    // longer arrays show this many, then "..."

std::string type_text(const Value& v) {
  if (v.type != ValueType::kArray) return gguf::value_type_name(v.type);
  return std::string("array[") + gguf::value_type_name(v.elem_type) + "]";
}

// A string as a quoted, escaped, length-limited literal.
std::string quote(const std::string& s) {
  std::string out = "\"";
  size_t n = 0;
  for (unsigned char c : s) {
    if (n++ == kMaxStringChars) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (n > kMaxStringChars) out += " (" + std::to_string(s.size()) + " bytes)";
  return out + "\"";
}

std::string float_text(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", f);
  return buf;
}

std::string value_text(const Value& v) {
  switch (v.type) {
    case ValueType::kU8:
    case ValueType::kU16:
    case ValueType::kU32:
    case ValueType::kU64:
      return std::to_string(v.u);
    case ValueType::kI8:
    case ValueType::kI16:
    case ValueType::kI32:
    case ValueType::kI64:
      return std::to_string(v.i);
    case ValueType::kF32:
    case ValueType::kF64:
      return float_text(v.f);
    case ValueType::kBool:
      return v.u ? "true" : "false";
    case ValueType::kString:
      return quote(v.s);
    case ValueType::kArray: {
      bool whole = v.arr.size() <= kMaxInlineElements;
      std::string out = "[";
      if (!whole) {
        out += std::to_string(v.arr.size());
        out += " x ";
        out += gguf::value_type_name(v.elem_type);
        out += "] ";
      }
      size_t shown = whole ? v.arr.size() : kSummaryElements;
      for (size_t k = 0; k < shown; ++k) {
        if (k != 0) out += ", ";
        out += value_text(v.arr[k]);
      }
      return out + (whole ? "]" : ", ...");
    }
  }
  return "?";
}

// Adds {label, text} for a token id key, with the token's text when it is in range.
void add_token(std::vector<std::pair<std::string, std::string>>& out, const gguf::File& f,
               const std::string& key, const std::string& label, const Value* tokens) {
  const Value* v = f.find(key);
  if (v == nullptr) return;
  std::string text = value_text(*v);
  uint64_t id = v->type == ValueType::kI32 || v->type == ValueType::kI64 ? uint64_t(v->i) : v->u;
  if (tokens != nullptr && tokens->elem_type == ValueType::kString) {
    text += ' ';
    text += id < tokens->arr.size() ? quote(tokens->arr[id].s) : "(not a token id)";
  }
  out.emplace_back(label, text);
}

}  // namespace

InspectReport inspect_file(const std::string& path) {
  auto f = gguf::File::open(path);
  InspectReport r;
  r.path = path;
  r.file_bytes = f->size();
  r.version = f->version();
  r.alignment = f->alignment();
  const Value* arch = f->find("general.architecture");
  if (arch != nullptr && arch->type == ValueType::kString) r.architecture = arch->s;
  const std::string arch_prefix = r.architecture.empty() ? "" : r.architecture + ".";

  // Hyper-parameters: ARCH.* keys, shown without the prefix.
  for (const auto& kv : f->metadata())
    if (!arch_prefix.empty() && kv.key.rfind(arch_prefix, 0) == 0)
      r.hparams.emplace_back(kv.key.substr(arch_prefix.size()), value_text(kv.value));

  // Tokenizer summary.
  const Value* tokens = f->find("tokenizer.ggml.tokens");
  auto add_plain = [&](const std::string& key, const std::string& label) {
    const Value* v = f->find(key);
    if (v == nullptr) return;
    r.tokenizer.emplace_back(label, v->type == ValueType::kString ? v->s : value_text(*v));
  };
  add_plain("tokenizer.ggml.model", "model");
  add_plain("tokenizer.ggml.pre", "pre");
  if (tokens != nullptr && tokens->type == ValueType::kArray)
    r.tokenizer.emplace_back("n_vocab", std::to_string(tokens->arr.size()));
  add_token(r.tokenizer, *f, "tokenizer.ggml.bos_token_id", "bos", tokens);
  add_token(r.tokenizer, *f, "tokenizer.ggml.eos_token_id", "eos", tokens);
  add_token(r.tokenizer, *f, "tokenizer.ggml.unknown_token_id", "unk", tokens);
  add_token(r.tokenizer, *f, "tokenizer.ggml.padding_token_id", "pad", tokens);
  add_plain("tokenizer.ggml.add_bos_token", "add_bos");
  add_plain("tokenizer.ggml.add_eos_token", "add_eos");
  const Value* merges = f->find("tokenizer.ggml.merges");
  if (merges != nullptr && merges->type == ValueType::kArray)
    r.tokenizer.emplace_back("n_merges", std::to_string(merges->arr.size()));
  const Value* tmpl = f->find("tokenizer.chat_template");
  if (tmpl != nullptr && tmpl->type == ValueType::kString)
    r.tokenizer.emplace_back("chat_template", std::to_string(tmpl->s.size()) + " chars");

  // Every other key.
  for (const auto& kv : f->metadata()) {
    if (kv.key == "general.architecture") continue;
    if (!arch_prefix.empty() && kv.key.rfind(arch_prefix, 0) == 0) continue;
    r.metadata.push_back(InspectKey{kv.key, type_text(kv.value), value_text(kv.value)});
  }

  // Tensors and per-type totals (largest total first).
  std::map<uint32_t, InspectTypeTotal> totals;
  for (const auto& t : f->tensors()) {
    std::string type = gguf::ggml_type_name(t.type);
    r.tensors.push_back(InspectTensor{t.name, type, t.ne, t.n_elements, t.n_bytes, t.offset});
    InspectTypeTotal& tt = totals[t.type];
    tt.type = type;
    tt.count += 1;
    tt.n_elements += t.n_elements;
    tt.n_bytes += t.n_bytes;
    r.n_params += t.n_elements;
  }
  for (auto& [id, tt] : totals) r.type_totals.push_back(tt);
  std::stable_sort(
      r.type_totals.begin(), r.type_totals.end(),
      [](const InspectTypeTotal& a, const InspectTypeTotal& b) { return a.n_bytes > b.n_bytes; });
  return r;
}

}  // namespace petrel::tools
