// Petrel's public C++ API: load a model, open a session with its KV cache,
// tokenize/detokenize, evaluate tokens, sample, and generate with a per-token callback and
// a cancel flag. The CLI uses only this header. Errors are thrown as petrel::Error.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gguf/error.h"

namespace petrel {

using TokenId = int32_t;

enum class Device { kCpu, kVulkan };

// A GPU Petrel can run on (Vulkan).
struct DeviceInfo {
  int index = 0;                 // N in --device vulkan:N
  std::string name;
  std::string type;              // "discrete", "integrated", "virtual", "cpu", "other"
  uint64_t memory_bytes = 0;     // device-local memory
  uint64_t budget_bytes = 0;     // VK_EXT_memory_budget budget, 0 where unknown
  uint32_t subgroup_size = 0;
  std::string driver;
};
// Every Vulkan device; throws petrel::Error with a plain message when there is no Vulkan
// loader or driver, or this build has no Vulkan support.
std::vector<DeviceInfo> list_devices();

struct ModelOptions {
  Device device = Device::kCpu;
  int device_index = 0;        // vulkan:N
  bool device_explicit = false;  // the user asked for this device (no silent CPU fallback)
  int gpu_layers = -1;         // layers offloaded to the GPU (-1 = all)
  bool vocab_only = false;     // load only the tokenizer (files without tensors work)
};

struct ModelInfo {
  std::string path;
  std::string arch;            // "llama", "qwen2"
  std::string name;            // general.name
  int64_t n_params = 0;
  uint64_t file_bytes = 0;
  uint64_t weight_bytes = 0;   // tensor bytes
  int n_vocab = 0, n_ctx_train = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
  std::string file_type;       // "Q4_K_M" etc. from general.file_type when present
};

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path, const ModelOptions& opt = {});
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Bytes of weights read to produce one token (for effective GB/s).
  virtual uint64_t bytes_per_token() const = 0;

  // Tokenizer.
  virtual std::vector<TokenId> tokenize(const std::string& text, bool add_special = true,
                                        bool parse_special = true) const = 0;
  virtual std::string token_to_piece(TokenId id, bool special = false) const = 0;
  virtual std::string detokenize(const std::vector<TokenId>& ids, bool special = false) const = 0;
  virtual bool is_eog(TokenId id) const = 0;
  virtual TokenId bos() const = 0;
  virtual int n_vocab() const = 0;
};

struct SessionOptions {
  int n_ctx = 0;      // 0: min(model context, 4096)
  int n_threads = 0;  // 0: all cores
  int n_batch = 512;  // prompt tokens evaluated per forward call
};

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0xC0FFEE;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  ~Sampler();
  // Picks a token from logits[n_vocab]; `history` feeds the penalties. Modifies a copy.
  TokenId sample(const float* logits, int n_vocab, const std::vector<TokenId>& history);
  // How many of the largest logits sample_top needs to draw what sample draws, with this
  // history: top_k (1 when greedy) plus the distinct tokens the penalties touch; 0 when
  // only every logit will do (top_k <= 0 while sampling, or a penalty that raises logits:
  // repeat penalty < 1, negative presence or frequency penalty).
  int candidates_needed(const std::vector<TokenId>& history);
  // The same draw as sample from the candidates_needed(history) largest logits alone
  // (Session::eval_top_k), ranked by logit descending then id ascending (fewer only when
  // that is the whole vocabulary). Throws where candidates_needed is 0.
  TokenId sample_top(const std::vector<std::pair<float, TokenId>>& top,
                     const std::vector<TokenId>& history = {});
 private:
  struct Impl;
  TokenId draw();
  std::unique_ptr<Impl> impl_;
};

struct Timings {
  double load_ms = 0;
  int n_prompt = 0;
  double prompt_ms = 0;
  int n_gen = 0;
  double gen_ms = 0;
};

class Session {
 public:
  static std::unique_ptr<Session> create(Model& model, const SessionOptions& opt = {});
  virtual ~Session() = default;
  virtual int n_ctx() const = 0;
  virtual int n_past() const = 0;  // tokens in the KV cache
  // Drops the KV cache from position n on (n = 0 clears it).
  virtual void truncate(int n) = 0;
  // Evaluates tokens at positions n_past.. and appends them to the cache. If all_logits,
  // the logits of every token are kept (logits(i)); otherwise only the last one's.
  virtual void eval(const std::vector<TokenId>& tokens, bool all_logits = false) = 0;
  // Evaluates tokens as eval does and returns the id of the last token's largest logit (the
  // lowest id among equal ones): greedy decoding. On a GPU only that id is read back. No
  // logits are kept (logits() throws until the next eval).
  virtual TokenId eval_greedy(const std::vector<TokenId>& tokens) = 0;
  // Evaluates tokens as eval does and returns the last token's min(k, n_vocab) largest
  // logits with their ids, ranked by logit descending then id ascending: what
  // Sampler::sample_top takes. On a GPU (k <= 128) only those are read back. No logits are
  // kept.
  virtual std::vector<std::pair<float, TokenId>> eval_top_k(const std::vector<TokenId>& tokens, int k) = 0;
  // Logits [n_vocab] of the i-th token of the last eval (-1 = last); valid until the
  // session's next eval, eval_greedy or eval_top_k (on a GPU they may be the backend's own
  // readback memory, which the next pass overwrites).
  virtual const float* logits(int i = -1) const = 0;
  // No token follows soon (generate calls this when it ends): on a GPU, the pass submitted
  // ahead for a next token is started now, while the caller does other things, instead of
  // delaying the session's next evaluation of another kind (a new prompt) by a whole pass.
  // logits() stays valid (copied out of the GPU's readback memory first).
  virtual void idle() = 0;
  // "cpu", or "vulkan (device name)"; says "cpu (Vulkan unavailable: ...)" when Vulkan was
  // asked for without --device being explicit and could not be used.
  virtual std::string backend_name() const = 0;
  // Device memory this session holds on the GPU (weights, KV cache, activations); 0 on CPU.
  virtual uint64_t device_bytes_used() const = 0;
};

enum class FinishReason { kLength, kEos, kStop, kCancelled };
const char* finish_reason_name(FinishReason r);  // "length", "eos", "stop", "cancelled"

struct GenerateOptions {
  int n_predict = 128;
  std::vector<std::string> stop;  // stop strings (never emitted, even across tokens)
  SamplingParams sampling;
  const std::atomic<bool>* cancel = nullptr;
};

struct GenerateResult {
  std::vector<TokenId> tokens;
  std::string text;
  FinishReason finish = FinishReason::kLength;
  Timings timings;
};

// Evaluates the prompt ids in `session` (a session of `model`), then samples up to n_predict tokens. on_text receives text as
// it becomes final (held back while it could be the start of a stop string); return false
// to stop.
GenerateResult generate(Model& model, Session& session, const std::vector<TokenId>& prompt,
                        const GenerateOptions& opt,
                        const std::function<bool(const std::string&)>& on_text = nullptr);

// Peak resident set size of this process so far, in bytes (0 where unknown).
uint64_t peak_rss_bytes();

}  // namespace petrel
