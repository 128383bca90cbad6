// GGUF writer -> reader round trip: every metadata value type (nested arrays included),
// several tensor types, alignment handling, typed accessors and the ggml type table.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "tests/support/test_env.h"

namespace petrel::gguf {
namespace {

Value scalar(ValueType t) {
  Value v;
  v.type = t;
  return v;
}
Value u(ValueType t, uint64_t x) {
  Value v = scalar(t);
  v.u = x;
  return v;
}
Value i(ValueType t, int64_t x) {
  Value v = scalar(t);
  v.i = x;
  return v;
}
Value f(ValueType t, double x) {
  Value v = scalar(t);
  v.f = x;
  return v;
}
Value str(const std::string& s) {
  Value v = scalar(ValueType::kString);
  v.s = s;
  return v;
}
Value arr(ValueType et, std::vector<Value> elems) {
  Value v = scalar(ValueType::kArray);
  v.elem_type = et;
  v.arr = std::move(elems);
  return v;
}

void expect_same(const Value& a, const Value& b, const std::string& where) {
  ASSERT_EQ(a.type, b.type) << where;
  switch (a.type) {
    case ValueType::kString:
      EXPECT_EQ(a.s, b.s) << where;
      break;
    case ValueType::kArray:
      ASSERT_EQ(a.elem_type, b.elem_type) << where;
      ASSERT_EQ(a.arr.size(), b.arr.size()) << where;
      for (size_t k = 0; k < a.arr.size(); ++k)
        expect_same(a.arr[k], b.arr[k], where + "[" + std::to_string(k) + "]");
      break;
    case ValueType::kF32:
    case ValueType::kF64:
      EXPECT_EQ(a.f, b.f) << where;
      break;
    case ValueType::kI8:
    case ValueType::kI16:
    case ValueType::kI32:
    case ValueType::kI64:
      EXPECT_EQ(a.i, b.i) << where;
      break;
    default:
      EXPECT_EQ(a.u, b.u) << where;
      break;
  }
}

std::vector<std::pair<std::string, Value>> every_value_type() {
  return {
      {"t.u8", u(ValueType::kU8, 250)},
      {"t.i8", i(ValueType::kI8, -120)},
      {"t.u16", u(ValueType::kU16, 65000)},
      {"t.i16", i(ValueType::kI16, -32000)},
      {"t.u32", u(ValueType::kU32, 4000000000u)},
      {"t.i32", i(ValueType::kI32, -2000000000)},
      {"t.f32", f(ValueType::kF32, 1.5e-5f)},
      {"t.bool", u(ValueType::kBool, 1)},
      {"t.string", str("h\xc3\xa9llo, world")},
      {"t.empty_string", str("")},
      {"t.u64", u(ValueType::kU64, std::numeric_limits<uint64_t>::max())},
      {"t.i64", i(ValueType::kI64, std::numeric_limits<int64_t>::min())},
      {"t.f64", f(ValueType::kF64, 3.141592653589793)},
      {"t.arr_u8", arr(ValueType::kU8, {u(ValueType::kU8, 1), u(ValueType::kU8, 255)})},
      {"t.arr_i16", arr(ValueType::kI16, {i(ValueType::kI16, -5), i(ValueType::kI16, 7)})},
      {"t.arr_bool", arr(ValueType::kBool, {u(ValueType::kBool, 0), u(ValueType::kBool, 1)})},
      {"t.arr_f64", arr(ValueType::kF64, {f(ValueType::kF64, -0.25)})},
      {"t.arr_str", arr(ValueType::kString, {str("a"), str(""), str("ccc")})},
      {"t.arr_empty", arr(ValueType::kU32, {})},
      {"t.arr_nested",
       arr(ValueType::kArray,
           {arr(ValueType::kI32, {i(ValueType::kI32, 1), i(ValueType::kI32, -2)}),
            arr(ValueType::kString, {str("x")}),
            arr(ValueType::kArray, {arr(ValueType::kU64, {u(ValueType::kU64, 9)})})})},
  };
}

std::vector<uint8_t> pattern(uint64_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (uint64_t k = 0; k < n; ++k) v[k] = static_cast<uint8_t>(seed + k * 7);
  return v;
}

struct RoundTrip : ::testing::TestWithParam<uint64_t> {};

TEST_P(RoundTrip, EveryValueTypeAndSeveralTensorTypes) {
  const uint64_t alignment = GetParam();
  Writer w(alignment);
  auto kvs = every_value_type();
  w.set_string("general.architecture", "llama");
  for (auto& [k, v] : kvs) w.set(k, v);
  w.set_u32("t.u32", 123);  // replaces, keeps position
  kvs[4].second.u = 123;
  w.set_string_array("t.tokens", {"<unk>", "<s>", "</s>"});
  w.set_f32_array("t.scores", {0.f, -1.5f, 2.25f});
  w.set_i32_array("t.types", {2, 3, -1});

  struct T {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> ne;
  };
  std::vector<T> ts = {
      {"a.f32", uint32_t(GgmlType::kF32), {5, 3}},
      {"b.q8_0", uint32_t(GgmlType::kQ8_0), {64, 2}},
      {"c.q4_k", uint32_t(GgmlType::kQ4_K), {256, 1, 2}},
      {"d.f16", uint32_t(GgmlType::kF16), {7}},
      {"e.q6_k", uint32_t(GgmlType::kQ6_K), {512, 1, 1, 2}},
  };
  std::vector<std::vector<uint8_t>> data;
  data.reserve(ts.size());  // the fill callbacks keep pointers into these
  size_t calls = 0;
  for (size_t k = 0; k < ts.size(); ++k) {
    data.push_back(pattern(tensor_bytes(ts[k].type, ts[k].ne), uint8_t(k * 40 + 1)));
    if (k % 2 == 0) {
      w.add_tensor_data(ts[k].name, ts[k].type, ts[k].ne, data[k].data(), data[k].size());
    } else {
      const std::vector<uint8_t>* src = &data[k];
      w.add_tensor(ts[k].name, ts[k].type, ts[k].ne, [src, &calls](uint8_t* dst, uint64_t n) {
        ASSERT_EQ(n, src->size());
        std::memcpy(dst, src->data(), n);
        ++calls;
      });
    }
  }
  std::string path = test::temp_dir() + "/roundtrip_" + std::to_string(alignment) + ".gguf";
  size_t progress_calls = 0;
  w.write(path, [&](size_t done, size_t total) {
    EXPECT_EQ(done, ++progress_calls);
    EXPECT_EQ(total, ts.size());
  });
  EXPECT_EQ(calls, 2u);
  EXPECT_EQ(progress_calls, ts.size());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto file = File::open(path);
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), alignment);
  EXPECT_EQ(file->data_offset() % alignment, 0u);
  EXPECT_EQ(file->has("general.alignment"), alignment != 32);
  // Insertion order: general.architecture first, then the kvs in order.
  const auto& md = file->metadata();
  ASSERT_GE(md.size(), kvs.size() + 4);
  EXPECT_EQ(md[0].key, "general.architecture");
  for (size_t k = 0; k < kvs.size(); ++k) {
    EXPECT_EQ(md[k + 1].key, kvs[k].first);
    expect_same(kvs[k].second, md[k + 1].value, kvs[k].first);
  }
  EXPECT_EQ(file->get_string("general.architecture"), "llama");
  EXPECT_EQ(file->get_u32("t.u32"), 123u);
  EXPECT_EQ(file->get_i32("t.i32"), -2000000000);
  EXPECT_EQ(file->get_u64("t.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_FLOAT_EQ(file->get_f32("t.f32"), 1.5e-5f);
  EXPECT_FLOAT_EQ(file->get_f32("t.f64"), 3.14159265f);
  EXPECT_TRUE(file->get_bool("t.bool"));
  EXPECT_EQ(file->get_string_array("t.tokens"), (std::vector<std::string>{"<unk>", "<s>", "</s>"}));
  EXPECT_EQ(file->get_f32_array("t.scores"), (std::vector<float>{0.f, -1.5f, 2.25f}));
  EXPECT_EQ(file->get_i32_array("t.types"), (std::vector<int32_t>{2, 3, -1}));

  ASSERT_EQ(file->tensors().size(), ts.size());
  for (size_t k = 0; k < ts.size(); ++k) {
    const TensorInfo& t = file->tensors()[k];
    EXPECT_EQ(t.name, ts[k].name);
    EXPECT_EQ(t.type, ts[k].type);
    EXPECT_EQ(t.ne, ts[k].ne);
    EXPECT_EQ(t.n_bytes, data[k].size());
    EXPECT_EQ(t.offset % alignment, 0u) << t.name;
    EXPECT_EQ(t.data, file->bytes() + t.offset);
    EXPECT_EQ(std::memcmp(t.data, data[k].data(), data[k].size()), 0) << t.name;
    EXPECT_EQ(file->find_tensor(ts[k].name), &t);
  }
  EXPECT_EQ(file->find_tensor("nope"), nullptr);
  EXPECT_EQ(file->tensors()[1].rows(), 2u);
  EXPECT_EQ(file->tensors()[2].n_elements, 512u);
}

INSTANTIATE_TEST_SUITE_P(Alignments, RoundTrip, ::testing::Values(32, 64, 8));

TEST(GgufWriter, ReadBackRewriteIsByteIdentical) {
  Writer w;
  for (auto& [k, v] : every_value_type()) w.set(k, v);
  std::vector<float> x = {1, 2, 3, 4};
  w.add_tensor_data("x", 0, {4}, x.data(), 16);
  std::string p1 = test::temp_dir() + "/rewrite1.gguf", p2 = test::temp_dir() + "/rewrite2.gguf";
  w.write(p1);
  auto f1 = File::open(p1);
  Writer w2;
  w2.copy_metadata(*f1);
  for (const auto& t : f1->tensors()) w2.add_tensor_data(t.name, t.type, t.ne, t.data, t.n_bytes);
  w2.write(p2);
  auto read_all = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read_all(p1), read_all(p2));
  Writer w3;
  w3.copy_metadata(*f1, "t.arr_");
  w3.write(p2);
  auto f3 = File::open(p2);
  EXPECT_EQ(f3->metadata().size(), 7u);
  EXPECT_EQ(f3->metadata()[0].key, "t.arr_u8");
}

TEST(GgufWriter, AddTensorDataCopiesTheBuffer) {
  Writer w;
  {
    std::vector<float> x = {1, 2, 3, 4};
    w.add_tensor_data("x", uint32_t(GgmlType::kF32), {4}, x.data(), 16);
    x.assign(4, -1.f);  // changed and then freed before write()
  }
  std::string p = test::temp_dir() + "/copies.gguf";
  w.write(p);
  auto f = File::open(p);
  float got[4];
  std::memcpy(got, f->tensors()[0].data, sizeof got);
  EXPECT_EQ(got[0], 1.f);
  EXPECT_EQ(got[3], 4.f);
}

TEST(GgufWriter, RejectsBadInput) {
  EXPECT_THROW(Writer(0), Error);
  EXPECT_THROW(Writer(48), Error);
  Writer w;
  EXPECT_THROW(w.add_tensor("q", uint32_t(GgmlType::kQ4_K), {100}, nullptr), Error);
  EXPECT_THROW(w.add_tensor("q", 99, {32}, nullptr), Error);
  EXPECT_THROW(w.add_tensor("q", 0, {}, nullptr), Error);
  EXPECT_THROW(w.add_tensor("q", 0, {1, 1, 1, 1, 1}, nullptr), Error);
  float x[2] = {};
  EXPECT_THROW(w.add_tensor_data("q", 0, {3}, x, 8), Error);
  w.add_tensor_data("q", 0, {2}, x, 8);
  EXPECT_THROW(w.add_tensor_data("q", 0, {2}, x, 8), Error);
  Writer bad;
  bad.set("k", arr(ValueType::kU8, {str("not a u8")}));
  EXPECT_THROW(bad.write(test::temp_dir() + "/bad.gguf"), Error);
  // A failing fill leaves neither the file nor the .tmp behind.
  Writer throws;
  throws.add_tensor("t", 0, {4}, [](uint8_t*, uint64_t) { throw Error("fill failed"); });
  std::string p = test::temp_dir() + "/throws.gguf";
  EXPECT_THROW(throws.write(p), Error);
  EXPECT_FALSE(std::filesystem::exists(p));
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
  EXPECT_THROW(Writer().write("/nonexistent-dir/x.gguf"), Error);
}

TEST(GgufAccessors, ErrorsNameKeyExpectedAndActualType) {
  Writer w;
  w.set_string("s", "text");
  w.set_i32("neg", -1);
  w.set_u64("big", uint64_t{1} << 40);
  w.set_f32("f", 2.f);
  w.set_string_array("sa", {"a"});
  w.set("nested", arr(ValueType::kArray, {arr(ValueType::kU8, {})}));
  w.set("u8arr", arr(ValueType::kU64, {u(ValueType::kU64, uint64_t{1} << 33)}));
  std::string path = test::temp_dir() + "/accessors.gguf";
  w.write(path);
  auto file = File::open(path);
  auto message = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  std::string m = message([&] { file->get_u32("s"); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("'s'"), std::string::npos) << m;
  EXPECT_NE(m.find("expected u32, got string"), std::string::npos) << m;
  m = message([&] { file->get_u32("neg"); });
  EXPECT_NE(m.find("expected u32, got i32 -1 (out of range)"), std::string::npos) << m;
  m = message([&] { file->get_i32("big"); });
  EXPECT_NE(m.find("expected i32, got u64 1099511627776"), std::string::npos) << m;
  m = message([&] { file->get_u32("missing"); });
  EXPECT_NE(m.find("'missing' not found (expected u32)"), std::string::npos) << m;
  m = message([&] { file->get_f32("s"); });
  EXPECT_NE(m.find("expected f32, got string"), std::string::npos) << m;
  m = message([&] { file->get_bool("f"); });
  EXPECT_NE(m.find("expected bool, got f32"), std::string::npos) << m;
  m = message([&] { file->get_string("f"); });
  EXPECT_NE(m.find("expected string, got f32"), std::string::npos) << m;
  m = message([&] { file->get_f32_array("sa"); });
  EXPECT_NE(m.find("expected array[f32], got array[string]"), std::string::npos) << m;
  m = message([&] { file->get_string_array("nested"); });
  EXPECT_NE(m.find("expected array[string], got array[array]"), std::string::npos) << m;
  m = message([&] { file->get_i32_array("u8arr"); });
  EXPECT_NE(m.find("does not fit in i32"), std::string::npos) << m;
  EXPECT_EQ(file->get_u32("missing", 7), 7u);
  EXPECT_EQ(file->get_i32("neg", 5), -1);
  EXPECT_EQ(file->get_u64("neg2", 9), 9u);
  EXPECT_EQ(file->get_string("missing", "d"), "d");
  EXPECT_FALSE(file->get_bool("missing", false));
  EXPECT_FLOAT_EQ(file->get_f32("missing", 0.5f), 0.5f);
  EXPECT_THROW(file->get_u32("s", 1), Error);  // present with the wrong type: not the default
}

TEST(GgmlTypes, TableGeometry) {
  struct G {
    GgmlType t;
    const char* name;
    uint32_t elems, bytes;
    bool supported;
  };
  // Block sizes from ggml's block structs (ggml-common.h).
  const G expected[] = {
      {GgmlType::kF32, "F32", 1, 4, true},
      {GgmlType::kF16, "F16", 1, 2, true},
      {GgmlType::kBF16, "BF16", 1, 2, true},
      {GgmlType::kQ4_0, "Q4_0", 32, 18, true},
      {GgmlType::kQ4_1, "Q4_1", 32, 20, true},
      {GgmlType::kQ5_0, "Q5_0", 32, 22, true},
      {GgmlType::kQ5_1, "Q5_1", 32, 24, true},
      {GgmlType::kQ8_0, "Q8_0", 32, 34, true},
      {GgmlType::kQ8_1, "Q8_1", 32, 36, false},
      {GgmlType::kQ2_K, "Q2_K", 256, 84, false},
      {GgmlType::kQ3_K, "Q3_K", 256, 110, false},
      {GgmlType::kQ4_K, "Q4_K", 256, 144, true},
      {GgmlType::kQ5_K, "Q5_K", 256, 176, true},
      {GgmlType::kQ6_K, "Q6_K", 256, 210, true},
      {GgmlType::kQ8_K, "Q8_K", 256, 292, true},
      {GgmlType::kIQ2_XXS, "IQ2_XXS", 256, 66, false},
      {GgmlType::kIQ2_XS, "IQ2_XS", 256, 74, false},
      {GgmlType::kIQ3_XXS, "IQ3_XXS", 256, 98, false},
      {GgmlType::kIQ1_S, "IQ1_S", 256, 50, false},
      {GgmlType::kIQ4_NL, "IQ4_NL", 32, 18, false},
      {GgmlType::kIQ3_S, "IQ3_S", 256, 110, false},
      {GgmlType::kIQ2_S, "IQ2_S", 256, 82, false},
      {GgmlType::kIQ4_XS, "IQ4_XS", 256, 136, false},
      {GgmlType::kI8, "I8", 1, 1, false},
      {GgmlType::kI16, "I16", 1, 2, false},
      {GgmlType::kI32, "I32", 1, 4, false},
      {GgmlType::kI64, "I64", 1, 8, false},
      {GgmlType::kF64, "F64", 1, 8, false},
      {GgmlType::kIQ1_M, "IQ1_M", 256, 56, false},
      {GgmlType::kTQ1_0, "TQ1_0", 256, 54, false},
      {GgmlType::kTQ2_0, "TQ2_0", 256, 66, false},
  };
  size_t defined = 0;
  for (uint32_t id = 0; id < 100; ++id) defined += ggml_type_info(id) != nullptr;
  EXPECT_EQ(defined, std::size(expected));
  for (const G& g : expected) {
    const GgmlTypeInfo* info = ggml_type_info(uint32_t(g.t));
    ASSERT_NE(info, nullptr) << g.name;
    EXPECT_STREQ(info->name, g.name);
    EXPECT_EQ(info->block_elems, g.elems) << g.name;
    EXPECT_EQ(info->block_bytes, g.bytes) << g.name;
    EXPECT_EQ(info->supported, g.supported) << g.name;
    EXPECT_EQ(ggml_type_name(uint32_t(g.t)), g.name);
  }
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 1000u})
    EXPECT_EQ(ggml_type_info(id), nullptr) << id;
  EXPECT_EQ(ggml_type_name(99), "unknown type 99");
  EXPECT_EQ(tensor_bytes(uint32_t(GgmlType::kQ4_K), {512, 3}), 2u * 144 * 3);
  EXPECT_EQ(tensor_bytes(uint32_t(GgmlType::kF16), {3, 5}), 30u);
  EXPECT_THROW(tensor_bytes(uint32_t(GgmlType::kQ8_0), {33}), Error);
  EXPECT_THROW(tensor_bytes(uint32_t(GgmlType::kF32), {uint64_t{1} << 62, 16}), Error);
}

}  // namespace
}  // namespace petrel::gguf
