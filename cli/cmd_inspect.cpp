// petrel inspect FILE [--json]: print a GGUF file's header, hyper-parameters, tokenizer,
// metadata, tensor table, per-type totals and parameter count.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "petrel/tools.h"

namespace petrel::cli {
namespace {

// 1100048384 -> "1.10 B"; 292480 -> "292.48 K".
std::string human_count(uint64_t n) {
  const char* units[] = {"", " K", " M", " B", " T"};
  double x = static_cast<double>(n);
  int u = 0;
  while (x >= 1000 && u < 4) x /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", x, units[u]);
  return buf;
}

// 1185376 -> "1.13 MiB".
std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double x = static_cast<double>(n);
  int u = 0;
  while (x >= 1024 && u < 4) x /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", x, units[u]);
  return buf;
}

std::string shape_text(const std::vector<uint64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) {
    if (i != 0) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}

size_t width_of(const std::vector<std::pair<std::string, std::string>>& kvs) {
  size_t w = 0;
  for (const auto& kv : kvs) w = std::max(w, kv.first.size());
  return w;
}

void print_text(const tools::InspectReport& r) {
  std::printf("file:          %s\n", r.path.c_str());
  std::printf("size:          %llu bytes (%s)\n", static_cast<unsigned long long>(r.file_bytes),
              human_bytes(r.file_bytes).c_str());
  std::printf("version:       GGUF v%u, alignment %llu\n", r.version,
              static_cast<unsigned long long>(r.alignment));
  std::printf("architecture:  %s\n", r.architecture.empty() ? "(none)" : r.architecture.c_str());
  std::printf("parameters:    %s (%llu)\n", human_count(r.n_params).c_str(),
              static_cast<unsigned long long>(r.n_params));

  if (!r.hparams.empty()) {
    std::printf("\nhyper-parameters (%s.*):\n", r.architecture.c_str());
    int w = static_cast<int>(width_of(r.hparams));
    for (const auto& [k, v] : r.hparams) std::printf("  %-*s  %s\n", w, k.c_str(), v.c_str());
  }
  if (!r.tokenizer.empty()) {
    std::printf("\ntokenizer:\n");
    int w = static_cast<int>(width_of(r.tokenizer));
    for (const auto& [k, v] : r.tokenizer) std::printf("  %-*s  %s\n", w, k.c_str(), v.c_str());
  }
  if (!r.metadata.empty()) {
    std::printf("\nmetadata (%zu other keys):\n", r.metadata.size());
    size_t wk = 0, wt = 0;
    for (const auto& m : r.metadata)
      wk = std::max(wk, m.key.size()), wt = std::max(wt, m.type.size());
    for (const auto& m : r.metadata)
      std::printf("  %-*s  %-*s  %s\n", static_cast<int>(wk), m.key.c_str(), static_cast<int>(wt),
                  m.type.c_str(), m.summary.c_str());
  }

  std::printf("\ntensors (%zu):\n", r.tensors.size());
  if (!r.tensors.empty()) {
    size_t wn = 4, wt = 4, ws = 5;
    for (const auto& t : r.tensors) {
      wn = std::max(wn, t.name.size());
      wt = std::max(wt, t.type.size());
      ws = std::max(ws, shape_text(t.shape).size());
    }
    std::printf("  %-*s  %-*s  %-*s  %12s  %s\n", static_cast<int>(wn), "name",
                static_cast<int>(wt), "type", static_cast<int>(ws), "shape", "bytes", "offset");
    for (const auto& t : r.tensors)
      std::printf("  %-*s  %-*s  %-*s  %12llu  0x%llx\n", static_cast<int>(wn), t.name.c_str(),
                  static_cast<int>(wt), t.type.c_str(), static_cast<int>(ws),
                  shape_text(t.shape).c_str(), static_cast<unsigned long long>(t.n_bytes),
                  static_cast<unsigned long long>(t.offset));
  }
  if (!r.type_totals.empty()) {
    std::printf("\nper type:\n");
    for (const auto& tt : r.type_totals)
      std::printf("  %-8s %5llu tensors  %12llu elements  %14llu bytes (%s)\n", tt.type.c_str(),
                  static_cast<unsigned long long>(tt.count),
                  static_cast<unsigned long long>(tt.n_elements),
                  static_cast<unsigned long long>(tt.n_bytes), human_bytes(tt.n_bytes).c_str());
  }
}

void print_json(const tools::InspectReport& r) {
  using json = nlohmann::ordered_json;
  json j;
  j["file"] = r.path;
  j["size"] = r.file_bytes;
  j["version"] = r.version;
  j["alignment"] = r.alignment;
  j["architecture"] = r.architecture;
  j["n_params"] = r.n_params;
  j["n_params_text"] = human_count(r.n_params);
  j["hparams"] = json::object();
  for (const auto& [k, v] : r.hparams) j["hparams"][k] = v;
  j["tokenizer"] = json::object();
  for (const auto& [k, v] : r.tokenizer) j["tokenizer"][k] = v;
  j["metadata"] = json::array();
  for (const auto& m : r.metadata)
    j["metadata"].push_back({{"key", m.key}, {"type", m.type}, {"value", m.summary}});
  j["tensors"] = json::array();
  for (const auto& t : r.tensors)
    j["tensors"].push_back({{"name", t.name},
                            {"type", t.type},
                            {"shape", t.shape},
                            {"n_elements", t.n_elements},
                            {"bytes", t.n_bytes},
                            {"offset", t.offset}});
  j["types"] = json::array();
  for (const auto& tt : r.type_totals)
    j["types"].push_back({{"type", tt.type},
                          {"count", tt.count},
                          {"n_elements", tt.n_elements},
                          {"bytes", tt.n_bytes}});
  // Token texts and metadata strings may hold bytes that are not UTF-8: replace them.
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

struct InspectArgs {
  std::string file;
  bool json = false;
};

void add_inspect(CLI::App& app) {
  auto a = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect", "Show a GGUF file's metadata, tokenizer and tensors");
  cmd->add_option("file", a->file, "GGUF file")->required();
  cmd->add_flag("--json", a->json, "print the report as JSON");
  cmd->callback([a] {
    tools::InspectReport r = tools::inspect_file(a->file);
    if (a->json) {
      print_json(r);
    } else {
      print_text(r);
    }
  });
}

}  // namespace

PETREL_REGISTER_COMMAND(10, add_inspect);

}  // namespace petrel::cli
