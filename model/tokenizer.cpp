#include "model/tokenizer.hpp"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>

namespace ttt::model {

namespace {

// SentencePiece lives behind libttt_sentencepiece.so, opened with
// RTLD_DEEPBIND so that its bundled protobuf-lite and libtorch's protobuf do
// not resolve to each other (linking both into one program crashes at start).
struct sentencepiece_library {
  void* (*load)(const char*, char*, size_t) = nullptr;
  void (*free_processor)(void*) = nullptr;
  int (*piece_size)(void*) = nullptr;
  int (*encode)(void*, const char*, int*, int) = nullptr;
  int (*decode)(void*, const int*, int, char*, int) = nullptr;
  int (*train)(const char* const*, int, const char*, char**, size_t*, char*, size_t) = nullptr;
  void (*free_buffer)(char*) = nullptr;
  std::string error;
};

std::string directory_of_this_program() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.find_last_of('/'));
}

const sentencepiece_library& library() {
  // Loaded once per process: dlopen handles are process-wide anyway.
  static const sentencepiece_library lib = [] {
    sentencepiece_library l;
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("TTT_SENTENCEPIECE_SHIM"))
      candidates.push_back(env);
    std::string here = directory_of_this_program();
    candidates.push_back(here + "/libttt_sentencepiece.so");
    candidates.push_back(here + "/../model/libttt_sentencepiece.so");      // build tree: apps/ttt
    candidates.push_back(here + "/../../model/libttt_sentencepiece.so");   // build tree: tests/model/*
    candidates.push_back(here + "/../lib/libttt_sentencepiece.so");        // installed
    candidates.push_back(here + "/../lib/x86_64-linux-gnu/libttt_sentencepiece.so");
    candidates.push_back(TTT_SENTENCEPIECE_SHIM_BUILD_PATH);
    candidates.push_back("libttt_sentencepiece.so");
    void* handle = nullptr;
    std::string tried;
    // TTT_SENTENCEPIECE_DEEPBIND=0 opens it plainly: where libtorch carries no
    // protobuf of its own (PyTorch's CUDA builds) the isolation is not needed,
    // and RTLD_DEEPBIND can split libstdc++'s objects between the program and
    // the library (a suspect for training's crash on the GPU machines).
    const char* deepbind = std::getenv("TTT_SENTENCEPIECE_DEEPBIND");
    int flags = RTLD_NOW | RTLD_LOCAL | (deepbind != nullptr && std::string(deepbind) == "0" ? 0 : RTLD_DEEPBIND);
    for (const auto& c : candidates) {
      handle = dlopen(c.c_str(), flags);
      if (handle)
        break;
      tried += "\n  " + c + ": " + dlerror();
    }
    if (!handle) {
      l.error = "cannot open libttt_sentencepiece.so (SentencePiece support); tried:" + tried;
      return l;
    }
    l.load = reinterpret_cast<decltype(l.load)>(dlsym(handle, "ttt_spm_load"));
    l.free_processor = reinterpret_cast<decltype(l.free_processor)>(dlsym(handle, "ttt_spm_free"));
    l.piece_size = reinterpret_cast<decltype(l.piece_size)>(dlsym(handle, "ttt_spm_piece_size"));
    l.encode = reinterpret_cast<decltype(l.encode)>(dlsym(handle, "ttt_spm_encode"));
    l.decode = reinterpret_cast<decltype(l.decode)>(dlsym(handle, "ttt_spm_decode"));
    l.train = reinterpret_cast<decltype(l.train)>(dlsym(handle, "ttt_spm_train"));
    l.free_buffer = reinterpret_cast<decltype(l.free_buffer)>(dlsym(handle, "ttt_spm_free_buffer"));
    if (!l.load || !l.free_processor || !l.piece_size || !l.encode || !l.decode || !l.train || !l.free_buffer)
      l.error = "libttt_sentencepiece.so lacks a ttt_spm_* function";
    return l;
  }();
  return lib;
}

// SentencePiece's trainer logs every step to stderr; a user needs only its verdict.
class quiet_stderr {
public:
  quiet_stderr() : saved_(dup(2)) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 2);
      close(null);
    }
  }
  ~quiet_stderr() {
    if (saved_ >= 0) {
      dup2(saved_, 2);
      close(saved_);
    }
  }

private:
  int saved_;
};

} // namespace

text_tokenizer::text_tokenizer() = default;
text_tokenizer::text_tokenizer(text_tokenizer&& other) noexcept : processor_(other.processor_) {
  other.processor_ = nullptr;
}
text_tokenizer& text_tokenizer::operator=(text_tokenizer&& other) noexcept {
  std::swap(processor_, other.processor_);
  return *this;
}
text_tokenizer::~text_tokenizer() {
  if (processor_)
    library().free_processor(processor_);
}

result<text_tokenizer> text_tokenizer::load(const std::string& path) {
  const auto& lib = library();
  if (!lib.error.empty())
    return failure{lib.error};
  char error[512] = "";
  text_tokenizer t;
  t.processor_ = lib.load(path.c_str(), error, sizeof error);
  if (!t.processor_)
    return failure{"cannot load SentencePiece model '" + path + "': " + error};
  return t;
}

std::vector<int32_t> text_tokenizer::encode(const std::string& text, size_t length) const {
  std::vector<int> ids(length + 1);
  int n = library().encode(processor_, text.c_str(), ids.data(), static_cast<int>(ids.size()));
  std::vector<int32_t> out(length, 0);
  for (size_t i = 0; i < length && static_cast<int>(i) < n; ++i)
    out[i] = ids[i];
  return out;
}

std::string text_tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::vector<int> kept;
  for (auto id : ids)
    if (id > 0)
      kept.push_back(id);
  std::vector<char> text(4096);
  library().decode(processor_, kept.data(), static_cast<int>(kept.size()), text.data(), static_cast<int>(text.size()));
  return text.data();
}

int text_tokenizer::vocab_size() const { return library().piece_size(processor_); }

status train_tokenizer(const std::vector<std::string>& captions, int vocab_size, const std::string& model_path,
                       const std::string& model_type) {
  const auto& lib = library();
  if (!lib.error.empty())
    return failure{lib.error};
  if (captions.empty())
    return failure{"no captions to train a tokenizer on"};
  std::vector<const char*> sentences;
  for (const auto& c : captions)
    sentences.push_back(c.c_str());
  std::string args = "--model_type=" + model_type + " --vocab_size=" + std::to_string(vocab_size) +
                     " --hard_vocab_limit=false --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1"
                     " --character_coverage=1.0 --num_threads=1";
  char* proto = nullptr;
  size_t proto_size = 0;
  char error[512] = "";
  int trained;
  {
    quiet_stderr quiet;
    trained = lib.train(sentences.data(), static_cast<int>(sentences.size()), args.c_str(), &proto, &proto_size, error,
                        sizeof error);
  }
  if (!trained)
    return failure{std::string("training the tokenizer failed: ") + error};
  std::string tmp = model_path + ".tmp";
  bool written;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(proto, static_cast<std::streamsize>(proto_size));
    written = static_cast<bool>(out);
  }
  lib.free_buffer(proto);
  if (!written)
    return failure{"cannot write tokenizer '" + tmp + "'"};
  if (std::rename(tmp.c_str(), model_path.c_str()) != 0)
    return failure{"cannot rename '" + tmp + "' to '" + model_path + "'"};
  return ok();
}

} // namespace ttt::model
