#include "model/shards.hpp"

#include "schema/data.capnp.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>

namespace ttt::model {

namespace {

constexpr char magic[8] = {'T', 'T', 'T', 'S', 'H', 'R', 'D', '1'};
constexpr uint32_t max_record_bytes = 64u << 20;

uint32_t crc32(const unsigned char* data, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i)
    c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}

uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

} // namespace

bool passes_2021_filters(const sample& s) {
  if (s.caption.size() < 3 || s.nsfw)
    return false;
  if (s.width == 0 || s.height == 0)
    return true; // unknown size: nothing to judge
  double w = s.width, h = s.height;
  return std::max(w, h) / std::min(w, h) <= 2.0;
}

result<shard_writer> shard_writer::create(const std::string& path) {
  shard_writer w;
  w.path_ = path;
  w.out_ = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
  if (!*w.out_)
    return failure{"cannot create shard '" + path + "'"};
  w.out_->write(magic, sizeof magic);
  return w;
}

status shard_writer::write(const sample& s) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<schema::Sample>();
  b.setCaption(s.caption);
  auto ids = b.initTextIds(static_cast<unsigned>(s.text_ids.size()));
  for (size_t i = 0; i < s.text_ids.size(); ++i)
    ids.set(static_cast<unsigned>(i), s.text_ids[i]);
  auto codes = b.initImageCodes(static_cast<unsigned>(s.image_codes.size()));
  for (size_t i = 0; i < s.image_codes.size(); ++i)
    codes.set(static_cast<unsigned>(i), s.image_codes[i]);
  b.setWidth(s.width);
  b.setHeight(s.height);
  b.setNsfw(s.nsfw);
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  unsigned char head[8];
  put_u32(head, static_cast<uint32_t>(bytes.size()));
  put_u32(head + 4, crc32(bytes.begin(), bytes.size()));
  out_->write(reinterpret_cast<const char*>(head), 8);
  out_->write(reinterpret_cast<const char*>(bytes.begin()), static_cast<std::streamsize>(bytes.size()));
  if (!*out_)
    return failure{"writing shard '" + path_ + "' failed (disk full?)"};
  ++records_;
  return ok();
}

status shard_writer::close() {
  out_->flush();
  bool good = static_cast<bool>(*out_);
  out_->close();
  if (!good)
    return failure{"writing shard '" + path_ + "' failed (disk full?)"};
  return ok();
}

result<shard_reader> shard_reader::open(const std::string& path) {
  shard_reader r;
  r.path_ = path;
  r.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*r.in_)
    return failure{"cannot read shard '" + path + "'"};
  char head[8];
  r.in_->read(head, 8);
  if (r.in_->gcount() != 8 || std::memcmp(head, magic, 8) != 0)
    return failure{"'" + path + "' is not a ttt shard (it does not start with TTTSHRD1)"};
  return r;
}

result<std::optional<sample>> shard_reader::next() {
  auto where = [&] { return "shard '" + path_ + "' record " + std::to_string(index_) + ": "; };
  unsigned char head[8];
  in_->read(reinterpret_cast<char*>(head), 8);
  auto got = in_->gcount();
  if (got == 0)
    return std::optional<sample>{};
  if (got != 8)
    return failure{where() + "truncated in its length prefix"};
  uint32_t length = get_u32(head), crc = get_u32(head + 4);
  if (length == 0 || length % 8 != 0 || length > max_record_bytes)
    return failure{where() + "corrupt length " + std::to_string(length)};
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(length / 8);
  in_->read(reinterpret_cast<char*>(words.begin()), length);
  if (static_cast<uint32_t>(in_->gcount()) != length)
    return failure{where() + "truncated (" + std::to_string(in_->gcount()) + " of " + std::to_string(length) +
                   " bytes)"};
  if (crc32(reinterpret_cast<const unsigned char*>(words.begin()), length) != crc)
    return failure{where() + "corrupt (checksum mismatch)"};
  sample s;
  auto error = kj::runCatchingExceptions([&] {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = length / 8 * 2;
    capnp::FlatArrayMessageReader message(words, options);
    auto r = message.getRoot<schema::Sample>();
    s.caption = r.getCaption();
    for (auto id : r.getTextIds())
      s.text_ids.push_back(id);
    for (auto code : r.getImageCodes())
      s.image_codes.push_back(code);
    s.width = r.getWidth();
    s.height = r.getHeight();
    s.nsfw = r.getNsfw();
  });
  KJ_IF_MAYBE (e, error) {
    return failure{where() + "malformed record (" + std::string(e->getDescription().cStr()) + ")"};
  }
  ++index_;
  return std::optional<sample>(std::move(s));
}

std::vector<std::string> list_shards(const std::string& dir, const std::string& split) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind(split + "-", 0) == 0 && e.path().extension() == ".shard")
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t seed_from_peer_id(const std::string& peer_id) {
  uint64_t h = 1469598103934665603ull; // FNV-1a: stable across platforms and runs
  for (unsigned char c : peer_id)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

sample_stream::sample_stream(std::vector<std::string> shards, size_t buffer_size, uint64_t seed, bool loop, bool filter)
    : shards_(std::move(shards)), buffer_size_(std::max<size_t>(1, buffer_size)), rng_(seed), loop_(loop),
      filter_(filter) {
  std::shuffle(shards_.begin(), shards_.end(), rng_);
}

status sample_stream::refill() {
  while (buffer_.size() < buffer_size_ && !exhausted_) {
    if (!reader_) {
      if (shard_index_ == shards_.size()) {
        // A pass that kept nothing would make looping spin forever.
        if (!loop_ || shards_.empty() || kept_this_pass_ == 0) {
          exhausted_ = true;
          break;
        }
        shard_index_ = 0;
        kept_this_pass_ = 0;
      }
      auto r = shard_reader::open(shards_[shard_index_++]);
      if (!r)
        return failure{r.error()};
      reader_.emplace(std::move(*r));
    }
    auto s = reader_->next();
    if (!s)
      return failure{s.error()};
    if (!*s) {
      reader_.reset();
      continue;
    }
    if (filter_ && !passes_2021_filters(**s)) {
      ++filtered_out_;
      continue;
    }
    ++kept_this_pass_;
    buffer_.push_back(std::move(**s));
  }
  return ok();
}

result<std::optional<sample>> sample_stream::next() {
  auto st = refill();
  if (!st)
    return failure{st.error()};
  if (buffer_.empty())
    return std::optional<sample>{};
  std::uniform_int_distribution<size_t> pick(0, buffer_.size() - 1);
  size_t i = pick(rng_);
  std::swap(buffer_[i], buffer_.back());
  sample s = std::move(buffer_.back());
  buffer_.pop_back();
  return std::optional<sample>(std::move(s));
}

} // namespace ttt::model
