// libFuzzer target for the GGUF reader: parses the input and touches every kv (through the
// typed accessors) and every tensor's bytes. Any crash, sanitizer report, hang or huge
// allocation is a bug; a petrel::Error is the expected outcome for bad input.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf.h"

namespace {

// Reads every accessor of one key; each either returns or throws petrel::Error.
void touch_key(const petrel::gguf::File& f, const std::string& key, uint64_t* sink) {
  auto guard = [](auto&& fn) {
    try {
      fn();
    } catch (const petrel::Error&) {
    }
  };
  guard([&] { *sink += f.get_u32(key); });
  guard([&] { *sink += static_cast<uint64_t>(f.get_i32(key, 0)); });
  guard([&] { *sink += f.get_u64(key); });
  guard([&] { *sink += static_cast<uint64_t>(f.get_f32(key) != 0.f); });
  guard([&] { *sink += f.get_bool(key); });
  guard([&] { *sink += f.get_string(key).size(); });
  guard([&] { *sink += f.get_string_array(key).size(); });
  guard([&] { *sink += f.get_f32_array(key).size(); });
  guard([&] { *sink += f.get_i32_array(key).size(); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = petrel::gguf::File::parse(data, size, "fuzz.gguf");
    uint64_t sink = f->version() + f->alignment() + f->data_offset();
    for (const auto& kv : f->metadata()) touch_key(*f, kv.key, &sink);
    for (const auto& t : f->tensors()) {
      if (f->find_tensor(t.name) != &t) __builtin_trap();
      if (t.offset < f->data_offset() || t.offset + t.n_bytes > size) __builtin_trap();
      sink += t.rows() + t.n_elements + petrel::gguf::ggml_type_name(t.type).size();
      if (t.n_bytes > 0) sink += t.data[0] + t.data[t.n_bytes - 1];
    }
    volatile uint64_t keep = sink;
    (void)keep;
  } catch (const petrel::Error&) {
  }
  return 0;
}
