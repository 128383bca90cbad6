// GGUF writer (version 3): metadata and tensors, written so that reading back gives
// identical values. Tensor data is produced on demand by a callback, so a large model can
// be written one tensor at a time without holding it all in memory.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace petrel::gguf {

class Writer {
 public:
  explicit Writer(uint64_t alignment = 32);

  // Metadata, kept in insertion order; setting an existing key replaces its value.
  void set(const std::string& key, Value v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Copies every metadata key of `src` whose name starts with `prefix` ("" = all).
  void copy_metadata(const File& src, const std::string& prefix = "");

  // Fills exactly n_bytes at dst with the tensor's data.
  using Fill = std::function<void(uint8_t* dst, uint64_t n_bytes)>;
  // Adds a tensor; its byte size follows from type and shape (throws if ne[0] does not
  // divide into whole blocks).
  void add_tensor(const std::string& name, uint32_t type, std::vector<uint64_t> ne, Fill fill);
  // Adds a tensor by copying `data` (n_bytes must match type and shape).
  void add_tensor_data(const std::string& name, uint32_t type, std::vector<uint64_t> ne,
                       const void* data, uint64_t n_bytes);

  // Writes the file (to path + ".tmp", then renamed). `progress(i, n)` is called after
  // each tensor if set. Throws petrel::Error on I/O failure.
  void write(const std::string& path,
             const std::function<void(size_t, size_t)>& progress = nullptr) const;

 private:
  struct Pending {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> ne;
    uint64_t n_bytes;
    Fill fill;
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<Pending> tensors_;
};

// Byte size of a tensor of `type` and shape `ne`; throws petrel::Error if the type is
// unknown or ne[0] is not a whole number of blocks.
uint64_t tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne);

}  // namespace petrel::gguf
