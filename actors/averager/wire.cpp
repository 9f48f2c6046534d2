#include "actors/averager/wire.hpp"

#include "schema/averaging.capnp.h"

#include <caf/sec.hpp>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <vector>

namespace ttt::averaging {

namespace {

caf::error malformed(std::string text) {
  return caf::make_error(caf::sec::invalid_argument, "averaging message: " + std::move(text));
}

kj::ArrayPtr<const kj::byte> bytes_of(const std::string& s) {
  return kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

std::string copy_of(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

std::string_view view_of(capnp::Data::Reader d) {
  return std::string_view(reinterpret_cast<const char*>(d.begin()), d.size());
}

std::string flatten(capnp::MessageBuilder& builder) {
  // Segment table then segments (the format of capnp/serialize.h), appended
  // into one string: parts are large, so one copy and no zero-filling.
  auto segments = builder.getSegmentsForOutput();
  size_t words = capnp::computeSerializedSizeInWords(segments);
  std::vector<uint32_t> table(segments.size() + 1 + (segments.size() + 1) % 2, 0);
  table[0] = static_cast<uint32_t>(segments.size() - 1);
  for (size_t i = 0; i < segments.size(); ++i)
    table[i + 1] = static_cast<uint32_t>(segments[i].size());
  std::string out;
  out.reserve(words * sizeof(capnp::word));
  out.append(reinterpret_cast<const char*>(table.data()), table.size() * sizeof(uint32_t));
  for (auto seg : segments)
    out.append(reinterpret_cast<const char*>(seg.begin()), seg.size() * sizeof(capnp::word));
  return out;
}

void fill_values(schema::ValuesPart::Builder b, const part_message& msg) {
  b.setPartIndex(msg.part_index);
  b.setWeight(msg.weight);
  if (msg.write_values) {
    auto values = b.initValues(static_cast<unsigned>(msg.values_size));
    msg.write_values(reinterpret_cast<char*>(values.begin()));
  } else {
    b.setValues(bytes_of(msg.values));
  }
}

} // namespace

std::string encode_values(const part_message& msg) {
  // Built in place in the string that CAF will carry: a zeroed buffer with
  // room for the segment table and one segment (an upper bound of the
  // message's words), so the values are written exactly once.
  auto words_for = [](size_t bytes) { return (bytes + sizeof(capnp::word) - 1) / sizeof(capnp::word); };
  size_t words = 32 + words_for(msg.encoded_values_size()) + words_for(msg.group_id.size())
                 + words_for(msg.sender_id.size()) + words_for(msg.left_out.size() * 4);
  std::string out((words + 1) * sizeof(capnp::word), '\0');
  auto* segment = reinterpret_cast<capnp::word*>(&out[sizeof(capnp::word)]);
  capnp::FlatMessageBuilder builder(kj::ArrayPtr<capnp::word>(segment, words));
  auto root = builder.initRoot<schema::AveragingMessage>();
  root.setGroupId(bytes_of(msg.group_id));
  root.setSender(bytes_of(msg.sender_id));
  if (msg.kind == message_kind::part) {
    fill_values(root.initPart(), msg);
  } else {
    auto r = root.initResult();
    fill_values(r, msg);
    auto left = r.initLeftOut(static_cast<unsigned>(msg.left_out.size()));
    for (size_t i = 0; i < msg.left_out.size(); ++i)
      left.set(static_cast<unsigned>(i), msg.left_out[i]);
  }
  auto segments = builder.getSegmentsForOutput();
  uint32_t table[2] = {0, static_cast<uint32_t>(segments[0].size())}; // one segment
  std::memcpy(&out[0], table, sizeof(table));
  out.resize((segments[0].size() + 1) * sizeof(capnp::word));
  return out;
}

std::string encode_state_request(const std::string& fetch_id, const std::string& sender_id,
                                 const state_request& req) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<schema::AveragingMessage>();
  root.setGroupId(bytes_of(fetch_id));
  root.setSender(bytes_of(sender_id));
  root.initStateRequest().setChunkIndex(req.chunk_index);
  return flatten(builder);
}

std::string encode_state_chunk(const std::string& fetch_id, const std::string& sender_id,
                               const state_chunk& chunk) {
  capnp::MallocMessageBuilder builder(static_cast<unsigned>(chunk.data.size() / 8 + 64));
  auto root = builder.initRoot<schema::AveragingMessage>();
  root.setGroupId(bytes_of(fetch_id));
  root.setSender(bytes_of(sender_id));
  auto c = root.initStateChunk();
  c.setEpoch(chunk.epoch);
  c.setTotalBytes(chunk.total_bytes);
  c.setChecksum(bytes_of(chunk.checksum));
  c.setChunkIndex(chunk.chunk_index);
  c.setData(bytes_of(chunk.data));
  return flatten(builder);
}

std::string encode_state_error(const std::string& fetch_id, const std::string& sender_id,
                               const std::string& text) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<schema::AveragingMessage>();
  root.setGroupId(bytes_of(fetch_id));
  root.setSender(bytes_of(sender_id));
  root.setStateError(text);
  return flatten(builder);
}

std::string encode_hello(const std::string& group_id, const std::string& sender_id) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<schema::AveragingMessage>();
  root.setGroupId(bytes_of(group_id));
  root.setSender(bytes_of(sender_id));
  root.setHello();
  return flatten(builder);
}

caf::expected<wire_message> decode_message(std::string_view bytes) {
  if (bytes.size() > max_message_bytes)
    return malformed("larger than " + std::to_string(max_message_bytes) + " bytes");
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    return malformed("not a whole number of words");
  wire_message out;
  // Cap'n Proto reads words in place; the string's buffer may not be aligned.
  const capnp::word* words = reinterpret_cast<const capnp::word*>(bytes.data());
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) != 0) {
    out.aligned_copy.resize(bytes.size() / sizeof(capnp::word));
    std::memcpy(out.aligned_copy.data(), bytes.data(), bytes.size());
    words = reinterpret_cast<const capnp::word*>(out.aligned_copy.data());
  }
  capnp::ReaderOptions limits;
  // A well-formed message is traversed about once; anything more is an amplification attempt.
  limits.traversalLimitInWords = bytes.size() / sizeof(capnp::word) + 1024;
  limits.nestingLimit = 8;
  try {
    capnp::FlatArrayMessageReader reader(
      kj::ArrayPtr<const capnp::word>(words, bytes.size() / sizeof(capnp::word)), limits);
    auto root = reader.getRoot<schema::AveragingMessage>();
    out.values.group_id = view_of(root.getGroupId());
    out.values.sender_id = view_of(root.getSender());
    auto read_values = [&](schema::ValuesPart::Reader v) {
      out.values.part_index = v.getPartIndex();
      out.values.weight = v.getWeight();
      out.values.values = view_of(v.getValues());
    };
    switch (root.which()) {
      case schema::AveragingMessage::PART:
        out.kind = wire_kind::part;
        out.values.kind = message_kind::part;
        read_values(root.getPart());
        break;
      case schema::AveragingMessage::RESULT: {
        out.kind = wire_kind::result;
        out.values.kind = message_kind::result;
        auto r = root.getResult();
        read_values(r);
        for (auto c : r.getLeftOut())
          out.values.left_out.push_back(c);
        break;
      }
      case schema::AveragingMessage::STATE_REQUEST:
        out.kind = wire_kind::state_request;
        out.request.chunk_index = root.getStateRequest().getChunkIndex();
        break;
      case schema::AveragingMessage::STATE_CHUNK: {
        out.kind = wire_kind::state_chunk;
        auto c = root.getStateChunk();
        out.chunk.epoch = c.getEpoch();
        out.chunk.total_bytes = c.getTotalBytes();
        out.chunk.checksum = copy_of(c.getChecksum());
        out.chunk.chunk_index = c.getChunkIndex();
        out.chunk.data = copy_of(c.getData());
        break;
      }
      case schema::AveragingMessage::HELLO:
        out.kind = wire_kind::hello;
        break;
      case schema::AveragingMessage::STATE_ERROR:
        out.kind = wire_kind::state_error;
        out.error_text = root.getStateError().cStr();
        break;
      default:
        return malformed("unknown message kind");
    }
  } catch (const kj::Exception& e) {
    // Cap'n Proto reports malformed input by throwing; it stops here.
    return malformed(e.getDescription().cStr());
  }
  return out;
}

} // namespace ttt::averaging
