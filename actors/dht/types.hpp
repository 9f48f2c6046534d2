#pragma once
// The DHT's value types, as the rest of ttt sees them (plain C++; the Cap'n
// Proto forms live in schema/dht.capnp and meet these in protocol.cpp).

#include "actors/common/node_id.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::dht {

/// How to reach a peer and who it is. A client-mode peer has an empty host.
struct peer_info {
  node_id id;
  std::string host;
  uint16_t port = 0;
  std::string public_key; ///< 32 raw bytes of Ed25519 public key

  std::string address() const { return host + ":" + std::to_string(port); }
  bool reachable() const { return !host.empty() && port != 0; }
};

/// One stored value: a plain value under `key`, or the entry `subkey` of the
/// dictionary under `key` when `has_subkey`.
struct dht_record {
  std::string key;
  std::string subkey;
  bool has_subkey = false;
  std::string value;
  double expiration = 0; ///< seconds since the Unix epoch; the later expiration wins
  std::string signature; ///< Ed25519 by the owner named in key/subkey, if any
};

inline bool operator==(const dht_record& a, const dht_record& b) {
  return a.key == b.key && a.subkey == b.subkey && a.has_subkey == b.has_subkey &&
         a.value == b.value && a.expiration == b.expiration && a.signature == b.signature;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_info& x) {
  return f(caf::meta::type_name("peer_info"), x.id.bytes, x.host, x.port, x.public_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dht_record& x) {
  return f(caf::meta::type_name("dht_record"), x.key, x.subkey, x.has_subkey, x.value,
           x.expiration, x.signature);
}

/// What a get returns: the unexpired records found under a key (one plain
/// record, or the dictionary's entries). Empty means not found.
using dht_records = std::vector<dht_record>;

} // namespace ttt::dht
