#include "actors/trainer/records.hpp"

#include "actors/dht/validator.hpp"

#include <sodium.h>

namespace ttt::trainer {

std::string parameters_digest(const std::vector<float>& values) {
  unsigned char out[8];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(values.data()),
                     values.size() * sizeof(float), nullptr, 0);
  static const char hex[] = "0123456789abcdef";
  std::string text;
  for (auto b : out) {
    text += hex[b >> 4];
    text += hex[b & 15];
  }
  return text;
}

dht::dht_record signed_record(const identity& self, std::string key, std::string value, double expiration) {
  dht::dht_record rec;
  rec.key = std::move(key);
  rec.subkey = dht::owner_marker(self.public_key());
  rec.has_subkey = true;
  rec.value = std::move(value);
  rec.expiration = expiration;
  dht::sign_record(rec, self);
  return rec;
}

dht::dht_record metrics_record(const identity& self, const std::string& run_id, const metrics::peer_metrics& m,
                               double expiration) {
  return signed_record(self, "metrics." + run_id, metrics::encode(m), expiration);
}

} // namespace ttt::trainer
