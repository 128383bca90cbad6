// Bad GGUF input: truncation at every byte, corrupted counts, types, lengths, offsets,
// alignment, n_dims, duplicate names, versions 1 and big-endian, and non-GGUF files. Each
// must give one petrel::Error whose text names the field and the byte offset; none may
// crash, hang or allocate hugely.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "tests/support/test_env.h"

namespace petrel::gguf {
namespace {

constexpr uint64_t kHuge = ~uint64_t{0};

// Builds a GGUF image byte by byte, remembering where named fields start.
struct Image {
  std::vector<uint8_t> b;
  std::map<std::string, size_t> at;
  void mark(const std::string& name) { at[name] = b.size(); }
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof v);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  template <typename T>
  void patch(const std::string& name, T v, size_t extra = 0) {
    ASSERT_TRUE(at.count(name)) << name;
    std::memcpy(b.data() + at[name] + extra, &v, sizeof v);
  }
};

// A valid file: 4 kvs (string, alignment, string array, nested array), 3 tensors.
Image base_image() {
  Image m;
  m.put<uint32_t>(0x46554747);
  m.mark("version");
  m.put<uint32_t>(3);
  m.mark("tensor_count");
  m.put<uint64_t>(3);
  m.mark("kv_count");
  m.put<uint64_t>(4);
  m.mark("kv0");
  m.str("general.architecture");
  m.put<uint32_t>(8);
  m.str("llama");
  m.mark("kv1");
  m.str("general.alignment");
  m.mark("kv1.type");
  m.put<uint32_t>(4);
  m.mark("kv1.value");
  m.put<uint32_t>(32);
  m.mark("kv2");
  m.str("x.arr1");
  m.put<uint32_t>(9);
  m.mark("kv2.elem_type");
  m.put<uint32_t>(8);
  m.mark("kv2.count");
  m.put<uint64_t>(2);
  m.mark("kv2.elem0");
  m.str("a");
  m.str("bc");
  m.mark("kv3");
  m.str("x.arr2");
  m.put<uint32_t>(9);
  m.put<uint32_t>(9);  // array of arrays
  m.put<uint64_t>(1);
  m.put<uint32_t>(7);  // of bool
  m.put<uint64_t>(2);
  m.mark("kv3.bool0");
  m.put<uint8_t>(1);
  m.put<uint8_t>(0);
  const char* names[3] = {"t0", "t1", "t2"};
  const uint32_t types[3] = {0, 8, 1};  // F32 [4,2], Q8_0 [32], F16 [8]
  const std::vector<uint64_t> shapes[3] = {{4, 2}, {32}, {8}};
  const uint64_t offsets[3] = {0, 32, 96};  // 32 bytes, 34 bytes (padded to 64), 16 bytes
  for (int t = 0; t < 3; ++t) {
    std::string p = "t" + std::to_string(t);
    m.mark(p);
    m.str(names[t]);
    m.mark(p + ".n_dims");
    m.put<uint32_t>(static_cast<uint32_t>(shapes[t].size()));
    m.mark(p + ".ne");
    for (uint64_t d : shapes[t]) m.put<uint64_t>(d);
    m.mark(p + ".type");
    m.put<uint32_t>(types[t]);
    m.mark(p + ".offset");
    m.put<uint64_t>(offsets[t]);
  }
  m.b.resize((m.b.size() + 31) / 32 * 32, 0);
  m.mark("data");
  m.b.resize(m.b.size() + 96 + 16, 0x3c);
  return m;
}

std::string parse_error(const std::vector<uint8_t>& b, const std::string& name = "x.gguf") {
  try {
    File::parse(b.data(), b.size(), name);
  } catch (const Error& e) {
    return e.what();
  }
  return "(parsed without error)";
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

std::string at(const Image& m, const std::string& field) {
  return "at byte " + std::to_string(m.at.at(field)) + ": ";
}

TEST(GgufCorrupt, BaseImageIsValid) {
  Image m = base_image();
  auto f = File::parse(m.b.data(), m.b.size(), "x.gguf");
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->data_offset(), m.at["data"]);
  EXPECT_EQ(f->tensors()[2].offset, m.at["data"] + 96);
  EXPECT_EQ(f->metadata()[3].value.arr[0].arr.size(), 2u);
}

TEST(GgufCorrupt, EveryTruncationOfAWrittenFileThrows) {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.rope.freq_base", 10000.f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.set_f32_array("tokenizer.ggml.scores", {0.f, 0.f, 0.f, -1.f});
  Value nested;
  nested.type = ValueType::kArray;
  nested.elem_type = ValueType::kArray;
  nested.arr.resize(2);
  for (Value& e : nested.arr) {
    e.type = ValueType::kArray;
    e.elem_type = ValueType::kI16;
    e.arr.resize(2);
    for (Value& x : e.arr) x.type = ValueType::kI16, x.i = -3;
  }
  w.set("x.nested", nested);
  std::vector<uint8_t> data(256, 0x11);
  w.add_tensor_data("a", uint32_t(GgmlType::kF32), {4, 2}, data.data(), 32);
  w.add_tensor_data("b", uint32_t(GgmlType::kQ4_0), {64}, data.data(), 36);
  w.add_tensor_data("c", uint32_t(GgmlType::kF16), {3}, data.data(), 6);
  std::string path = test::temp_dir() + "/truncate.gguf";
  w.write(path);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> full((std::istreambuf_iterator<char>(in)), {});
  auto f = File::parse(full.data(), full.size(), "t.gguf");
  // Drop the writer's trailing padding: every shorter prefix then lacks needed bytes.
  uint64_t end = 0;
  for (const auto& t : f->tensors()) end = std::max(end, t.offset + t.n_bytes);
  ASSERT_LT(end, full.size());
  EXPECT_NO_THROW(File::parse(full.data(), end, "t.gguf"));
  for (uint64_t n = 0; n < end; ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);  // exact size for ASan
    std::string e = parse_error(prefix, "t.gguf");
    EXPECT_EQ(e.rfind("t.gguf: ", 0), 0u) << "prefix " << n << ": " << e;
  }
}

TEST(GgufCorrupt, EveryByteSetToExtremesNeverCrashes) {
  Image m = base_image();
  for (size_t k = 0; k < m.b.size(); ++k) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
      std::vector<uint8_t> b = m.b;
      b[k] = v;
      try {
        auto f = File::parse(b.data(), b.size(), "x.gguf");
        for (const auto& t : f->tensors()) ASSERT_LE(t.offset + t.n_bytes, b.size());
      } catch (const Error&) {
      }
    }
  }
}

TEST(GgufCorrupt, HeaderCounts) {
  Image m = base_image();
  m.patch<uint64_t>("tensor_count", kHuge);
  std::string e = parse_error(m.b);
  EXPECT_HAS(e, "x.gguf: at byte 8: tensor count 18446744073709551615 exceeds what the remaining");
  m = base_image();
  m.patch<uint64_t>("kv_count", kHuge);
  e = parse_error(m.b);
  EXPECT_HAS(e,
             "x.gguf: at byte 16: metadata count 18446744073709551615 exceeds what the remaining " +
                 std::to_string(m.b.size() - 24) + " bytes can hold");
  // A plausible but wrong count runs the parser off the end of the metadata.
  m = base_image();
  m.patch<uint64_t>("kv_count", 5);
  e = parse_error(m.b);
  EXPECT_HAS(e, "x.gguf: at byte ");
}

TEST(GgufCorrupt, StringLengthsAndValueTypes) {
  Image m = base_image();
  m.patch<uint64_t>("kv0", kHuge);
  std::string e = parse_error(m.b);
  EXPECT_HAS(e, "at byte 24: metadata key #0 length 18446744073709551615 exceeds the remaining");
  m = base_image();
  m.patch<uint32_t>("kv1.type", 13);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv1.type") + "key 'general.alignment': unknown value type 13");
  m = base_image();
  m.patch<uint32_t>("kv2.elem_type", 77);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv2.elem_type") + "key 'x.arr1': unknown array element type 77");
  m = base_image();
  m.patch<uint64_t>("kv2.count", uint64_t{1} << 40);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv2.count") + "key 'x.arr1': array count 1099511627776 exceeds");
  m = base_image();
  m.patch<uint64_t>("kv2.elem0", 1000);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv2.elem0") + "key 'x.arr1' string length 1000 exceeds the remaining");
  m = base_image();
  m.patch<uint8_t>("kv3.bool0", 2);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv3.bool0") + "key 'x.arr2': bool value 2 is neither 0 nor 1");
}

TEST(GgufCorrupt, ArraysNestedTooDeep) {
  Image m;
  m.put<uint32_t>(0x46554747);
  m.put<uint32_t>(3);
  m.put<uint64_t>(0);
  m.put<uint64_t>(1);
  m.str("deep");
  m.put<uint32_t>(9);
  for (int d = 0; d < 12; ++d) {
    m.put<uint32_t>(9);
    m.put<uint64_t>(1);
  }
  m.put<uint32_t>(0);
  m.put<uint64_t>(0);
  std::string e = parse_error(m.b);
  EXPECT_HAS(e, "key 'deep': arrays nested deeper than 8");
}

TEST(GgufCorrupt, TooManyValuesInAll) {
  // An array whose elements fit in the file but exceed the parser's value budget (2^23)
  // is refused before anything is reserved.
  Image m;
  m.put<uint32_t>(0x46554747);
  m.put<uint32_t>(3);
  m.put<uint64_t>(0);
  m.put<uint64_t>(1);
  m.str("big");
  m.put<uint32_t>(9);
  m.put<uint32_t>(0);
  m.mark("count");
  m.put<uint64_t>((uint64_t{1} << 23) + 1);
  m.b.resize(m.b.size() + (size_t{1} << 23) + 1, 0);
  EXPECT_HAS(parse_error(m.b),
             at(m, "count") + "key 'big': metadata holds more than 8388608 values");
}

TEST(GgufCorrupt, Alignment) {
  Image m = base_image();
  m.patch<uint32_t>("kv1.value", 0);
  std::string e = parse_error(m.b);
  EXPECT_HAS(e,
             at(m, "kv1") + "key 'general.alignment': alignment 0 is not a non-zero power of two");
  m = base_image();
  m.patch<uint32_t>("kv1.value", 48);
  e = parse_error(m.b);
  EXPECT_HAS(e, "alignment 48 is not a non-zero power of two");
  m = base_image();
  m.patch<uint32_t>("kv1.type", 5);  // i32 instead of u32
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv1") + "key 'general.alignment': expected u32, got i32");
  m = base_image();
  m.patch<uint32_t>("kv1.value", 64);  // offset 32 of t1 is then misaligned
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "t1.offset") +
                    "tensor 't1' (Q8_0): data offset 0x20 is not a multiple of the alignment 64");
}

TEST(GgufCorrupt, TensorTable) {
  Image m = base_image();
  m.patch<uint32_t>("t0.n_dims", 5);
  std::string e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "t0.n_dims") + "tensor 't0': n_dims 5 is not in 1..4");
  m = base_image();
  m.patch<uint32_t>("t0.n_dims", 0);
  EXPECT_HAS(parse_error(m.b), "n_dims 0 is not in 1..4");
  m = base_image();
  m.patch<uint64_t>("t0.ne", 0, 8);
  e = parse_error(m.b);
  EXPECT_HAS(e, "at byte " + std::to_string(m.at["t0.ne"] + 8) +
                    ": tensor 't0': ne[1] = 0 is not a valid dimension");
  m = base_image();
  m.patch<uint64_t>("t0.ne", uint64_t{1} << 40);
  m.patch<uint64_t>("t0.ne", uint64_t{1} << 40, 8);
  e = parse_error(m.b);
  EXPECT_HAS(e, "tensor 't0': element count of shape [1099511627776, 1099511627776]... overflows");
  m = base_image();
  m.patch<uint32_t>("t1.type", 99);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "t1.type") + "tensor 't1': unknown ggml type id 99");
  m = base_image();
  m.patch<uint32_t>("t2.type", 4);  // a removed id
  EXPECT_HAS(parse_error(m.b), "tensor 't2': unknown ggml type id 4");
  m = base_image();
  m.patch<uint64_t>("t1.ne", 31);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "t1.type") +
                    "tensor 't1' (Q8_0): ne[0] = 31 is not a multiple of the block size 32");
  m = base_image();
  m.patch<uint64_t>("t1.offset", 33);
  e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "t1.offset") +
                    "tensor 't1' (Q8_0): data offset 0x21 is not a multiple of the alignment 32");
  m = base_image();
  m.patch<uint64_t>("t2.offset", 128);
  e = parse_error(m.b);
  char buf[200];
  std::snprintf(
      buf, sizeof buf,
      "x.gguf: tensor 't2' (F16) data [0x%zx, +16) runs past the end of the file (%zu bytes)",
      m.at["data"] + 128, m.b.size());
  EXPECT_EQ(e, buf);
  m = base_image();
  m.patch<uint64_t>("t2.offset", kHuge - 31);
  EXPECT_HAS(parse_error(m.b),
             "tensor 't2' (F16) data [data start + 0xffffffffffffffe0, +16) runs past the end");
  m = base_image();
  m.patch<uint64_t>("t2.offset", 64);
  e = parse_error(m.b);
  EXPECT_HAS(e, "tensor 't2' (F16) data [");
  EXPECT_HAS(e, "overlaps tensor 't1' data [");
}

TEST(GgufCorrupt, KnownButUnsupportedTypeIsListed) {
  Image m = base_image();
  m.patch<uint32_t>("t1.type", uint32_t(GgmlType::kIQ4_NL));  // 32 elements, 18 bytes
  auto f = File::parse(m.b.data(), m.b.size(), "x.gguf");
  EXPECT_EQ(f->tensors()[1].n_bytes, 18u);
  EXPECT_FALSE(ggml_type_info(f->tensors()[1].type)->supported);
}

TEST(GgufCorrupt, DuplicateNames) {
  Image m = base_image();
  m.b[m.at["kv3"] + 8 + 5] = '1';  // "x.arr2" -> "x.arr1"
  std::string e = parse_error(m.b);
  EXPECT_HAS(e, at(m, "kv3") + "duplicate metadata key 'x.arr1' (first at byte " +
                    std::to_string(m.at["kv2"]) + ")");
  m = base_image();
  m.b[m.at["t2"] + 8 + 1] = '0';  // "t2" -> "t0"
  e = parse_error(m.b);
  EXPECT_HAS(
      e, at(m, "t2") + "duplicate tensor 't0' (first at byte " + std::to_string(m.at["t0"]) + ")");
}

TEST(GgufCorrupt, VersionsAndEndianness) {
  Image m = base_image();
  m.patch<uint32_t>("version", 1);
  std::string e = parse_error(m.b);
  EXPECT_HAS(e, "x.gguf: at byte 4: GGUF version 1 is not supported (only versions 2 and 3)");
  m.patch<uint32_t>("version", 0x03000000);
  e = parse_error(m.b);
  EXPECT_HAS(e,
             "x.gguf: at byte 4: big-endian GGUF file (version field reads 0x03000000); only "
             "little-endian files are supported");
  m.patch<uint32_t>("version", 0x02000000);
  EXPECT_HAS(parse_error(m.b), "big-endian GGUF file");
  m.patch<uint32_t>("version", 4);
  EXPECT_HAS(parse_error(m.b), "at byte 4: unsupported GGUF version 4 (expected 2 or 3)");
  m.patch<uint32_t>("version", 2);
  EXPECT_EQ(File::parse(m.b.data(), m.b.size(), "x.gguf")->version(), 2u);
}

TEST(GgufCorrupt, NotGguf) {
  EXPECT_EQ(parse_error({}), "x.gguf: file is empty (0 bytes), not a GGUF file");
  EXPECT_HAS(parse_error({'G', 'G', 'U'}), "x.gguf: not a GGUF file (starts with bytes 47 47 55,");
  EXPECT_HAS(parse_error({'r', 'o', 'o', 't', ':'}),
             "not a GGUF file (starts with bytes 72 6f 6f 74,");
  EXPECT_HAS(parse_error({'G', 'G', 'U', 'F', 3, 0}),
             "x.gguf: at byte 4: file ends inside the header (version)");
}

TEST(GgufCorrupt, OpenErrors) {
  auto open_error = [](const std::string& p) -> std::string {
    try {
      File::open(p);
    } catch (const Error& e) {
      return e.what();
    }
    return "(opened)";
  };
  std::string dir = test::temp_dir();
  EXPECT_EQ(open_error(dir + "/missing.gguf"), dir + "/missing.gguf: no such file");
  EXPECT_EQ(open_error(dir), dir + ": is a directory, not a GGUF file");
  std::ofstream(dir + "/empty.gguf").close();
  EXPECT_EQ(open_error(dir + "/empty.gguf"),
            dir + "/empty.gguf: file is empty (0 bytes), not a GGUF file");
  std::ofstream(dir + "/text.gguf") << "root:x:0:0:root:/root:/bin/bash\n";
  EXPECT_HAS(open_error(dir + "/text.gguf"), dir + "/text.gguf: not a GGUF file");
  Image m = base_image();
  std::ofstream(dir + "/valid.gguf", std::ios::binary)
      .write(reinterpret_cast<const char*>(m.b.data()), m.b.size());
  auto f = File::open(dir + "/valid.gguf");
  EXPECT_EQ(f->size(), m.b.size());
  EXPECT_EQ(f->tensors()[0].data[0], 0x3c);
}

}  // namespace
}  // namespace petrel::gguf
