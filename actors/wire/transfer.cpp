#include "actors/wire/transfer.hpp"

#include "actors/common/capnp_io.hpp"
#include "actors/wire/session.hpp"
#include "actors/wire/transfer_capnp.hpp"

#include <set>

namespace ttt::wire {

static_assert(transfer_limits::max_response_bytes == max_frame_body, "a data response is one frame");
static_assert(2 * transfer_limits::max_chunk_bytes <= max_frame_body, "a chunk with its envelope fits a frame");

namespace {

using limits = transfer_limits;

caf::error invalid(std::string what) {
  return capnp_io::invalid("data transfer: " + std::move(what));
}

/// `text` with anything but printable ASCII replaced, cut to `max` bytes:
/// a peer's text goes into logs.
std::string printable(std::string_view text, size_t max) {
  std::string out;
  for (char c : text.substr(0, max))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

/// The whole text, NUL bytes included: a name with one is refused, not cut.
std::string text_of(capnp::Text::Reader text) {
  return std::string(text.begin(), text.size());
}

/// `s` as Cap'n Proto text, NUL bytes included, so that what is sent is
/// what the receiver checks.
capnp::Text::Reader text(const std::string& s) {
  return capnp::Text::Reader(s.data(), s.size());
}

} // namespace

bool valid_file_name(std::string_view name) {
  if (name.empty() || name.size() > limits::max_name_bytes || name.front() == '.')
    return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

caf::error check_listing(const std::vector<shard_entry>& files) {
  if (files.size() > limits::max_files)
    return invalid("a listing of " + std::to_string(files.size()) + " files exceeds the limit of " +
                   std::to_string(limits::max_files));
  std::set<std::string_view> names;
  for (const auto& f : files) {
    if (!valid_file_name(f.name))
      return invalid("'" + printable(f.name, limits::max_name_bytes) +
                     "' is not a file name (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')");
    if (!names.insert(f.name).second)
      return invalid("'" + f.name + "' is listed twice");
    if (f.size > limits::max_file_bytes)
      return invalid("'" + f.name + "' is larger than 16 GiB");
    if (f.digest.size() != limits::digest_bytes)
      return invalid("the digest of '" + f.name + "' is not 32 bytes");
  }
  return caf::none;
}

void write_entries(capnp::List<schema::ShardEntry>::Builder out,
                   const std::vector<shard_entry>& files) {
  for (size_t i = 0; i < files.size(); ++i) {
    auto e = out[static_cast<unsigned>(i)];
    e.setName(text(files[i].name));
    e.setSize(files[i].size);
    e.setDigest(capnp_io::as_data(files[i].digest));
  }
}

caf::expected<std::vector<shard_entry>> read_entries(capnp::List<schema::ShardEntry>::Reader in) {
  if (in.size() > limits::max_files)
    return invalid("a listing of " + std::to_string(in.size()) + " files exceeds the limit of " +
                   std::to_string(limits::max_files));
  std::vector<shard_entry> files;
  files.reserve(in.size());
  for (auto e : in) {
    // Checked before the copy: a name's length is bounded by the message,
    // not by this limit.
    if (e.getName().size() > limits::max_name_bytes)
      return invalid("a file name longer than " + std::to_string(limits::max_name_bytes) +
                     " bytes");
    files.push_back(
        {text_of(e.getName()), e.getSize(), std::string(capnp_io::as_view(e.getDigest()))});
  }
  if (auto err = check_listing(files))
    return err;
  return files;
}

std::string encode(const data_request& request) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::DataRequest>();
  if (request.what == data_request::kind::list) {
    root.setList();
  } else {
    auto chunk = root.initChunk();
    chunk.setName(text(request.name));
    chunk.setOffset(request.offset);
    chunk.setLength(request.length);
  }
  return capnp_io::to_bytes(message);
}

std::string encode(const data_response& response) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::DataResponse>();
  switch (response.what) {
  case data_response::kind::list:
    write_entries(root.initList(static_cast<unsigned>(response.files.size())), response.files);
    break;
  case data_response::kind::chunk:
    root.setChunk(capnp_io::as_data(response.chunk));
    break;
  case data_response::kind::error:
    root.setError(response.error.substr(0, limits::max_error_bytes));
    break;
  }
  return capnp_io::to_bytes(message);
}

caf::expected<data_request> decode_data_request(std::string_view bytes) {
  return capnp_io::read<schema::DataRequest>(
      bytes, limits::max_request_bytes, "data request",
      [](schema::DataRequest::Reader r) -> caf::expected<data_request> {
        data_request out;
        switch (r.which()) {
        case schema::DataRequest::LIST:
          out.what = data_request::kind::list;
          return out;
        case schema::DataRequest::CHUNK: {
          auto chunk = r.getChunk();
          if (!valid_file_name(text_of(chunk.getName())))
            return invalid("a chunk request for something that is not a file name");
          if (chunk.getLength() == 0 || chunk.getLength() > limits::max_chunk_bytes)
            return invalid("a chunk request of " + std::to_string(chunk.getLength()) +
                           " bytes (1 to " + std::to_string(limits::max_chunk_bytes) + ")");
          out.what = data_request::kind::chunk;
          out.name = text_of(chunk.getName());
          out.offset = chunk.getOffset();
          out.length = chunk.getLength();
          return out;
        }
        }
        return invalid("a data request of an unknown kind");
      });
}

caf::expected<data_response> decode_data_response(std::string_view bytes) {
  return capnp_io::read<schema::DataResponse>(
      bytes, limits::max_response_bytes, "data response",
      [](schema::DataResponse::Reader r) -> caf::expected<data_response> {
        data_response out;
        switch (r.which()) {
        case schema::DataResponse::LIST: {
          auto files = read_entries(r.getList());
          if (!files)
            return files.error();
          out.what = data_response::kind::list;
          out.files = std::move(*files);
          return out;
        }
        case schema::DataResponse::CHUNK: {
          if (r.getChunk().size() > limits::max_chunk_bytes)
            return invalid("a chunk of more than " + std::to_string(limits::max_chunk_bytes) +
                           " bytes");
          out.what = data_response::kind::chunk;
          out.chunk = std::string(capnp_io::as_view(r.getChunk()));
          return out;
        }
        case schema::DataResponse::ERROR:
          out.what = data_response::kind::error;
          out.error = printable(text_of(r.getError()), limits::max_error_bytes);
          return out;
        }
        return invalid("a data response of an unknown kind");
      });
}

std::string data_error_response(std::string_view why) {
  data_response response;
  response.error = std::string(why.substr(0, limits::max_error_bytes));
  return encode(response);
}

} // namespace ttt::wire
