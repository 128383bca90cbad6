// Tokenizer throughput: encodes ~1 MB of generated English-like text (words, numbers,
// punctuation, newlines) with each given GGUF's tokenizer and prints ms and MB/s.
// Usage: bench_tokenizer [FILE.gguf ...]
// Without arguments it uses ../shared/vocab (or $PETREL_SHARED_DIR/vocab):
// ggml-vocab-llama-spm.gguf and the byte-level BPE vocabulary with the most tokens.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "gguf/gguf.h"

namespace {

constexpr size_t kTargetBytes = 1 << 20;
constexpr int kRepeats = 3;

std::string make_text() {
  static const char* kParagraph =
      "The quick brown fox, having jumped over 13 lazy dogs in 2024, wasn't tired at all! "
      "Meanwhile, Dr. Smith's lab reported a 7.5% increase (from 1,234 to 1,326 samples) and "
      "asked: \"Should we re-run the tests on March 3rd?\" Nobody answered; the coffee-machine "
      "hummed quietly.\nIn section #42 the authors argue that tokenizers are -- surprisingly -- "
      "the slowest part of some pipelines, e.g. when prompts exceed 100000 characters.\n\n";
  std::string text;
  text.reserve(kTargetBytes + 1024);
  for (int i = 0; text.size() < kTargetBytes; ++i) {
    text += "Paragraph ";
    text += std::to_string(i * 7919 % 100003);
    text += ": ";
    text += kParagraph;
  }
  return text;
}

std::string shared_vocab_dir() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("PETREL_SHARED_DIR"))
    dirs.push_back(std::string(env) + "/vocab");
  dirs.push_back("../shared/vocab");
  dirs.push_back("../../shared/vocab");
  for (const auto& d : dirs)
    if (std::filesystem::is_directory(d)) return d;
  return "";
}

std::vector<std::string> default_files() {
  const std::string dir = shared_vocab_dir();
  if (dir.empty()) return {};
  std::vector<std::string> out;
  const std::string spm = dir + "/ggml-vocab-llama-spm.gguf";
  if (std::filesystem::exists(spm)) out.push_back(spm);
  std::string best;
  size_t best_n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    auto f = petrel::gguf::File::open(e.path().string());
    if (f->get_string("tokenizer.ggml.model", "") != "gpt2") continue;
    const size_t n = f->get_string_array("tokenizer.ggml.tokens").size();
    if (n > best_n) {
      best_n = n;
      best = e.path().string();
    }
  }
  if (!best.empty()) out.push_back(best);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  try {
    if (files.empty()) files = default_files();
    if (files.empty()) {
      std::fprintf(stderr, "bench_tokenizer: no GGUF given and no ../shared/vocab found\n");
      return 2;
    }
    const std::string text = make_text();
    const double mb = text.size() / 1e6;
    for (const auto& path : files) {
      auto file = petrel::gguf::File::open(path);
      auto tok = petrel::Tokenizer::from_gguf(*file);
      double best_ms = 1e30;
      size_t n_tokens = 0;
      for (int r = 0; r < kRepeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = tok->encode(text, true, true);
        const auto t1 = std::chrono::steady_clock::now();
        best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
        n_tokens = ids.size();
      }
      std::printf("%s: %s/%s, %d tokens in vocab: %.2f MB -> %zu tokens in %.1f ms (%.2f MB/s)\n",
                  std::filesystem::path(path).filename().c_str(), tok->model_name().c_str(),
                  tok->pre_name().c_str(), tok->n_vocab(), mb, n_tokens, best_ms,
                  mb / (best_ms / 1e3));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
