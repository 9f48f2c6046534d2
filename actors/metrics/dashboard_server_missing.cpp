// The dashboard server where cpp-httplib is not installed: it says so.
#include "actors/metrics/dashboard.hpp"

namespace ttt::metrics {

struct dashboard_server::impl {};

dashboard_server::dashboard_server() = default;
dashboard_server::~dashboard_server() = default;

std::string dashboard_server::start(const std::string&, uint16_t, std::shared_ptr<const dashboard_board>) {
  return "this ttt was built without cpp-httplib (install libcpp-httplib-dev and rebuild): no dashboard";
}

void dashboard_server::stop() {}

} // namespace ttt::metrics
