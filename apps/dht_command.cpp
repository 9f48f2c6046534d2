// `ttt dht store|get`: joins a swarm as a client-mode peer, acts, prints, leaves.

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "apps/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <cstdio>

namespace ttt::apps {

namespace {

constexpr auto request_timeout = std::chrono::seconds(30);

/// A client-mode DHT node joined through `initial_peers`; runs `act` with it.
int with_client_node(const std::vector<std::string>& initial_peers, const char* command,
                     const std::function<int(caf::scoped_actor&, const dht::dht_actor&)>& act) {
  peer_system_config cfg;
  caf::actor_system sys(cfg);
  dht::dht_config dc;
  dc.client_mode = true;
  dc.connector = caf::actor_cast<caf::actor>(sys.middleman().actor_handle());
  auto node = dht::spawn_dht_node(sys, dc);
  caf::scoped_actor self{sys};
  int rc = 0;
  self->request(node, request_timeout, bootstrap_atom_v, initial_peers)
    .receive(
      [&](size_t known) {
        if (known == 0) {
          std::fprintf(stderr, "%s: no initial peer answered\n", command);
          rc = 1;
        }
      },
      [&](caf::error& err) {
        std::fprintf(stderr, "%s: cannot join: %s\n", command, describe(err).c_str());
        rc = 1;
      });
  if (rc == 0)
    rc = act(self, node);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  return rc;
}

bool check_peers(const flag_parser& flags, const char* command) {
  if (flags.values("initial-peer").empty()) {
    std::fprintf(stderr, "%s: --initial-peer HOST:PORT is required\n", command);
    return false;
  }
  std::string error;
  for (const auto& p : flags.values("initial-peer"))
    if (!parse_host_port(p, error)) {
      std::fprintf(stderr, "%s: initial peer %s\n", command, error.c_str());
      return false;
    }
  return true;
}

int store_command(const args_t& args) {
  const char* name = "ttt dht store";
  flag_parser flags("ttt dht store --initial-peer HOST:PORT KEY VALUE [options]",
                    {{"initial-peer", "HOST:PORT", "a peer of the swarm", true},
                     {"subkey", "S", "store VALUE as entry S of the dictionary under KEY"},
                     {"ttl", "SECONDS", "time to live (default 600)"}},
                    2, 2);
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto ttl = flags.real("ttl", 600);
  if (!ttl || *ttl <= 0) {
    std::fprintf(stderr, "%s: %s\n", name,
                 ttl ? "--ttl must be positive" : flags.error().c_str());
    return 2;
  }
  if (!check_peers(flags, name))
    return 2;
  dht::dht_record rec;
  rec.key = flags.positional()[0];
  rec.value = flags.positional()[1];
  rec.expiration = dht::wall_clock_seconds() + *ttl;
  if (auto s = flags.value("subkey")) {
    rec.subkey = *s;
    rec.has_subkey = true;
  }
  return with_client_node(flags.values("initial-peer"), name,
                          [&](caf::scoped_actor& self, const dht::dht_actor& node) {
    int rc = 1;
    self->request(node, request_timeout, dht_store_atom_v, rec)
      .receive(
        [&](bool stored) {
          if (stored) {
            std::printf("stored %s%s\n", rec.key.c_str(),
                        rec.has_subkey ? ("[" + rec.subkey + "]").c_str() : "");
            rc = 0;
          } else {
            std::fprintf(stderr, "%s: no peer accepted the value (a later one is stored)\n", name);
          }
        },
        [&](caf::error& err) {
          std::fprintf(stderr, "%s: refused: %s\n", name, describe(err).c_str());
        });
    return rc;
  });
}

int get_command(const args_t& args) {
  const char* name = "ttt dht get";
  flag_parser flags("ttt dht get --initial-peer HOST:PORT KEY [--latest]",
                    {{"initial-peer", "HOST:PORT", "a peer of the swarm", true},
                     {"latest", "", "ask every replica for the latest value"}},
                    1, 1);
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  if (!check_peers(flags, name))
    return 2;
  auto key = flags.positional()[0];
  return with_client_node(flags.values("initial-peer"), name,
                          [&](caf::scoped_actor& self, const dht::dht_actor& node) {
    int rc = 1;
    self->request(node, request_timeout, dht_get_atom_v, key, flags.has("latest"))
      .receive(
        [&](dht::dht_records& found) {
          if (found.empty()) {
            std::fprintf(stderr, "%s: %s not found\n", name, key.c_str());
            return;
          }
          rc = 0;
          for (const auto& r : found) {
            if (r.has_subkey)
              std::printf("%s\t%s\n", r.subkey.c_str(), r.value.c_str());
            else
              std::printf("%s\n", r.value.c_str());
          }
        },
        [&](caf::error& err) { std::fprintf(stderr, "%s: %s\n", name, describe(err).c_str()); });
    return rc;
  });
}

} // namespace

int dht_command(const args_t& args) {
  if (!args.empty() && args[0] == "store")
    return store_command(args_t(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "get")
    return get_command(args_t(args.begin() + 1, args.end()));
  bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
  std::fprintf(help ? stdout : stderr,
               "usage: ttt dht store --initial-peer HOST:PORT KEY VALUE [--subkey S] [--ttl SECONDS]\n"
               "       ttt dht get --initial-peer HOST:PORT KEY [--latest]\n"
               "(ttt dht store --help, ttt dht get --help for details)\n");
  return help ? 0 : 2;
}

} // namespace ttt::apps
