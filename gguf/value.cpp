// Metadata values: type names, lookup by key and the typed accessors of gguf::File.
// Accessors throw petrel::Error naming the file, the key, the expected and the actual type.
#include <cmath>
#include <limits>

#include "gguf/gguf.h"

namespace petrel::gguf {
namespace {

bool is_unsigned(ValueType t) {
  return t == ValueType::kU8 || t == ValueType::kU16 || t == ValueType::kU32 ||
         t == ValueType::kU64;
}
bool is_signed(ValueType t) {
  return t == ValueType::kI8 || t == ValueType::kI16 || t == ValueType::kI32 ||
         t == ValueType::kI64;
}
bool is_float(ValueType t) { return t == ValueType::kF32 || t == ValueType::kF64; }

// "array[string]" for arrays, else the plain type name.
std::string full_type_name(const Value& v) {
  if (v.type != ValueType::kArray) return value_type_name(v.type);
  return std::string("array[") + value_type_name(v.elem_type) + "]";
}

std::string value_text(const Value& v) {
  if (is_unsigned(v.type)) return std::to_string(v.u);
  if (is_signed(v.type)) return std::to_string(v.i);
  return "";
}

// Converts an integer value to T if it fits; `ok` false otherwise (or not an integer).
template <typename T>
bool int_fits(const Value& v, T* out) {
  if (is_unsigned(v.type)) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(v.u);
    return true;
  }
  if (is_signed(v.type)) {
    if (v.i < static_cast<int64_t>(std::numeric_limits<T>::min())) return false;
    if (v.i >= 0 &&
        static_cast<uint64_t>(v.i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      return false;
    *out = static_cast<T>(v.i);
    return true;
  }
  return false;
}

// `range`: the value is an integer of the wrong range rather than of the wrong kind.
[[noreturn]] void throw_type(const std::string& path, std::string_view key, const char* expected,
                             const Value& v, bool range = false) {
  std::string msg = path;
  msg += ": key '";
  msg += key;
  msg += "': expected ";
  msg += expected;
  msg += ", got ";
  msg += full_type_name(v);
  if (range) {
    msg += ' ';
    msg += value_text(v);
    msg += " (out of range)";
  }
  throw Error(msg);
}

[[noreturn]] void throw_missing(const std::string& path, std::string_view key,
                                const char* expected) {
  throw Error(path + ": key '" + std::string(key) + "' not found (expected " + expected + ")");
}

template <typename T>
T get_int(const File& f, std::string_view key, const char* expected) {
  const Value* v = f.find(key);
  if (v == nullptr) throw_missing(f.path(), key, expected);
  T out{};
  if (!int_fits(*v, &out)) throw_type(f.path(), key, expected, *v, !value_text(*v).empty());
  return out;
}

template <typename T>
T get_int_or(const File& f, std::string_view key, T def, const char* expected) {
  const Value* v = f.find(key);
  if (v == nullptr) return def;
  T out{};
  if (!int_fits(*v, &out)) throw_type(f.path(), key, expected, *v, !value_text(*v).empty());
  return out;
}

const Value& get_array(const File& f, std::string_view key, const char* expected) {
  const Value* v = f.find(key);
  if (v == nullptr) throw_missing(f.path(), key, expected);
  if (v->type != ValueType::kArray) throw_type(f.path(), key, expected, *v);
  return *v;
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8:
      return "u8";
    case ValueType::kI8:
      return "i8";
    case ValueType::kU16:
      return "u16";
    case ValueType::kI16:
      return "i16";
    case ValueType::kU32:
      return "u32";
    case ValueType::kI32:
      return "i32";
    case ValueType::kF32:
      return "f32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kU64:
      return "u64";
    case ValueType::kI64:
      return "i64";
    case ValueType::kF64:
      return "f64";
  }
  return "unknown";
}

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

uint32_t File::get_u32(std::string_view key) const { return get_int<uint32_t>(*this, key, "u32"); }
uint32_t File::get_u32(std::string_view key, uint32_t def) const {
  return get_int_or<uint32_t>(*this, key, def, "u32");
}
int32_t File::get_i32(std::string_view key) const { return get_int<int32_t>(*this, key, "i32"); }
int32_t File::get_i32(std::string_view key, int32_t def) const {
  return get_int_or<int32_t>(*this, key, def, "i32");
}
uint64_t File::get_u64(std::string_view key) const { return get_int<uint64_t>(*this, key, "u64"); }
uint64_t File::get_u64(std::string_view key, uint64_t def) const {
  return get_int_or<uint64_t>(*this, key, def, "u64");
}

float File::get_f32(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) throw_missing(path_, key, "f32");
  if (!is_float(v->type)) throw_type(path_, key, "f32", *v);
  return static_cast<float>(v->f);
}
float File::get_f32(std::string_view key, float def) const { return has(key) ? get_f32(key) : def; }

bool File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) throw_missing(path_, key, "bool");
  if (v->type != ValueType::kBool) throw_type(path_, key, "bool", *v);
  return v->u != 0;
}
bool File::get_bool(std::string_view key, bool def) const { return has(key) ? get_bool(key) : def; }

const std::string& File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) throw_missing(path_, key, "string");
  if (v->type != ValueType::kString) throw_type(path_, key, "string", *v);
  return v->s;
}
std::string File::get_string(std::string_view key, const std::string& def) const {
  return has(key) ? get_string(key) : def;
}

std::vector<std::string> File::get_string_array(std::string_view key) const {
  const Value& v = get_array(*this, key, "array[string]");
  if (v.elem_type != ValueType::kString) throw_type(path_, key, "array[string]", v);
  std::vector<std::string> out;
  out.reserve(v.arr.size());
  for (const Value& e : v.arr) out.push_back(e.s);
  return out;
}

std::vector<float> File::get_f32_array(std::string_view key) const {
  const Value& v = get_array(*this, key, "array[f32]");
  if (!is_float(v.elem_type)) throw_type(path_, key, "array[f32]", v);
  std::vector<float> out;
  out.reserve(v.arr.size());
  for (const Value& e : v.arr) out.push_back(static_cast<float>(e.f));
  return out;
}

std::vector<int32_t> File::get_i32_array(std::string_view key) const {
  const Value& v = get_array(*this, key, "array[i32]");
  if (!is_unsigned(v.elem_type) && !is_signed(v.elem_type)) throw_type(path_, key, "array[i32]", v);
  std::vector<int32_t> out;
  out.reserve(v.arr.size());
  for (size_t idx = 0; idx < v.arr.size(); ++idx) {
    int32_t x = 0;
    if (!int_fits(v.arr[idx], &x))
      throw Error(path_ + ": key '" + std::string(key) + "': element " + std::to_string(idx) +
                  " = " + value_text(v.arr[idx]) + " does not fit in i32");
    out.push_back(x);
  }
  return out;
}

}  // namespace petrel::gguf
