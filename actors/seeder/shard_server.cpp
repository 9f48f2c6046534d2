#include "actors/seeder/shard_server.hpp"

#include "actors/common/describe.hpp"
#include "actors/common/file_digest.hpp"

#include <caf/sec.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ttt::seeder {

namespace fs = std::filesystem;

namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

caf::error scan_error(std::string what) {
  return caf::make_error(caf::sec::runtime_error, "seeder: " + std::move(what));
}

/// Up to `length` bytes of `path` from `offset` (fewer at its end).
caf::expected<std::string> read_at(const std::string& path, uint64_t offset, uint32_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return scan_error(std::string("cannot open a served file: ") + std::strerror(errno));
  std::string bytes(length, '\0');
  size_t got = 0;
  while (got < length) {
    auto n = ::pread(fd, bytes.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto why = std::string("cannot read a served file: ") + std::strerror(errno);
      ::close(fd);
      return scan_error(why);
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

} // namespace

bool is_data_file(std::string_view name) {
  return ((starts_with(name, "train-") || starts_with(name, "valid-")) &&
          ends_with(name, ".shard")) ||
         name == "tokenizer.model" || name == "codebook.safetensors" ||
         name == "image_coder.json" || ends_with(name, ".ini");
}

caf::expected<std::vector<served_file>> scan_shards(const std::string& dir,
                                                    std::vector<std::string>& skipped) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec)
    return scan_error("cannot read " + dir + ": " + ec.message());
  std::vector<served_file> files;
  for (const auto& item : it) {
    auto name = item.path().filename().string();
    if (!is_data_file(name) || !item.is_regular_file(ec))
      continue;
    if (!wire::valid_file_name(name)) {
      skipped.push_back(name);
      continue;
    }
    if (files.size() == wire::transfer_limits::max_files)
      return scan_error(dir + " holds more than " +
                        std::to_string(wire::transfer_limits::max_files) +
                        " data files, more than one listing carries: use fewer, larger shards");
    auto size = item.file_size(ec);
    if (ec)
      return scan_error("cannot read " + item.path().string() + ": " + ec.message());
    if (size > wire::transfer_limits::max_file_bytes)
      return scan_error(item.path().string() + " is larger than 16 GiB, more than a seeder serves");
    auto digest = file_digest(item.path().string());
    if (!digest)
      return digest.error();
    files.push_back({{name, size, std::move(*digest)}, item.path().string()});
  }
  std::sort(files.begin(), files.end(),
            [](const served_file& a, const served_file& b) { return a.entry.name < b.entry.name; });
  return files;
}

shard_server::shard_server(std::vector<served_file> files, tamper_fn tamper)
    : tamper_(std::move(tamper)) {
  for (auto& f : files) {
    listing_.push_back(f.entry);
    auto name = f.entry.name;
    files_.emplace(std::move(name), std::move(f));
  }
}

std::string shard_server::answer(std::string_view request) const {
  auto req = wire::decode_data_request(request);
  if (!req)
    return wire::data_error_response(describe(req.error()));
  if (req->what == wire::data_request::kind::list) {
    wire::data_response response;
    response.what = wire::data_response::kind::list;
    response.files = listing_;
    return encode(response);
  }
  auto found = files_.find(req->name);
  if (found == files_.end())
    return wire::data_error_response("'" + req->name + "' is not a file this seeder serves");
  const auto& file = found->second;
  if (req->offset > file.entry.size)
    return wire::data_error_response("offset " + std::to_string(req->offset) +
                                     " is past the end of '" + req->name + "' (" +
                                     std::to_string(file.entry.size) + " bytes)");
  auto length =
      static_cast<uint32_t>(std::min<uint64_t>(req->length, file.entry.size - req->offset));
  auto bytes = read_at(file.path, req->offset, length);
  if (!bytes)
    return wire::data_error_response(describe(bytes.error()));
  if (tamper_)
    tamper_(req->name, req->offset, *bytes);
  wire::data_response response;
  response.what = wire::data_response::kind::chunk;
  response.chunk = std::move(*bytes);
  return encode(response);
}

} // namespace ttt::seeder
