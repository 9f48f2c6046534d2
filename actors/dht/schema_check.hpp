#pragma once
// capnp_schema_check<T>: see validator.hpp.

#include "actors/dht/protocol.hpp"
#include "actors/dht/validator.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

namespace ttt::dht {

template <class T>
schema_check capnp_schema_check(size_t max_bytes) {
  return [max_bytes](std::string_view value) -> caf::error {
    if (value.size() > max_bytes)
      return protocol_error("value exceeds " + std::to_string(max_bytes) + " bytes");
    if (value.empty() || value.size() % sizeof(capnp::word) != 0)
      return protocol_error("value is not a Cap'n Proto message");
    try {
      auto words = kj::heapArray<capnp::word>(value.size() / sizeof(capnp::word));
      std::memcpy(words.begin(), value.data(), value.size());
      capnp::ReaderOptions options;
      options.traversalLimitInWords = 2 * words.size() + 64;
      options.nestingLimit = 16;
      capnp::FlatArrayMessageReader reader(words.asPtr(), options);
      if (reader.getEnd() != words.end())
        return protocol_error("value has trailing bytes after its message");
      auto root = reader.getRoot<T>();
      // totalSize() walks every pointer, so a value whose pointers lead
      // outside the message or have the wrong kind fails here.
      (void)root.totalSize();
      if (!reader.isCanonical())
        return protocol_error("value is not in canonical form");
    } catch (const kj::Exception& e) {
      return protocol_error(std::string("value does not decode: ") + e.getDescription().cStr());
    }
    return caf::none;
  };
}

} // namespace ttt::dht
