// GGUF writer (version 3). Layout written: header, metadata in insertion order, tensor
// table with offsets aligned to the alignment, padding, then each tensor's data padded to
// the alignment. Data comes from per-tensor fill callbacks through one reused buffer; the
// file is written to path + ".tmp" and renamed into place when complete.
#include "gguf/writer.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace petrel::gguf {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr const char* kAlignmentKey = "general.alignment";

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Serializes header and tables into a byte vector (small: no tensor data).
class Buf {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  // Writes the payload of v (without its type tag).
  void put_value(const Value& v, const std::string& key) {
    switch (v.type) {
      case ValueType::kU8:
        put<uint8_t>(static_cast<uint8_t>(v.u));
        break;
      case ValueType::kI8:
        put<int8_t>(static_cast<int8_t>(v.i));
        break;
      case ValueType::kU16:
        put<uint16_t>(static_cast<uint16_t>(v.u));
        break;
      case ValueType::kI16:
        put<int16_t>(static_cast<int16_t>(v.i));
        break;
      case ValueType::kU32:
        put<uint32_t>(static_cast<uint32_t>(v.u));
        break;
      case ValueType::kI32:
        put<int32_t>(static_cast<int32_t>(v.i));
        break;
      case ValueType::kU64:
        put<uint64_t>(v.u);
        break;
      case ValueType::kI64:
        put<int64_t>(v.i);
        break;
      case ValueType::kF32:
        put<float>(static_cast<float>(v.f));
        break;
      case ValueType::kF64:
        put<double>(v.f);
        break;
      case ValueType::kBool:
        put<uint8_t>(v.u != 0 ? 1 : 0);
        break;
      case ValueType::kString:
        put_string(v.s);
        break;
      case ValueType::kArray:
        put<uint32_t>(static_cast<uint32_t>(v.elem_type));
        put<uint64_t>(v.arr.size());
        for (const Value& e : v.arr) {
          if (e.type != v.elem_type)
            throw Error("gguf writer: key '" + key + "': array of " + value_type_name(v.elem_type) +
                        " holds an element of type " + value_type_name(e.type));
          put_value(e, key);
        }
        break;
      default:
        throw Error("gguf writer: key '" + key + "': invalid value type " +
                    std::to_string(static_cast<uint32_t>(v.type)));
    }
  }
  void pad_to(uint64_t a) { bytes.resize(align_up(bytes.size(), a), 0); }
  std::vector<uint8_t> bytes;
};

Value scalar_u(ValueType t, uint64_t u) {
  Value v;
  v.type = t;
  v.u = u;
  return v;
}

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};

}  // namespace

uint64_t tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne) {
  const GgmlTypeInfo* info = ggml_type_info(type);
  if (info == nullptr) throw Error("tensor_bytes: unknown ggml type id " + std::to_string(type));
  if (ne.empty()) throw Error("tensor_bytes: empty shape");
  if (ne[0] % info->block_elems != 0)
    throw Error(std::string("tensor_bytes: ne[0] = ") + std::to_string(ne[0]) +
                " is not a multiple of the " + info->name + " block size " +
                std::to_string(info->block_elems));
  uint64_t bytes = ne[0] / info->block_elems * info->block_bytes;
  if (bytes / info->block_bytes != ne[0] / info->block_elems)
    throw Error("tensor_bytes: byte size overflows");
  for (size_t i = 1; i < ne.size(); ++i)
    if (__builtin_mul_overflow(bytes, ne[i], &bytes))
      throw Error("tensor_bytes: byte size overflows");
  return bytes;
}

Writer::Writer(uint64_t alignment) : alignment_(alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > UINT32_MAX)
    throw Error("gguf writer: alignment " + std::to_string(alignment) +
                " is not a non-zero power of two that fits in u32");
}

void Writer::set(const std::string& key, Value v) {
  for (auto& [k, old] : kv_) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_u32(const std::string& key, uint32_t v) { set(key, scalar_u(ValueType::kU32, v)); }
void Writer::set_u64(const std::string& key, uint64_t v) { set(key, scalar_u(ValueType::kU64, v)); }
void Writer::set_bool(const std::string& key, bool v) { set(key, scalar_u(ValueType::kBool, v)); }
void Writer::set_i32(const std::string& key, int32_t v) {
  Value x;
  x.type = ValueType::kI32;
  x.i = v;
  set(key, std::move(x));
}
void Writer::set_f32(const std::string& key, float v) {
  Value x;
  x.type = ValueType::kF32;
  x.f = v;
  set(key, std::move(x));
}
void Writer::set_string(const std::string& key, const std::string& v) {
  Value x;
  x.type = ValueType::kString;
  x.s = v;
  set(key, std::move(x));
}
void Writer::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.elem_type = ValueType::kString;
  x.arr.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    x.arr[i].type = ValueType::kString;
    x.arr[i].s = v[i];
  }
  set(key, std::move(x));
}
void Writer::set_f32_array(const std::string& key, const std::vector<float>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.elem_type = ValueType::kF32;
  x.arr.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    x.arr[i].type = ValueType::kF32;
    x.arr[i].f = v[i];
  }
  set(key, std::move(x));
}
void Writer::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.elem_type = ValueType::kI32;
  x.arr.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    x.arr[i].type = ValueType::kI32;
    x.arr[i].i = v[i];
  }
  set(key, std::move(x));
}

void Writer::copy_metadata(const File& src, const std::string& prefix) {
  for (const KeyValue& kv : src.metadata())
    if (kv.key.compare(0, prefix.size(), prefix) == 0) set(kv.key, kv.value);
}

void Writer::add_tensor(const std::string& name, uint32_t type, std::vector<uint64_t> ne,
                        Fill fill) {
  if (ne.empty() || ne.size() > 4)
    throw Error("gguf writer: tensor '" + name + "': " + std::to_string(ne.size()) +
                " dimensions (must be 1..4)");
  for (uint64_t d : ne)
    if (d == 0) throw Error("gguf writer: tensor '" + name + "': a dimension is 0");
  for (const Pending& p : tensors_)
    if (p.name == name) throw Error("gguf writer: duplicate tensor '" + name + "'");
  uint64_t n_bytes = 0;
  try {
    n_bytes = tensor_bytes(type, ne);
  } catch (const Error& e) {
    throw Error("gguf writer: tensor '" + name + "': " + e.what());
  }
  tensors_.push_back(Pending{name, type, std::move(ne), n_bytes, std::move(fill)});
}

void Writer::add_tensor_data(const std::string& name, uint32_t type, std::vector<uint64_t> ne,
                             const void* data, uint64_t n_bytes) {
  uint64_t expected = 0;
  try {
    expected = tensor_bytes(type, ne);
  } catch (const Error& e) {
    throw Error("gguf writer: tensor '" + name + "': " + e.what());
  }
  if (expected != n_bytes)
    throw Error("gguf writer: tensor '" + name + "' (" + ggml_type_name(type) + "): got " +
                std::to_string(n_bytes) + " bytes, shape needs " + std::to_string(expected));
  // Copied now, so the caller's buffer need not outlive this call (use add_tensor with a
  // fill callback to avoid holding large tensors in memory).
  const auto* src = static_cast<const uint8_t*>(data);
  auto copy = std::make_shared<const std::vector<uint8_t>>(src, src + n_bytes);
  add_tensor(name, type, std::move(ne), [copy](uint8_t* dst, uint64_t n) {
    std::memcpy(dst, copy->data(), static_cast<size_t>(n));
  });
}

void Writer::write(const std::string& path,
                   const std::function<void(size_t, size_t)>& progress) const {
  // Metadata: general.alignment is owned by the writer (written only when not 32).
  std::vector<std::pair<std::string, const Value*>> kvs;
  Value align_value = scalar_u(ValueType::kU32, alignment_);
  bool align_written = false;
  for (const auto& [k, v] : kv_) {
    if (k == kAlignmentKey) {
      if (alignment_ != kDefaultAlignment) kvs.emplace_back(k, &align_value);
      align_written = true;
      continue;
    }
    kvs.emplace_back(k, &v);
  }
  if (!align_written && alignment_ != kDefaultAlignment)
    kvs.emplace_back(kAlignmentKey, &align_value);

  Buf head;
  head.put<uint32_t>(0x46554747);
  head.put<uint32_t>(kVersion);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(kvs.size());
  for (const auto& [k, v] : kvs) {
    head.put_string(k);
    head.put<uint32_t>(static_cast<uint32_t>(v->type));
    head.put_value(*v, k);
  }
  uint64_t offset = 0;
  uint64_t max_bytes = 0;
  for (const Pending& t : tensors_) {
    head.put_string(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) head.put<uint64_t>(d);
    head.put<uint32_t>(t.type);
    head.put<uint64_t>(offset);
    offset = align_up(offset + t.n_bytes, alignment_);
    max_bytes = std::max(max_bytes, t.n_bytes);
  }
  head.pad_to(alignment_);

  const std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) throw Error(tmp + ": cannot create: " + std::strerror(errno));
  auto put = [&](const void* p, size_t n) {
    if (n != 0 && std::fwrite(p, 1, n, f.get()) != n) {
      int e = errno;
      f.reset();
      std::remove(tmp.c_str());
      throw Error(tmp + ": write failed: " + std::strerror(e));
    }
  };
  put(head.bytes.data(), head.bytes.size());
  std::vector<uint8_t> buf;
  static const uint8_t kZeros[4096] = {};
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Pending& t = tensors_[i];
    buf.resize(static_cast<size_t>(t.n_bytes));
    try {
      t.fill(buf.data(), t.n_bytes);
    } catch (...) {
      f.reset();
      std::remove(tmp.c_str());
      throw;
    }
    put(buf.data(), buf.size());
    uint64_t pad = align_up(t.n_bytes, alignment_) - t.n_bytes;
    while (pad > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof kZeros));
      put(kZeros, n);
      pad -= n;
    }
    if (progress) progress(i + 1, tensors_.size());
  }
  (void)max_bytes;
  if (std::fflush(f.get()) != 0 || std::fclose(f.release()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    throw Error(tmp + ": write failed: " + std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename " + tmp + " into place: " + std::strerror(e));
  }
}

}  // namespace petrel::gguf
