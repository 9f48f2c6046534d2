#pragma once
// Text tokenizing with SentencePiece: a user's model file, or one trained on
// captions. Ids follow T5's layout (pad 0, eos 1, unk 2), and 0 pads the text
// so that the model gives each padding position its own id. Torch-free.

#include "model/result.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ttt::model {

class text_tokenizer {
public:
  /// Loads a SentencePiece .model file.
  static result<text_tokenizer> load(const std::string& path);
  text_tokenizer(text_tokenizer&&) noexcept;
  text_tokenizer& operator=(text_tokenizer&&) noexcept;
  ~text_tokenizer();

  /// Ids of `text`, cut or padded with 0 to `length`.
  std::vector<int32_t> encode(const std::string& text, size_t length) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int vocab_size() const;

private:
  text_tokenizer();
  void* processor_ = nullptr; ///< owned, inside libttt_sentencepiece.so
};

/// Trains a SentencePiece model (`model_type` unigram, bpe, word or char) of
/// at most `vocab_size` pieces on `captions` and writes it to `model_path`.
status train_tokenizer(const std::vector<std::string>& captions, int vocab_size, const std::string& model_path,
                       const std::string& model_type = "unigram");

} // namespace ttt::model
