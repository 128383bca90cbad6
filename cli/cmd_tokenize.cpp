// petrel tokenize: print the token ids of a text (one line, space-separated), or with
// --json {"ids": [...], "pieces": [...]}. Loads only the tokenizer (vocab_only).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "petrel/petrel.h"

namespace petrel::cli {
namespace {

struct TokenizeArgs {
  std::string model, prompt, file;
  bool no_bos = false, no_special = false, json = false;
};

void run_tokenize(const TokenizeArgs& a) {
  const std::string text = a.file.empty() ? a.prompt : read_text_file(a.file);
  ModelOptions opt;
  opt.vocab_only = true;
  auto model = Model::load(a.model, opt);
  const std::vector<TokenId> ids = model->tokenize(text, !a.no_bos, !a.no_special);
  if (a.json) {
    nlohmann::json j;
    j["ids"] = ids;
    auto pieces = nlohmann::json::array();
    for (TokenId id : ids) pieces.push_back(model->token_to_piece(id, /*special=*/true));
    j["pieces"] = pieces;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::printf("%s\n", line.c_str());
}

void add_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  cmd->add_option("-m,--model", a->model, "GGUF file with a tokenizer")->required();
  auto* p = cmd->add_option("-p,--prompt", a->prompt, "text to tokenize");
  auto* f = cmd->add_option("-f,--file", a->file, "read the text from a file");
  p->excludes(f);
  f->excludes(p);
  cmd->add_flag("--no-bos", a->no_bos, "add no BOS/EOS tokens");
  cmd->add_flag("--no-special", a->no_special, "do not parse special tokens in the text");
  cmd->add_flag("--json", a->json, "print {\"ids\": [...], \"pieces\": [...]}");
  cmd->callback([a, p, f] {
    if (p->count() == 0 && f->count() == 0)
      throw CliError("tokenize: give the text with -p TEXT or -f FILE");
    run_tokenize(*a);
  });
}

}  // namespace

PETREL_REGISTER_COMMAND(30, add_tokenize);

}  // namespace petrel::cli
