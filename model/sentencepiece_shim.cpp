// A C face for SentencePiece, built as its own shared library and opened with
// RTLD_DEEPBIND (see tokenizer.cpp): Debian's libsentencepiece carries its
// own protobuf-lite and exports its symbols, which clash with the system
// protobuf that libtorch loads. Opened this way each keeps its own protobuf.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void copy_error(const std::string& message, char* error, size_t error_size) {
  if (error && error_size > 0) {
    std::strncpy(error, message.c_str(), error_size - 1);
    error[error_size - 1] = '\0';
  }
}

class caption_iterator : public sentencepiece::SentenceIterator {
public:
  caption_iterator(const char* const* sentences, int count) : sentences_(sentences), count_(count) { load(); }
  bool done() const override { return index_ >= count_; }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

private:
  void load() {
    if (index_ < count_)
      current_ = sentences_[index_];
  }
  const char* const* sentences_;
  int count_;
  int index_ = 0;
  std::string current_;
};

} // namespace

extern "C" {

void* ttt_spm_load(const char* path, char* error, size_t error_size) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  auto st = p->Load(path);
  if (!st.ok()) {
    copy_error(st.ToString(), error, error_size);
    delete p;
    return nullptr;
  }
  return p;
}

void ttt_spm_free(void* processor) { delete static_cast<sentencepiece::SentencePieceProcessor*>(processor); }

int ttt_spm_piece_size(void* processor) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(processor)->GetPieceSize();
}

int ttt_spm_encode(void* processor, const char* text, int* ids, int max_ids) {
  std::vector<int> out;
  static_cast<sentencepiece::SentencePieceProcessor*>(processor)->Encode(text, &out).IgnoreError();
  for (int i = 0; i < max_ids && i < static_cast<int>(out.size()); ++i)
    ids[i] = out[i];
  return static_cast<int>(out.size());
}

int ttt_spm_decode(void* processor, const int* ids, int count, char* text, int max_text) {
  std::string out;
  static_cast<sentencepiece::SentencePieceProcessor*>(processor)
      ->Decode(std::vector<int>(ids, ids + count), &out)
      .IgnoreError();
  if (max_text > 0) {
    std::strncpy(text, out.c_str(), static_cast<size_t>(max_text) - 1);
    text[max_text - 1] = '\0';
  }
  return static_cast<int>(out.size());
}

/// Trains on `count` sentences; the model proto comes back malloc'ed.
int ttt_spm_train(const char* const* sentences, int count, const char* args, char** proto, size_t* proto_size,
                  char* error, size_t error_size) {
  caption_iterator it(sentences, count);
  std::string out;
  auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &out);
  if (!st.ok()) {
    copy_error(st.ToString(), error, error_size);
    return 0;
  }
  *proto = static_cast<char*>(std::malloc(out.size()));
  std::memcpy(*proto, out.data(), out.size());
  *proto_size = out.size();
  return 1;
}

void ttt_spm_free_buffer(char* buffer) { std::free(buffer); }
}
