// GGUF reader: maps the file read-only and parses header, metadata and tensor table.
// Layout (little-endian): u32 magic "GGUF", u32 version, u64 tensor_count, u64 kv_count,
// kv_count x {string key, u32 type, value}, tensor_count x {string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml_type, u64 offset}, padding to the alignment, tensor data.
// Every number is untrusted: each count is checked against the bytes that remain before
// anything is reserved, and every failure is one petrel::Error naming file, field, offset.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "gguf/gguf.h"

namespace petrel::gguf {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMaxDims = 4;   // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;  // arrays of arrays nest at most this deep
// Bound on the number of metadata values (array elements included) in one file, so that a
// large file of tiny elements cannot make the parsed form many times the file size.
constexpr uint64_t kMaxValues = uint64_t{1} << 23;  // real vocabularies: ~1M values
// Smallest encodings: a kv is a key length, a type and at least one byte of value; a
// tensor entry has a name length, n_dims, one dimension, a type and an offset.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorBytes = 8 + 4 + 8 + 4 + 8;

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// 0x03000000: a u32 with all 8 hex digits.
std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kF64); }

// Fewest bytes one element of type t can take in the file.
uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      return 1;
    case ValueType::kU16:
    case ValueType::kI16:
      return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32:
      return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64:
      return 8;
    case ValueType::kString:
      return 8;
    case ValueType::kArray:
      return 4 + 8;
  }
  return 1;
}

std::string shape_text(const std::vector<uint64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

}  // namespace

// Reads one GGUF image into a File; a cursor over untrusted bytes.
class Parser {
 public:
  Parser(File& f, const uint8_t* data, size_t size) : f_(f), data_(data), size_(size) {}

  void run() {
    f_.bytes_ = data_;
    f_.size_ = size_;
    read_header();
    read_metadata();
    read_alignment();
    read_tensor_table();
    place_tensor_data();
  }

 private:
  [[noreturn]] void fail_at(uint64_t pos, const std::string& what) const {
    throw Error(f_.path_ + ": at byte " + std::to_string(pos) + ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(f_.path_ + ": " + what); }

  uint64_t remaining() const { return size_ - pos_; }

  // Ensures n more bytes exist for `field`.
  void need(uint64_t n, const std::string& field) const {
    if (n > remaining())
      fail_at(pos_, "file ends inside " + field + " (needs " + std::to_string(n) + " bytes, " +
                        std::to_string(remaining()) + " remain)");
  }
  template <typename T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& field) {
    uint64_t len_pos = pos_;
    uint64_t len = read<uint64_t>(field + " length");
    if (len > remaining())
      fail_at(len_pos, field + " length " + std::to_string(len) + " exceeds the remaining " +
                           std::to_string(remaining()) + " bytes");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }
  // Checks that `count` items of at least `min_bytes` each fit in what remains.
  void check_count(uint64_t count_pos, const std::string& field, uint64_t count,
                   uint64_t min_bytes) const {
    if (count > remaining() / min_bytes)
      fail_at(count_pos, field + " " + std::to_string(count) + " exceeds what the remaining " +
                             std::to_string(remaining()) + " bytes can hold");
  }

  void read_header() {
    if (size_ == 0) fail("file is empty (0 bytes), not a GGUF file");
    if (size_ < 4 || std::memcmp(data_, "GGUF", 4) != 0) {
      std::string got;
      for (size_t i = 0; i < std::min<size_t>(size_, 4); ++i) {
        char b[8];
        std::snprintf(b, sizeof b, "%s%02x", i ? " " : "", data_[i]);
        got += b;
      }
      fail("not a GGUF file (starts with bytes " + got + ", expected 47 47 55 46 \"GGUF\")");
    }
    uint32_t magic = read<uint32_t>("magic");
    (void)magic;
    uint64_t version_pos = pos_;
    uint32_t version = read<uint32_t>("the header (version)");
    if (version == 1)
      fail_at(version_pos,
              "GGUF version 1 is not supported (only versions 2 and 3); re-convert the model "
              "with a current llama.cpp");
    if ((version & 0xffffu) == 0 && __builtin_bswap32(version) <= 3)
      fail_at(version_pos, "big-endian GGUF file (version field reads " + hex32(version) +
                               "); only little-endian files are supported");
    if (version != 2 && version != 3)
      fail_at(version_pos,
              "unsupported GGUF version " + std::to_string(version) + " (expected 2 or 3)");
    f_.version_ = version;
    tensor_count_pos_ = pos_;
    tensor_count_ = read<uint64_t>("the header (tensor count)");
    uint64_t kv_count_pos = pos_;
    kv_count_ = read<uint64_t>("the header (metadata count)");
    check_count(tensor_count_pos_, "tensor count", tensor_count_, kMinTensorBytes);
    check_count(kv_count_pos, "metadata count", kv_count_, kMinKvBytes);
  }

  Value read_value(ValueType type, int depth, const std::string& ctx) {
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::kU8:
        v.u = read<uint8_t>(ctx + " value");
        break;
      case ValueType::kI8:
        v.i = read<int8_t>(ctx + " value");
        break;
      case ValueType::kU16:
        v.u = read<uint16_t>(ctx + " value");
        break;
      case ValueType::kI16:
        v.i = read<int16_t>(ctx + " value");
        break;
      case ValueType::kU32:
        v.u = read<uint32_t>(ctx + " value");
        break;
      case ValueType::kI32:
        v.i = read<int32_t>(ctx + " value");
        break;
      case ValueType::kU64:
        v.u = read<uint64_t>(ctx + " value");
        break;
      case ValueType::kI64:
        v.i = read<int64_t>(ctx + " value");
        break;
      case ValueType::kF32:
        v.f = read<float>(ctx + " value");
        break;
      case ValueType::kF64:
        v.f = read<double>(ctx + " value");
        break;
      case ValueType::kBool: {
        uint64_t p = pos_;
        uint8_t b = read<uint8_t>(ctx + " value");
        if (b > 1) fail_at(p, ctx + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
        v.u = b;
        break;
      }
      case ValueType::kString:
        v.s = read_string(ctx + " string");
        break;
      case ValueType::kArray:
        read_array(v, depth + 1, ctx);
        break;
    }
    return v;
  }

  void read_array(Value& v, int depth, const std::string& ctx) {
    if (depth > kMaxArrayDepth)
      fail_at(pos_, ctx + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
    uint64_t type_pos = pos_;
    uint32_t et = read<uint32_t>(ctx + " array element type");
    if (!valid_value_type(et))
      fail_at(type_pos, ctx + ": unknown array element type " + std::to_string(et));
    v.elem_type = static_cast<ValueType>(et);
    uint64_t count_pos = pos_;
    uint64_t count = read<uint64_t>(ctx + " array count");
    check_count(count_pos, ctx + ": array count", count, min_value_bytes(v.elem_type));
    n_values_ += count;
    if (n_values_ > kMaxValues)
      fail_at(count_pos, ctx + ": metadata holds more than " + std::to_string(kMaxValues) +
                             " values in all; refusing to parse");
    v.arr.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) v.arr.push_back(read_value(v.elem_type, depth, ctx));
  }

  void read_metadata() {
    f_.kv_.reserve(static_cast<size_t>(kv_count_));
    std::unordered_map<std::string, uint64_t> seen;
    for (uint64_t i = 0; i < kv_count_; ++i) {
      uint64_t key_pos = pos_;
      KeyValue kv;
      kv.offset = key_pos;
      kv.key = read_string("metadata key #" + std::to_string(i));
      std::string ctx = "key '" + kv.key + "'";
      auto [it, inserted] = seen.emplace(kv.key, key_pos);
      if (!inserted)
        fail_at(key_pos, "duplicate metadata " + ctx + " (first at byte " +
                             std::to_string(it->second) + ")");
      uint64_t type_pos = pos_;
      uint32_t t = read<uint32_t>(ctx + " value type");
      if (!valid_value_type(t))
        fail_at(type_pos, ctx + ": unknown value type " + std::to_string(t));
      kv.value = read_value(static_cast<ValueType>(t), 0, ctx);
      f_.kv_.push_back(std::move(kv));
    }
  }

  void read_alignment() {
    for (const KeyValue& kv : f_.kv_) {
      if (kv.key != "general.alignment") continue;
      if (kv.value.type != ValueType::kU32)
        fail_at(kv.offset, "key 'general.alignment': expected u32, got " +
                               std::string(value_type_name(kv.value.type)));
      uint64_t a = kv.value.u;
      if (a == 0 || !std::has_single_bit(a))
        fail_at(kv.offset, "key 'general.alignment': alignment " + std::to_string(a) +
                               " is not a non-zero power of two");
      f_.alignment_ = a;
    }
  }

  void read_tensor_table() {
    check_count(tensor_count_pos_, "tensor count", tensor_count_, kMinTensorBytes);
    f_.tensors_.reserve(static_cast<size_t>(tensor_count_));
    rel_offsets_.reserve(static_cast<size_t>(tensor_count_));
    std::unordered_map<std::string, uint64_t> seen;
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      TensorInfo t;
      uint64_t name_pos = pos_;
      t.name = read_string("tensor #" + std::to_string(i) + " name");
      std::string ctx = "tensor '" + t.name + "'";
      auto [it, inserted] = seen.emplace(t.name, name_pos);
      if (!inserted)
        fail_at(name_pos,
                "duplicate " + ctx + " (first at byte " + std::to_string(it->second) + ")");
      uint64_t dims_pos = pos_;
      uint32_t n_dims = read<uint32_t>(ctx + " n_dims");
      if (n_dims == 0 || n_dims > kMaxDims)
        fail_at(dims_pos, ctx + ": n_dims " + std::to_string(n_dims) + " is not in 1.." +
                              std::to_string(kMaxDims));
      uint64_t n = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne_pos = pos_;
        std::string field = "ne[" + std::to_string(d) + "]";
        uint64_t ne = read<uint64_t>(ctx + " " + field);
        if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          fail_at(ne_pos, ctx + ": " + field + " = " + std::to_string(ne) +
                              " is not a valid dimension (1..2^63-1)");
        t.ne.push_back(ne);
        if (__builtin_mul_overflow(n, ne, &n) ||
            n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          fail_at(ne_pos, ctx + ": element count of shape " + shape_text(t.ne) + "... overflows");
      }
      t.n_elements = n;
      uint64_t type_pos = pos_;
      t.type = read<uint32_t>(ctx + " type");
      const GgmlTypeInfo* info = ggml_type_info(t.type);
      if (info == nullptr)
        fail_at(type_pos, ctx + ": unknown ggml type id " + std::to_string(t.type));
      ctx += std::string(" (") + info->name + ")";
      if (t.ne[0] % info->block_elems != 0)
        fail_at(type_pos, ctx + ": ne[0] = " + std::to_string(t.ne[0]) +
                              " is not a multiple of the block size " +
                              std::to_string(info->block_elems));
      uint64_t row_bytes = 0;
      if (__builtin_mul_overflow(t.ne[0] / info->block_elems, uint64_t{info->block_bytes},
                                 &row_bytes) ||
          __builtin_mul_overflow(row_bytes, n / t.ne[0], &t.n_bytes))
        fail_at(type_pos, ctx + ": byte size of shape " + shape_text(t.ne) + " overflows");
      uint64_t off_pos = pos_;
      uint64_t off = read<uint64_t>(ctx + " data offset");
      if (off % f_.alignment_ != 0)
        fail_at(off_pos, ctx + ": data offset " + hex(off) +
                             " is not a multiple of the alignment " +
                             std::to_string(f_.alignment_));
      rel_offsets_.push_back(off);
      f_.tensors_.push_back(std::move(t));
    }
  }

  void place_tensor_data() {
    uint64_t a = f_.alignment_;
    uint64_t data_start = pos_ + (a - pos_ % a) % a;  // pos_ <= size_ < 2^63: no overflow
    f_.data_offset_ = std::min<uint64_t>(data_start, size_);
    auto& ts = f_.tensors_;
    for (size_t i = 0; i < ts.size(); ++i) {
      TensorInfo& t = ts[i];
      std::string what = "tensor '" + t.name + "' (" + ggml_type_name(t.type) + ")";
      uint64_t rel = rel_offsets_[i];
      if (rel > size_ || data_start + rel > size_ || t.n_bytes > size_ - (data_start + rel)) {
        std::string start = rel > size_ ? "data start + " + hex(rel) : hex(data_start + rel);
        fail(what + " data [" + start + ", +" + std::to_string(t.n_bytes) +
             ") runs past the end of the file (" + std::to_string(size_) + " bytes)");
      }
      t.offset = data_start + rel;
      t.data = data_ + t.offset;
    }
    std::vector<size_t> order(ts.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&ts](size_t x, size_t y) { return ts[x].offset < ts[y].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const TensorInfo& prev = ts[order[k - 1]];
      const TensorInfo& cur = ts[order[k]];
      if (cur.offset < prev.offset + prev.n_bytes)
        fail("tensor '" + cur.name + "' (" + ggml_type_name(cur.type) + ") data [" +
             hex(cur.offset) + ", +" + std::to_string(cur.n_bytes) + ") overlaps tensor '" +
             prev.name + "' data [" + hex(prev.offset) + ", +" + std::to_string(prev.n_bytes) +
             ")");
    }
  }

  File& f_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t tensor_count_ = 0, kv_count_ = 0, tensor_count_pos_ = 0;
  uint64_t n_values_ = 0;
  std::vector<uint64_t> rel_offsets_;
};

std::unique_ptr<File> File::parse(const uint8_t* data, size_t size, const std::string& name) {
  std::unique_ptr<File> f(new File());
  f->path_ = name;
  Parser(*f, data, size).run();
  return f;
}

std::unique_ptr<File> File::open(const std::string& path) {
  // O_NONBLOCK so that opening a FIFO cannot hang; it has no effect on regular files.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) throw Error(path + ": no such file");
    throw Error(path + ": cannot open: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": is a directory, not a GGUF file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw Error(path + ": file is empty (0 bytes), not a GGUF file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (map == MAP_FAILED)
    throw Error(path + ": cannot map " + std::to_string(size) + " bytes: " + std::strerror(e));
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = size;
  Parser(*f, static_cast<const uint8_t*>(map), size).run();
  return f;
}

File::~File() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

}  // namespace petrel::gguf
