#include "actors/dht/validator.hpp"

#include "actors/dht/protocol.hpp"
#include "actors/dht/schema_check.hpp"
#include "schema/checkpoint.capnp.h"
#include "schema/dht.capnp.h"
#include "schema/matchmaking.capnp.h"
#include "schema/progress.capnp.h"
#include "schema/transfer.capnp.h"

#include <algorithm>

namespace ttt::dht {

namespace {

constexpr std::string_view marker_open = "[owner:";

/// Every owner named in `text`, as raw public keys; an error for a malformed marker.
caf::error owners_in(std::string_view text, std::vector<std::string>& owners) {
  size_t pos = 0;
  while ((pos = text.find(marker_open, pos)) != std::string_view::npos) {
    size_t start = pos + marker_open.size();
    size_t end = text.find(']', start);
    if (end == std::string_view::npos || end - start != 2 * public_key_size)
      return protocol_error("malformed owner marker (expected [owner:<64 hex digits>])");
    std::string raw;
    for (size_t i = start; i < end; i += 2) {
      auto hex = text.substr(i, 2);
      char* stop = nullptr;
      std::string h(hex);
      long byte = std::strtol(h.c_str(), &stop, 16);
      if (stop != h.c_str() + 2)
        return protocol_error("malformed owner marker (not hex)");
      raw += static_cast<char>(byte);
    }
    owners.push_back(std::move(raw));
    pos = end + 1;
  }
  return caf::none;
}

} // namespace

std::optional<std::string> owner_of(std::string_view text) {
  std::vector<std::string> owners;
  if (owners_in(text, owners) || owners.empty())
    return std::nullopt;
  return owners.front();
}

std::string owner_marker(std::string_view public_key) {
  static const char digits[] = "0123456789abcdef";
  std::string out(marker_open);
  for (unsigned char c : public_key) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  out += ']';
  return out;
}

void sign_record(dht_record& record, const identity& owner) {
  record.signature = owner.sign(signed_bytes(record));
}

void validator::bind_schema(std::string prefix, std::string schema_name, schema_check check,
                            key_rules rules) {
  bindings_.push_back({std::move(prefix), std::move(schema_name), std::move(check), rules});
}

caf::error validator::validate(const dht_record& record, double now) const {
  std::vector<std::string> owners;
  if (auto err = owners_in(record.key, owners))
    return err;
  if (record.has_subkey)
    if (auto err = owners_in(record.subkey, owners))
      return err;
  if (!owners.empty()) {
    if (record.signature.empty())
      return protocol_error("record for an owned key is not signed");
    auto message = signed_bytes(record);
    for (const auto& owner : owners)
      if (!verify_signature(owner, message, record.signature))
        return protocol_error("signature does not verify against the key's owner");
  }
  // The cheap rules first: a value is decoded only if its record may stay.
  double max_lifetime = default_lifetime_;
  for (const auto& b : bindings_) {
    if (record.key.compare(0, b.prefix.size(), b.prefix) == 0) {
      if (b.rules.owned_entries &&
          (!record.has_subkey || record.subkey.find(marker_open) == std::string::npos))
        return protocol_error("records under '" + b.prefix +
                              "' must be dictionary entries whose subkey names their owner");
      max_lifetime = std::min(max_lifetime, b.rules.max_lifetime);
    }
  }
  if (!(record.expiration <= now + max_lifetime + clock_skew))
    return protocol_error("expiration is more than " + std::to_string(static_cast<long>(max_lifetime)) +
                          " s ahead (the bound for this key)");
  for (const auto& b : bindings_) {
    if (record.key.compare(0, b.prefix.size(), b.prefix) == 0) {
      if (auto err = b.check(record.value))
        return protocol_error("value under '" + b.prefix + "' is not a " + b.schema_name + ": " +
                              describe(err));
    }
  }
  return caf::none;
}

validator default_validator() {
  validator v;
  // A run's own records live for minutes (progress and state adverts are
  // republished every few seconds, a matchmaking round lasts seconds); an
  // hour bounds them all with room for slow settings.
  key_rules run_record{true, 3600};
  v.bind_schema("example.", "ExampleValue", capnp_schema_check<schema::ExampleValue>(64 << 10));
  v.bind_schema("mm.", "AveragerDeclaration",
                capnp_schema_check<schema::AveragerDeclaration>(4 << 10), run_record);
  v.bind_schema("mmgroup.", "GroupAnnouncement",
                capnp_schema_check<schema::GroupAnnouncement>(64 << 10), run_record);
  v.bind_schema("state.", "StateAdvert", capnp_schema_check<schema::StateAdvert>(1 << 10), run_record);
  v.bind_schema("progress.", "ProgressRecord", capnp_schema_check<schema::ProgressRecord>(1 << 10),
                run_record);
  v.bind_schema("metrics.", "MetricsRecord", capnp_schema_check<schema::MetricsRecord>(2 << 10),
                run_record);
  v.bind_schema("vouch.", "StateVouch", capnp_schema_check<schema::StateVouch>(1 << 10), run_record);
  v.bind_schema("shards.", "ShardListing", capnp_schema_check<schema::ShardListing>(64 << 10), run_record);
  return v;
}

} // namespace ttt::dht
