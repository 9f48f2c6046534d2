#pragma once
// How Boost.Test prints ttt's values in failure messages.

#include "actors/dht/protocol.hpp"
#include "actors/dht/record_store.hpp"

#include <ostream>

namespace ttt {
inline std::ostream& boost_test_print_type(std::ostream& os, const node_id& id) {
  return os << id.to_hex();
}
namespace dht {
inline std::ostream& boost_test_print_type(std::ostream& os, record_store::outcome o) {
  return os << to_string(o);
}
} // namespace dht
} // namespace ttt

namespace caf {
inline std::ostream& boost_test_print_type(std::ostream& os, const error& e) {
  return os << ttt::dht::describe(e);
}
} // namespace caf
