// GGUF reader: maps a file read-only and parses header, metadata and tensor table.
// Every number read from the file is untrusted; any inconsistency throws petrel::Error
// naming the file, the field and the byte offset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/error.h"
#include "gguf/ggml_types.h"

namespace petrel::gguf {

// Metadata value types, numbered as in the file.
enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* value_type_name(ValueType t);  // "u32", "string", "array", ...

// One metadata value. Scalars keep their file type; integers are readable through
// as_int/as_uint when they fit, floats through as_double.
struct Value {
  ValueType type = ValueType::kU8;
  uint64_t u = 0;       // u8/u16/u32/u64/bool
  int64_t i = 0;        // i8/i16/i32/i64
  double f = 0;         // f32/f64
  std::string s;        // string
  ValueType elem_type = ValueType::kU8;  // array element type
  std::vector<Value> arr;                // array elements (arrays of arrays allowed)
};

struct KeyValue {
  std::string key;
  Value value;
  uint64_t offset = 0;  // byte offset of the key in the file (for messages)
};

struct TensorInfo {
  std::string name;
  uint32_t type = 0;             // ggml type id (see ggml_types.h)
  std::vector<uint64_t> ne;      // ne[0] innermost
  uint64_t n_elements = 0;
  uint64_t offset = 0;           // absolute byte offset of the data in the file
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr; // points into the mapping
  uint64_t rows() const { return ne.empty() ? 0 : n_elements / ne[0]; }
};

class File {
 public:
  // Maps and parses `path`. Throws petrel::Error on a missing file, a directory, a
  // non-GGUF file, version 1, big-endian files, or any malformed field.
  static std::unique_ptr<File> open(const std::string& path);
  // Parses an in-memory image (not copied; must outlive the File). `name` is used in
  // messages. Used by the fuzzer and tests.
  static std::unique_ptr<File> parse(const uint8_t* data, size_t size, const std::string& name);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of tensor data
  uint64_t size() const { return size_; }
  const uint8_t* bytes() const { return bytes_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;  // nullptr if absent
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed accessors: throw petrel::Error naming the file, the key, the expected type and
  // the actual type when the key is absent (no-default forms) or has another type.
  // Integer getters accept any integer type whose value fits.
  uint32_t get_u32(std::string_view key) const;
  uint32_t get_u32(std::string_view key, uint32_t def) const;
  int32_t get_i32(std::string_view key) const;
  int32_t get_i32(std::string_view key, int32_t def) const;
  uint64_t get_u64(std::string_view key) const;
  uint64_t get_u64(std::string_view key, uint64_t def) const;
  float get_f32(std::string_view key) const;            // f32 or f64
  float get_f32(std::string_view key, float def) const;
  bool get_bool(std::string_view key) const;
  bool get_bool(std::string_view key, bool def) const;
  const std::string& get_string(std::string_view key) const;
  std::string get_string(std::string_view key, const std::string& def) const;
  // Arrays: element type checked; throws naming the key if not an array of that type.
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(std::string_view key) const;  // any integer elements

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent

 private:
  File() = default;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  uint64_t size_ = 0;
  const uint8_t* bytes_ = nullptr;
  void* map_ = nullptr;  // mmap base, or nullptr for parse()
  size_t map_size_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  friend class Parser;
};

}  // namespace petrel::gguf
