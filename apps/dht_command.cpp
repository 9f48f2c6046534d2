// `ttt dht store|get`: joins a swarm as a client-mode peer, acts, prints, leaves.

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/wire/wire.hpp"
#include "apps/client_node.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "apps/run_admission.hpp"
#include "apps/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <cstdio>
#include <filesystem>

namespace ttt::apps {

namespace {

constexpr auto request_timeout = std::chrono::seconds(30);

} // namespace

int with_client_node(const client_node_options& options, const std::vector<std::string>& initial_peers,
                     const char* command, const std::function<int(caf::scoped_actor&, const client_peer&)>& act) {
  peer_system_config cfg;
  caf::actor_system sys(cfg);
  wire::wire_config wc;
  wc.self = options.self;
  wc.run_id = options.run_id;
  wc.certificate = options.certificate;
  wc.admission = options.admission;
  wc.log = [command](const std::string& line) { std::fprintf(stderr, "%s: %s\n", command, line.c_str()); };
  dht::dht_config dc;
  dc.self = wc.self;
  dc.client_mode = true;
  dc.transport = wire::spawn_wire(sys, wc);
  auto node = dht::spawn_dht_node(sys, dc);
  caf::anon_send(dc.transport, wire_routes_atom_v, caf::actor_cast<caf::actor>(node), caf::actor{});
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
    rc = act(self, client_peer{node, dc.transport});
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(dc.transport, caf::exit_reason::user_shutdown);
  return rc;
}

int with_client_node(const client_node_options& options, const std::vector<std::string>& initial_peers,
                     const char* command,
                     const std::function<int(caf::scoped_actor&, const dht::dht_actor&)>& act) {
  return with_client_node(options, initial_peers, command,
                          [&act](caf::scoped_actor& self, const client_peer& peer) { return act(self, peer.dht); });
}

namespace {

constexpr const char* default_run = "ttt-demo";

} // namespace

std::optional<client_node_options> client_options(const flag_parser& flags, const char* command) {
  client_node_options options;
  auto fail = [command](const std::string& why) {
    std::fprintf(stderr, "%s: %s\n", command, why.c_str());
    return std::nullopt;
  };
  if (auto dir = flags.value("data-dir")) {
    std::error_code ec;
    std::filesystem::create_directories(*dir, ec);
    if (ec)
      return fail("cannot create " + *dir + ": " + ec.message());
    auto me = identity::load_or_create(*dir);
    if (!me)
      return fail(describe(me.error()));
    options.self = *me;
  }
  std::string run_id = flags.value_or("run", "");
  auto admission = load_node_admission(flags.value_or("manifest", ""), flags.value_or("certificate", ""), run_id,
                                       options.self, dht::wall_clock_seconds());
  if (!admission)
    return fail(describe(admission.error()));
  options.run_id = run_id.empty() ? default_run : run_id;
  options.certificate = admission->certificate;
  options.admission = admission->policy;
  return options;
}

std::vector<flag_spec> client_flags(std::vector<flag_spec> own) {
  own.push_back({"run", "RUN_ID", "the run whose DHT to use (default: the manifest's, else ttt-demo)"});
  own.push_back({"manifest", "FILE", "the run's manifest (ttt run init): its run id, peers checked by it"});
  own.push_back({"certificate", "FILE", "this client's certificate (ttt run admit), shown to peers of a closed run"});
  own.push_back({"data-dir", "DIR", "the identity to use (created when absent; default: a fresh one)"});
  return own;
}

std::optional<std::vector<std::string>> check_peers(const flag_parser& flags, const char* command) {
  if (flags.values("initial-peer").empty()) {
    std::fprintf(stderr, "%s: --initial-peer [PEERID@]HOST:PORT is required\n", command);
    return std::nullopt;
  }
  std::string error;
  std::vector<std::string> peers;
  for (const auto& p : flags.values("initial-peer")) {
    auto resolved = resolve_peer(p, error);
    if (!resolved) {
      std::fprintf(stderr, "%s: initial peer %s\n", command, error.c_str());
      return std::nullopt;
    }
    if (resolved->find('@') == std::string::npos)
      std::fprintf(stderr, "%s: trusting whichever peer answers at %s (give PEERID@HOST:PORT to check its key)\n",
                   command, resolved->c_str());
    peers.push_back(*resolved);
  }
  return peers;
}

namespace {

int store_command(const args_t& args) {
  const char* name = "ttt dht store";
  flag_parser flags("ttt dht store --initial-peer [PEERID@]HOST:PORT KEY VALUE [options]",
                    client_flags({{"initial-peer", "[PEERID@]HOST:PORT", "a peer of the swarm", true},
                                  {"subkey", "S", "store VALUE as entry S of the dictionary under KEY"},
                                  {"ttl", "SECONDS", "time to live (default 600)"}}),
                    2, 2);
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto ttl = flags.real("ttl", 600);
  if (!ttl || *ttl <= 0) {
    std::fprintf(stderr, "%s: %s\n", name,
                 ttl ? "--ttl must be positive" : flags.error().c_str());
    return 2;
  }
  auto peers = check_peers(flags, name);
  if (!peers)
    return 2;
  auto options = client_options(flags, name);
  if (!options)
    return 2;
  dht::dht_record rec;
  rec.key = flags.positional()[0];
  rec.value = flags.positional()[1];
  rec.expiration = dht::wall_clock_seconds() + *ttl;
  if (auto s = flags.value("subkey")) {
    rec.subkey = *s;
    rec.has_subkey = true;
  }
  return with_client_node(*options, *peers, name, [&](caf::scoped_actor& self, const dht::dht_actor& node) {
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
  flag_parser flags("ttt dht get --initial-peer [PEERID@]HOST:PORT KEY [--run RUN_ID] [--latest]",
                    client_flags({{"initial-peer", "[PEERID@]HOST:PORT", "a peer of the swarm", true},
                                  {"latest", "", "ask every replica for the latest value"}}),
                    1, 1);
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto peers = check_peers(flags, name);
  if (!peers)
    return 2;
  auto options = client_options(flags, name);
  if (!options)
    return 2;
  auto key = flags.positional()[0];
  return with_client_node(*options, *peers, name, [&](caf::scoped_actor& self, const dht::dht_actor& node) {
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
               "usage: ttt dht store --initial-peer [PEERID@]HOST:PORT KEY VALUE [--run RUN_ID] [--subkey S] [--ttl SECONDS]\n"
               "                     [--manifest FILE --certificate FILE --data-dir DIR]   (a closed run)\n"
               "       ttt dht get --initial-peer [PEERID@]HOST:PORT KEY [--run RUN_ID] [--latest]\n"
               "(ttt dht store --help, ttt dht get --help for details)\n");
  return help ? 0 : 2;
}

} // namespace ttt::apps
