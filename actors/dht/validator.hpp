#pragma once
// What a DHT node accepts. Two rules, checked on every record that arrives
// (from a peer or from the local API) before it is stored anywhere:
//  - owner-signed: a key or subkey that contains "[owner:<64 hex digits>]"
//    only accepts records signed by that Ed25519 public key over
//    signed_bytes(record), so nobody else can write or extend it;
//  - schema-bound: a key prefix may be bound to a Cap'n Proto struct, and a
//    value under such a key must decode as that struct within limits; the
//    binding may also require every record under the prefix to be an entry
//    of a dictionary whose subkey names its owner (so nobody can replace or
//    crowd out another peer's entry with a plain value);
//  - bounded lifetime: an expiration at most `max_lifetime` (per prefix)
//    past now, so a stranger's record cannot outlive the run in every
//    replica's database.

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

/// What a key prefix requires beyond its schema.
struct key_rules {
  /// Every record is a dictionary entry whose subkey carries an owner marker.
  bool owned_entries = false;
  /// Seconds past now that an expiration may reach.
  double max_lifetime = 7 * 24 * 3600.0;
};

class validator {
public:
  /// Expirations may exceed the lifetime bound by this much: the writer's
  /// clock may run ahead of ours.
  static constexpr double clock_skew = 300;

  /// Binds keys starting with `prefix` to `check` and `rules`.
  void bind_schema(std::string prefix, std::string schema_name, schema_check check,
                   key_rules rules = {});

  /// The lifetime bound of keys outside every bound prefix.
  void set_default_lifetime(double seconds) { default_lifetime_ = seconds; }

  /// caf::none when `record` may be stored at `now`, else an error naming
  /// the rule it broke.
  caf::error validate(const dht_record& record, double now) const;

private:
  struct binding {
    std::string prefix;
    std::string schema_name;
    schema_check check;
    key_rules rules;
  };
  std::vector<binding> bindings_;
  double default_lifetime_ = key_rules{}.max_lifetime;
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
