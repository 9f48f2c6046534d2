#pragma once
// What a DHT node accepts. Two rules, checked on every record that arrives
// (from a peer or from the local API) before it is stored anywhere:
//  - owner-signed: a key or subkey that contains "[owner:<64 hex digits>]"
//    only accepts records signed by that Ed25519 public key over
//    signed_bytes(record), so nobody else can write or extend it;
//  - schema-bound: a key prefix may be bound to a Cap'n Proto struct, and a
//    value under such a key must decode as that struct within limits.

#include "actors/common/identity.hpp"
#include "actors/dht/types.hpp"

#include <caf/error.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::dht {

/// The marker that binds a key or subkey to an owner's public key.
std::string owner_marker(std::string_view public_key);

/// The public key named by the first owner marker in `text`, if any.
std::optional<std::string> owner_of(std::string_view text);

/// Signs `record` in place with `owner` (for keys/subkeys carrying its marker).
void sign_record(dht_record& record, const identity& owner);

/// Checks that `value` decodes as one schema struct; returns an error saying why not.
using schema_check = std::function<caf::error(std::string_view value)>;

class validator {
public:
  /// Binds keys starting with `prefix` to `check`.
  void bind_schema(std::string prefix, std::string schema_name, schema_check check);

  /// caf::none when `record` may be stored, else an error naming the rule it broke.
  caf::error validate(const dht_record& record) const;

private:
  struct binding {
    std::string prefix;
    std::string schema_name;
    schema_check check;
  };
  std::vector<binding> bindings_;
};

/// A schema_check for Cap'n Proto struct `T`: the value must be one whole,
/// well-formed message of at most `max_bytes` whose root reads as `T` within
/// a traversal limit. Defined in schema_check.hpp so that only the files that
/// bind a schema include Cap'n Proto.
template <class T>
schema_check capnp_schema_check(size_t max_bytes);

/// The validator every ttt node runs: the schemas of ttt's own records.
validator default_validator();

} // namespace ttt::dht
