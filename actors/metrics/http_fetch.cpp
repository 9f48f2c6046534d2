// cpp-httplib's client, where the build has it (TTT_WITH_DASHBOARD).
#include "actors/metrics/http_fetch.hpp"

#include <caf/sec.hpp>

#if TTT_WITH_DASHBOARD
#include <httplib.h>
#endif

namespace ttt::metrics {

namespace {

caf::error failed(const std::string& why) {
  return caf::make_error(caf::sec::runtime_error, why);
}

} // namespace

caf::expected<std::string> base_address(const std::string& url, const std::string& what) {
  const std::string scheme = "http://";
  auto base = url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  if (base.compare(0, scheme.size(), scheme) != 0 || base.size() == scheme.size() ||
      base.find('/', scheme.size()) != std::string::npos)
    return failed("'" + url + "' is not " + what + "'s address: give http://HOST:PORT");
  return base;
}

caf::expected<std::string> fetch_text(const std::string& base_url, const std::string& path, uint64_t max_bytes,
                                      bool missing_is_empty) {
#if TTT_WITH_DASHBOARD
  auto base = base_address(base_url, "a run");
  if (!base)
    return base.error();
  httplib::Client client(*base);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  std::string body;
  bool too_long = false;
  int status = 0;
  auto result = client.Get(
    path, [&](const httplib::Response& response) {
      status = response.status;
      return true;
    },
    [&](const char* data, size_t length) {
      if (body.size() + length > max_bytes) {
        too_long = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
  auto url = *base + path;
  if (too_long)
    return failed(url + " sent more than " + std::to_string(max_bytes) + " bytes: not a run's kit");
  if (!result)
    return failed("cannot reach " + url + " (" + httplib::to_string(result.error()) + ")");
  if (status == 404 && missing_is_empty)
    return std::string();
  if (status != 200)
    return failed(url + " answered " + std::to_string(status) + (body.empty() ? "" : ": " + body.substr(0, 200)));
  return body;
#else
  (void)path, (void)max_bytes, (void)missing_is_empty;
  return failed("this ttt was built without cpp-httplib: it cannot fetch " + base_url);
#endif
}

} // namespace ttt::metrics
