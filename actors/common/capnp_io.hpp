#pragma once
// The mechanics every Cap'n Proto codec of ttt shares: flat bytes out, and
// bytes from a peer read back without trusting them (a size bound, whole
// words, an aligned copy, a traversal limit proportional to the size, no
// trailing bytes, kj exceptions turned into errors). Each record keeps its
// own codec; only this plumbing is common.

#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace ttt::capnp_io {

inline caf::error invalid(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

/// The message as one flat byte string (segment table included).
inline std::string to_bytes(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

inline capnp::Data::Reader as_data(std::string_view s) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

inline std::string_view as_view(capnp::Data::Reader d) {
  return std::string_view(reinterpret_cast<const char*>(d.begin()), d.size());
}

/// Reads `bytes` as one message whose root is `Root` and hands the root to
/// `convert`, which returns a caf::expected<...>. `what` names the record in
/// errors. Nothing of the bytes is used unless every check passes.
template <class Root, class Convert>
auto read(std::string_view bytes, size_t max_bytes, const char* what, Convert&& convert)
  -> decltype(convert(std::declval<typename Root::Reader>())) {
  if (bytes.size() > max_bytes)
    return invalid(std::string(what) + " of " + std::to_string(bytes.size()) +
                   " bytes exceeds the " + std::to_string(max_bytes) + "-byte limit");
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    return invalid(std::string(what) + " of " + std::to_string(bytes.size()) +
                   " bytes is not a whole number of Cap'n Proto words");
  try {
    auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    std::memcpy(words.begin(), bytes.data(), bytes.size());
    capnp::ReaderOptions options;
    options.traversalLimitInWords = 2 * words.size() + 64; // no amplification
    options.nestingLimit = 16;
    capnp::FlatArrayMessageReader reader(words.asPtr(), options);
    if (reader.getEnd() != words.end())
      return invalid(std::string(what) + " has trailing bytes after its message");
    return convert(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return invalid(std::string("malformed ") + what + ": " + e.getDescription().cStr());
  }
}

} // namespace ttt::capnp_io
