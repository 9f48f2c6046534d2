#include "model/tar_reader.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace ttt::model {

namespace {

constexpr int64_t block_size = 512;
// Long names and pax records are metadata, a few hundred bytes in practice.
constexpr int64_t max_metadata_bytes = int64_t{1} << 20;

int64_t padded(int64_t size) {
  return (size + block_size - 1) / block_size * block_size;
}

// A numeric field: octal digits (spaces and NULs around them), or GNU's
// base-256 with the high bit of the first byte set. -1 when malformed.
int64_t number_field(const char* field, size_t width) {
  auto first = static_cast<unsigned char>(field[0]);
  if (first & 0x80) {
    if (first != 0x80)
      return -1; // negative, or too large for 63 bits
    int64_t value = 0;
    for (size_t i = 1; i < width; ++i) {
      if (value > (INT64_MAX >> 8))
        return -1;
      value = (value << 8) | static_cast<unsigned char>(field[i]);
    }
    return value;
  }
  size_t i = 0;
  while (i < width && field[i] == ' ')
    ++i;
  int64_t value = 0;
  bool any = false;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (value > (INT64_MAX >> 3))
      return -1;
    value = value * 8 + (field[i] - '0');
    any = true;
  }
  for (; i < width; ++i)
    if (field[i] != ' ' && field[i] != '\0')
      return -1;
  return any ? value : -1;
}

std::string text_field(const char* field, size_t width) {
  return std::string(field, strnlen(field, width));
}

bool checksum_matches(const char* block) {
  int64_t recorded = number_field(block + 148, 8);
  int64_t sum = 0;
  for (int64_t i = 0; i < block_size; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
  return recorded == sum;
}

// The `path` of a pax extended header's "LENGTH key=value\n" records, if any.
std::optional<std::string> pax_path(const std::string& records) {
  size_t at = 0;
  std::optional<std::string> path;
  while (at < records.size()) {
    size_t space = records.find(' ', at);
    if (space == std::string::npos)
      break;
    size_t length = 0;
    for (size_t i = at; i < space; ++i) {
      if (records[i] < '0' || records[i] > '9' || length > records.size())
        return path;
      length = length * 10 + static_cast<size_t>(records[i] - '0');
    }
    if (length <= space - at + 1 || at + length > records.size())
      break;
    std::string record = records.substr(space + 1, at + length - space - 2); // without the newline
    if (record.rfind("path=", 0) == 0)
      path = record.substr(5);
    at += length;
  }
  return path;
}

} // namespace

result<tar_reader> tar_reader::open(const std::string& path, int64_t max_member_bytes) {
  tar_reader r;
  r.path_ = path;
  r.max_member_bytes_ = max_member_bytes;
  r.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*r.in_)
    return failure{"cannot read tar '" + path + "'"};
  r.in_->seekg(0, std::ios::end);
  r.file_size_ = static_cast<int64_t>(r.in_->tellg());
  r.in_->seekg(0, std::ios::beg);
  if (r.file_size_ < 0 || !*r.in_)
    return failure{"cannot read tar '" + path + "'"};
  return r;
}

std::vector<std::string> tar_reader::take_warnings() {
  return std::exchange(warnings_, {});
}

status tar_reader::read_block(char* block) {
  if (file_size_ - offset_ < block_size)
    return failure{"tar '" + path_ + "' ends inside a header at byte " + std::to_string(offset_)};
  in_->read(block, block_size);
  if (in_->gcount() != block_size)
    return failure{"cannot read tar '" + path_ + "' at byte " + std::to_string(offset_)};
  offset_ += block_size;
  return ok();
}

status tar_reader::skip(int64_t bytes) {
  if (bytes > file_size_ - offset_)
    return failure{"tar '" + path_ + "' is cut short: a member at byte " + std::to_string(offset_) +
                   " claims " + std::to_string(bytes) + " bytes, the file has " +
                   std::to_string(file_size_ - offset_) + " left"};
  in_->seekg(bytes, std::ios::cur);
  offset_ += bytes;
  return ok();
}

result<std::optional<tar_member>> tar_reader::next() {
  std::optional<std::string> long_name;
  char block[block_size];
  while (!ended_) {
    if (offset_ == file_size_) { // no end-of-archive blocks: tolerated
      ended_ = true;
      break;
    }
    int64_t header_at = offset_;
    auto fail = [&](const std::string& why) {
      ended_ = true;
      return failure{"tar '" + path_ + "': " + why + " at byte " + std::to_string(header_at)};
    };
    if (auto st = read_block(block); !st) {
      ended_ = true;
      return failure{st.error()};
    }
    if (std::all_of(block, block + block_size, [](char c) { return c == 0; })) {
      ended_ = true; // the end-of-archive marker
      break;
    }
    if (!checksum_matches(block))
      return fail("a header's checksum does not match (not a tar, or corrupt)");
    int64_t size = number_field(block + 124, 12);
    if (size < 0)
      return fail("a header's size field is malformed");
    char type = block[156];
    std::string name = text_field(block, 100);
    if (std::memcmp(block + 257, "ustar", 5) == 0) {
      std::string prefix = text_field(block + 345, 155);
      if (!prefix.empty())
        name = prefix + "/" + name;
    }
    if (type == 'L' || type == 'x') {
      if (size > max_metadata_bytes)
        return fail("a long name or pax header of " + std::to_string(size) + " bytes");
      if (size > file_size_ - offset_)
        return fail("a long name or pax header runs past the end of the file");
      std::string data(static_cast<size_t>(size), '\0');
      in_->read(data.data(), size);
      offset_ += size;
      if (auto st = skip(padded(size) - size); !st) {
        ended_ = true;
        return failure{st.error()};
      }
      if (type == 'L')
        long_name = data.substr(0, strnlen(data.data(), data.size()));
      else if (auto p = pax_path(data))
        long_name = *p;
      continue;
    }
    if (long_name)
      name = *std::exchange(long_name, std::nullopt);
    bool regular = type == '0' || type == '\0' || type == '7';
    if (!regular || size > max_member_bytes_) {
      if (regular)
        warnings_.push_back("tar '" + path_ + "': skipped '" + name + "' (" + std::to_string(size) +
                            " bytes, over the limit of " + std::to_string(max_member_bytes_) + ")");
      else if (type != '5' && type != 'g')
        warnings_.push_back("tar '" + path_ + "': skipped '" + name + "' (not a regular file)");
      if (auto st = skip(padded(size)); !st) {
        ended_ = true;
        return failure{st.error()};
      }
      continue;
    }
    if (size > file_size_ - offset_)
      return fail("'" + name + "' claims " + std::to_string(size) + " bytes, the file has " +
                  std::to_string(file_size_ - offset_) + " left");
    tar_member member{name, std::string(static_cast<size_t>(size), '\0')};
    in_->read(member.bytes.data(), size);
    if (in_->gcount() != size)
      return fail("cannot read '" + name + "'");
    offset_ += size;
    // The padding of the last member may be missing in a cut archive: nothing is lost.
    int64_t padding = std::min(padded(size) - size, file_size_ - offset_);
    in_->seekg(padding, std::ios::cur);
    offset_ += padding;
    return std::optional<tar_member>(std::move(member));
  }
  return std::optional<tar_member>{};
}

} // namespace ttt::model
