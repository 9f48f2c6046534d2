#pragma once
// What every networked subcommand shares: the CAF configuration of a peer
// process, a thread-safe log, and HOST:PORT parsing.

#include "actors/common/types.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace ttt::apps {

/// One peer process = one actor system with the middleman and ttt's types.
struct peer_system_config : caf::actor_system_config {
  peer_system_config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::ttt>();
    // Workers wait on a condition variable for work. CAF's work-stealing
    // workers poll, spinning first: on a 2-core volunteer machine that
    // spinning took the cores from the wire's I/O thread, which encrypts
    // (measured: a 4-peer all-reduce of 16M floats 1.6 s with stealing,
    // 0.85 s with sharing).
    set("scheduler.policy", caf::atom("sharing"));
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.console", caf::atom("none"));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

/// Prints "HH:MM:SS.mmm text" on stdout, one whole line at a time.
void log_line(const std::string& text);

/// A peer to dial as the command line gives it: "[PEERID@]HOST:PORT", where
/// PEERID (40 hex digits, what a node prints when it starts) is the
/// identity the peer must prove. HOST is resolved once, here, to a numeric
/// address. Returns "[PEERID@]IP:PORT"; nullopt and `error` set when
/// malformed or unresolvable.
std::optional<std::string> resolve_peer(const std::string& text, std::string& error);

/// "host:port" -> (host, port); nullopt and `error` set when malformed.
std::optional<std::pair<std::string, uint16_t>> parse_host_port(const std::string& text,
                                                                 std::string& error,
                                                                 bool allow_port_zero = false);

} // namespace ttt::apps
