#pragma once
// The wire's bounds as pure decisions, without sockets or a clock of their
// own (time is passed in, in seconds): which connection a node admits, which
// it evicts, and how much a peer may send per second. The broker
// (wire.cpp) only applies them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttt::wire {

/// Every bound of the wire; a profile's [wire] section sets them.
struct wire_limits {
  double handshake_timeout = 10;    ///< seconds from connect to an established session
  double idle_timeout = 300;        ///< seconds without a frame before a connection closes
  double call_timeout = 30;         ///< seconds a DHT call waits for its answer at most
  size_t max_connections = 1024;    ///< in total
  size_t max_per_address = 16;      ///< from one remote IP address
  size_t max_unauthenticated = 128; ///< incoming, still in their handshake
  double inbound_bytes_per_second = 512.0 * (1 << 20); ///< per connection
  double inbound_frames_per_second = 20000;            ///< per connection
  size_t max_queued_bytes = size_t{64} << 20;   ///< outgoing bytes held for one connection
  size_t max_inflight_bytes = size_t{32} << 20; ///< a peer's frames handed on, not yet taken
  size_t max_inflight_requests = 64;            ///< a connection's DHT requests being answered
};

/// A budget that refills at `rate` per second and holds at most one
/// second's worth: spending past it overdraws it until time pays it back.
class token_bucket {
public:
  token_bucket() = default;
  token_bucket(double per_second, double now) : rate_(per_second), tokens_(per_second), last_(now) {}

  /// Spends `amount`; false when the budget is now overdrawn.
  bool spend(double amount, double now);
  /// True when something is left to spend.
  bool available(double now);

private:
  void refill(double now);

  double rate_ = 0;
  double tokens_ = 0;
  double last_ = 0;
};

/// What the admission rules need to know of a connection.
struct connection_view {
  uint64_t key = 0; ///< the caller's name for it
  std::string ip;
  bool established = false;
  bool outgoing = false;
  double opened = 0; ///< seconds
};

struct admission {
  bool accept = false;
  /// A connection to close first, to make room (accept is true then).
  std::optional<uint64_t> evict;
  /// Why it refused or evicted (for the log).
  std::string reason;
};

/// Whether a new incoming connection from `ip` is admitted, given the node's
/// `current` connections. The cap per address refuses it. At the cap on
/// incoming connections still in their handshake, it evicts the oldest of
/// those from the address that holds the most: a flood then evicts itself,
/// while an honest peer's handshake, done in a round trip or two, is over
/// before the flood reaches it. At the cap in total, it refuses.
admission admit(const std::vector<connection_view>& current, const std::string& ip, const wire_limits& limits);

} // namespace ttt::wire
