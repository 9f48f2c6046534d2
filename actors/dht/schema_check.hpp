#pragma once
// capnp_schema_check<T>: see validator.hpp.

#include "actors/dht/protocol.hpp"
#include "actors/dht/validator.hpp"

#include "actors/common/capnp_io.hpp"

namespace ttt::dht {

template <class T>
schema_check capnp_schema_check(size_t max_bytes) {
  return [max_bytes](std::string_view value) -> caf::error {
    auto checked = capnp_io::read<T>(
      value, max_bytes, "value", [](typename T::Reader root) -> caf::expected<bool> {
        // totalSize() walks every pointer, so a value whose pointers lead
        // outside the message or have the wrong kind fails here.
        (void)root.totalSize();
        return true;
      });
    return checked ? caf::error{} : checked.error();
  };
}

} // namespace ttt::dht
