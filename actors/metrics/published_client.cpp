// Downloading an aux peer's published weights with cpp-httplib's client,
// where the build has it (TTT_WITH_DASHBOARD).
#include "actors/metrics/published_client.hpp"

#include "actors/metrics/http_fetch.hpp"

#include <caf/sec.hpp>

#if TTT_WITH_DASHBOARD
#include <httplib.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#endif

namespace ttt::metrics {

namespace {

caf::error failed(const std::string& why) {
  return caf::make_error(caf::sec::runtime_error, why);
}

} // namespace

#if TTT_WITH_DASHBOARD

namespace {

bool all_of(const std::string& text, int (*is)(int)) {
  if (text.empty())
    return false;
  for (unsigned char c : text)
    if (!is(c))
      return false;
  return true;
}

} // namespace

caf::expected<published_state> fetch_published_weights(const std::string& base_url, const std::string& out_path,
                                                       uint64_t max_bytes) {
  auto checked = base_address(base_url, "a dashboard");
  if (!checked)
    return checked.error();
  const auto& base = *checked;
  const std::string url = base + "/weights/latest.safetensors";

  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out)
    return failed("cannot write " + out_path);
  published_state got;
  got.weights_path = out_path;
  int status = 0;
  uint64_t expected = 0, received = 0;
  std::string refusal;  // why the download was cut short, if it was
  std::string message;  // the body of an answer other than 200, bounded
  crypto_generichash_state hash;
  crypto_generichash_init(&hash, nullptr, 0, crypto_generichash_BYTES);

  httplib::Client client(base);
  client.set_connection_timeout(10);
  client.set_read_timeout(60);
  auto result = client.Get(
    "/weights/latest.safetensors",
    [&](const httplib::Response& response) {
      status = response.status;
      if (status != 200)
        return true;
      auto length = response.get_header_value("Content-Length");
      auto epoch = response.get_header_value("X-TTT-Epoch");
      got.state_digest = response.get_header_value("X-TTT-State-Digest");
      got.weights_digest = response.get_header_value("X-TTT-Weights-Digest");
      if (!all_of(length, ::isdigit) || length.size() > 19 || !all_of(epoch, ::isdigit) || epoch.size() > 19 ||
          got.weights_digest.size() != 2 * crypto_generichash_BYTES || !all_of(got.weights_digest, ::isxdigit) ||
          !all_of(got.state_digest, ::isxdigit)) {
        refusal = url + " is not an aux peer's published weights (no length, epoch or digests in its headers)";
        return false;
      }
      expected = std::stoull(length);
      got.epoch = std::stoull(epoch);
      if (expected > max_bytes) {
        refusal = url + " offers " + length + " bytes, more than the " + std::to_string(max_bytes) +
                  " a download takes";
        return false;
      }
      return true;
    },
    [&](const char* data, size_t size) {
      if (status != 200) {
        message.append(data, std::min(size, 512 - std::min<size_t>(512, message.size())));
        return true;
      }
      received += size;
      if (received > expected) {
        refusal = url + " sent more bytes than the " + std::to_string(expected) + " it announced";
        return false;
      }
      crypto_generichash_update(&hash, reinterpret_cast<const unsigned char*>(data), size);
      out.write(data, static_cast<std::streamsize>(size));
      if (!out) {
        refusal = "cannot write " + out_path;
        return false;
      }
      return true;
    });
  out.close();
  if (!refusal.empty())
    return failed(refusal);
  if (!result)
    return failed("cannot reach " + url + ": " + httplib::to_string(result.error()));
  if (status != 200) {
    while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
      message.pop_back();
    return failed(url + " answered " + std::to_string(status) + (message.empty() ? "" : ": " + message));
  }
  if (received != expected)
    return failed(url + " ended after " + std::to_string(received) + " of " + std::to_string(expected) + " bytes");
  if (!out)
    return failed("cannot write " + out_path);
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash_final(&hash, digest, sizeof digest);
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  std::string stated = got.weights_digest;
  for (auto& c : stated)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (stated != hex)
    return failed("digest mismatch: " + url + " hashes to " + std::string(hex) + ", its server states " +
                  got.weights_digest);
  got.weights_bytes = received;
  return got;
}

#else

caf::expected<published_state> fetch_published_weights(const std::string&, const std::string&, uint64_t) {
  return failed("this ttt was built without cpp-httplib (install libcpp-httplib-dev and rebuild): it cannot "
                "download weights");
}

#endif

} // namespace ttt::metrics
