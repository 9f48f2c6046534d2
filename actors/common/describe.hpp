#pragma once

#include <caf/error.hpp>
#include <caf/message.hpp>

#include <string>

namespace ttt {

/// The human text of an error: its message for ours (an error made with a
/// single string as context), CAF's rendering otherwise.
inline std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

} // namespace ttt
