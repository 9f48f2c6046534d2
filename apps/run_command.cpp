// `ttt run init|admit|revoke`: the run authority's tools (a closed run's
// admission, docs/PROTOCOL.md "Admission"), and `ttt identity`, which a
// volunteer runs to learn the key to send to the authority. Every input is
// checked before anything is written: bad input exits with 2 and leaves
// the files as they were.

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/wire/admission.hpp"
#include "apps/client_node.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "apps/run_admission.hpp"
#include "apps/runtime.hpp"

#include <caf/scoped_actor.hpp>

#include <sodium.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace ttt::apps {

namespace {

namespace fs = std::filesystem;

constexpr auto request_timeout = std::chrono::seconds(30);
/// How long a revocation lives in the DHT: the longest any record may
/// (the DHT's bound, less a margin for clocks). Republish to extend it.
constexpr double revocation_ttl = 7 * 24 * 3600.0 - 3600;
/// The certificate `ttt run revoke` issues to its own short-lived client
/// node, so that it may connect to a closed run's peers.
constexpr int64_t publisher_certificate_seconds = 3600;

int usage_error(const char* command, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", command, why.c_str());
  return 2;
}

int64_t now_seconds() {
  return static_cast<int64_t>(std::floor(dht::wall_clock_seconds()));
}

/// "PEERID@HOST:PORT" with a 40-digit id and a port: what a manifest lists.
bool valid_peer_address(const std::string& text, std::string& error) {
  auto at = text.find('@');
  if (at == std::string::npos || !node_id::from_hex(text.substr(0, at))) {
    error = "'" + text + "': an initial peer of a manifest is PEERID@HOST:PORT (40 hex digits, as `ttt node` prints)";
    return false;
  }
  return parse_host_port(text.substr(at + 1), error).has_value();
}

/// A 64-hex-digit Ed25519 public key that is a valid curve point.
std::optional<std::string> parse_public_key(const std::string& hex, std::string& error) {
  auto raw = wire::from_hex(hex);
  if (!raw || raw->size() != public_key_size) {
    error = "--peer-key must be 64 hex digits (the public key `ttt identity` prints), got '" + hex + "'";
    return std::nullopt;
  }
  if (x25519_public_key_of(*raw).empty()) {
    error = "--peer-key " + hex + " is not a valid Ed25519 public key";
    return std::nullopt;
  }
  return raw;
}

/// The manifest's digest of a model config file.
caf::expected<std::string> file_digest(const std::string& path) {
  auto bytes = read_whole_file(path, size_t{64} << 20);
  if (!bytes)
    return bytes.error();
  init_crypto();
  return wire::model_config_digest(*bytes);
}

/// Creates `path` with `bytes` and mode 0600, failing when it exists: an
/// authority key is never overwritten.
caf::error create_secret_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return caf::make_error(caf::sec::invalid_argument,
                           "cannot create " + path + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0)
      break;
    written += static_cast<size_t>(n);
  }
  bool ok = written == bytes.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    std::remove(path.c_str());
    return caf::make_error(caf::sec::invalid_argument, "cannot write " + path);
  }
  return {};
}

std::vector<std::string> split_roles(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

int init_command(const args_t& args) {
  const char* name = "ttt run init";
  flag_parser flags("ttt run init --out RUN_DIR --run-id ID [options]\n"
                    "  makes the run's authority key (RUN_DIR/authority.key, keep it secret and offline)\n"
                    "  and its signed manifest (RUN_DIR/run.manifest, give it to every peer)",
                    {{"out", "RUN_DIR", "the run directory to create"},
                     {"run-id", "ID", "the run id every peer of the run uses"},
                     {"admission", "open|closed", "closed (default): only certified peers connect"},
                     {"initial-peer", "PEERID@HOST:PORT", "an entry point of the run", true},
                     {"model-config", "FILE", "the model config; its digest goes into the manifest"}});
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto out = flags.value("out");
  auto run_id = flags.value("run-id");
  if (!out || out->empty())
    return usage_error(name, "--out RUN_DIR is required");
  if (!run_id || run_id->empty())
    return usage_error(name, "--run-id ID is required");
  if (run_id->size() > wire::max_run_id_bytes)
    return usage_error(name, "--run-id is longer than " + std::to_string(wire::max_run_id_bytes) + " bytes");
  wire::run_manifest manifest;
  manifest.run_id = *run_id;
  auto admission = flags.value_or("admission", "closed");
  if (admission != "open" && admission != "closed")
    return usage_error(name, "--admission must be open or closed, got '" + admission + "'");
  manifest.admission = admission == "closed" ? wire::admission_mode::closed : wire::admission_mode::open;
  std::string error;
  for (const auto& peer : flags.values("initial-peer")) {
    if (!valid_peer_address(peer, error))
      return usage_error(name, error);
    manifest.initial_peers.push_back(peer);
  }
  if (auto config = flags.value("model-config")) {
    auto digest = file_digest(*config);
    if (!digest)
      return usage_error(name, describe(digest.error()));
    manifest.model_config_digest = *digest;
  }
  manifest.created_at = now_seconds();
  if (fs::exists(authority_key_path(*out)))
    return usage_error(name, authority_key_path(*out) + " exists: a run directory is made once "
                             "(its key signs every certificate of the run)");
  init_crypto();
  std::string seed(32, '\0');
  randombytes_buf(seed.data(), seed.size());
  auto authority = identity::from_seed(seed);
  manifest.authority_key = authority.public_key();
  auto signed_manifest = wire::sign_manifest(manifest, authority);
  if (!signed_manifest)
    return usage_error(name, describe(signed_manifest.error()));
  std::error_code ec;
  fs::create_directories(*out, ec);
  if (ec)
    return usage_error(name, "cannot create " + *out + ": " + ec.message());
  if (auto err = create_secret_file(authority_key_path(*out), seed))
    return usage_error(name, describe(err));
  sodium_memzero(seed.data(), seed.size());
  if (auto err = write_whole_file(manifest_path(*out), *signed_manifest)) {
    std::remove(authority_key_path(*out).c_str());
    return usage_error(name, describe(err));
  }
  std::printf("run '%s' (%s admission)\n", manifest.run_id.c_str(), to_string(manifest.admission));
  std::printf("authority key  %s\n", wire::to_hex(manifest.authority_key).c_str());
  std::printf("authority secret  %s (mode 0600; keep it offline)\n", authority_key_path(*out).c_str());
  std::printf("manifest  %s (every peer's profile: [run] manifest = FILE)\n", manifest_path(*out).c_str());
  return 0;
}

int admit_command(const args_t& args) {
  const char* name = "ttt run admit";
  flag_parser flags("ttt run admit --run RUN_DIR --peer-key PUBKEY_HEX --name NAME [options]\n"
                    "  issues a certificate of the run to one peer key (the volunteer runs\n"
                    "  `ttt identity --data-dir DIR` and sends the public key it prints)",
                    {{"run", "RUN_DIR", "the run directory (ttt run init)"},
                     {"peer-key", "PUBKEY_HEX", "the peer's Ed25519 public key, 64 hex digits"},
                     {"name", "NAME", "the volunteer's name, as the dashboard shows it"},
                     {"roles", "ROLE,...", "what the peer may be (default trainer)"},
                     {"days", "N", "how long the certificate is valid (default 30)"},
                     {"out", "FILE", "where to write it (default RUN_DIR/certificates/PEERID.cert)"}});
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto run_dir = flags.value("run");
  auto key_hex = flags.value("peer-key");
  auto peer_name = flags.value("name");
  if (!run_dir || !key_hex || !peer_name)
    return usage_error(name, "--run RUN_DIR, --peer-key PUBKEY_HEX and --name NAME are required");
  auto days = flags.integer("days", 30);
  if (!days)
    return usage_error(name, flags.error());
  if (*days < 1 || *days > 3650)
    return usage_error(name, "--days must be between 1 and 3650");
  if (peer_name->empty() || peer_name->size() > wire::max_name_bytes)
    return usage_error(name, "--name must be 1 to " + std::to_string(wire::max_name_bytes) + " bytes");
  for (unsigned char c : *peer_name)
    if (c < 0x20 || c == 0x7f)
      return usage_error(name, "--name must be printable text");
  std::string error;
  auto key = parse_public_key(*key_hex, error);
  if (!key)
    return usage_error(name, error);
  auto run = open_run_directory(*run_dir);
  if (!run)
    return usage_error(name, describe(run.error()));
  wire::certificate cert;
  cert.run_id = run->manifest.run_id;
  cert.peer_key = *key;
  cert.name = *peer_name;
  cert.roles = split_roles(flags.value_or("roles", "trainer"));
  cert.not_before = now_seconds();
  cert.not_after = cert.not_before + *days * 24 * 3600;
  std::random_device random;
  cert.serial = (static_cast<uint64_t>(random()) << 32) | random();
  auto bytes = wire::sign_certificate(cert, run->authority);
  if (!bytes)
    return usage_error(name, describe(bytes.error()));
  auto peer = peer_id_of(*key);
  std::string out = flags.value_or("out", *run_dir + "/certificates/" + peer.to_hex() + ".cert");
  std::error_code ec;
  if (auto parent = fs::path(out).parent_path(); !parent.empty())
    fs::create_directories(parent, ec);
  if (auto err = write_whole_file(out, *bytes))
    return usage_error(name, describe(err));
  std::printf("certificate %s\n  run '%s', peer %s, name '%s', roles %s\n  valid %s to %s, serial %llu\n",
              out.c_str(), cert.run_id.c_str(), peer.to_hex().c_str(), cert.name.c_str(),
              flags.value_or("roles", "trainer").c_str(), format_utc(cert.not_before).c_str(),
              format_utc(cert.not_after).c_str(), static_cast<unsigned long long>(cert.serial));
  return 0;
}

/// Stores `revocation_bytes` for `peer` in the run's DHT through
/// `initial_peers`, as a client that the authority certifies for an hour.
int publish_revocation(const run_directory& run, const node_id& peer, const std::string& revocation_bytes,
                       const std::vector<std::string>& initial_peers, const char* name) {
  client_node_options options;
  options.run_id = run.manifest.run_id;
  wire::certificate own;
  own.run_id = run.manifest.run_id;
  own.peer_key = options.self.public_key();
  own.name = "run authority";
  own.roles = {"authority"};
  own.not_before = now_seconds();
  own.not_after = own.not_before + publisher_certificate_seconds;
  own.serial = 0;
  auto own_bytes = wire::sign_certificate(own, run.authority);
  if (!own_bytes)
    return usage_error(name, describe(own_bytes.error()));
  options.certificate = *own_bytes;
  options.admission = std::make_shared<const wire::admission_policy>(run.manifest);
  dht::dht_record rec;
  rec.key = revocations_key(run.manifest.run_id);
  rec.subkey = peer.to_hex();
  rec.has_subkey = true;
  rec.value = revocation_bytes;
  rec.expiration = dht::wall_clock_seconds() + revocation_ttl;
  return with_client_node(options, initial_peers, name, [&](caf::scoped_actor& self, const dht::dht_actor& node) {
    int rc = 1;
    self->request(node, request_timeout, dht_store_atom_v, rec)
      .receive(
        [&](bool stored) {
          if (stored) {
            std::printf("published under %s[%s]\n", rec.key.c_str(), rec.subkey.c_str());
            rc = 0;
          } else {
            std::fprintf(stderr, "%s: no peer accepted the revocation\n", name);
          }
        },
        [&](caf::error& err) { std::fprintf(stderr, "%s: refused: %s\n", name, describe(err).c_str()); });
    return rc;
  });
}

int revoke_command(const args_t& args) {
  const char* name = "ttt run revoke";
  flag_parser flags("ttt run revoke --run RUN_DIR --peer-key PUBKEY_HEX [options]\n"
                    "  signs a revocation of every certificate of one peer key; with --initial-peer\n"
                    "  also publishes it in the run's DHT, where nodes pick it up and drop the peer",
                    {{"run", "RUN_DIR", "the run directory (ttt run init)"},
                     {"peer-key", "PUBKEY_HEX", "the revoked peer's Ed25519 public key, 64 hex digits"},
                     {"reason", "TEXT", "why, for the nodes' logs"},
                     {"out", "FILE", "where to write it (default RUN_DIR/revocations/PEERID.revocation)"},
                     {"initial-peer", "[PEERID@]HOST:PORT", "a peer of the run to publish through", true}});
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto run_dir = flags.value("run");
  auto key_hex = flags.value("peer-key");
  if (!run_dir || !key_hex)
    return usage_error(name, "--run RUN_DIR and --peer-key PUBKEY_HEX are required");
  auto reason = flags.value_or("reason", "");
  if (reason.size() > wire::max_reason_bytes)
    return usage_error(name, "--reason is longer than " + std::to_string(wire::max_reason_bytes) + " bytes");
  std::string error;
  auto key = parse_public_key(*key_hex, error);
  if (!key)
    return usage_error(name, error);
  std::vector<std::string> peers;
  for (const auto& p : flags.values("initial-peer")) {
    auto resolved = resolve_peer(p, error);
    if (!resolved)
      return usage_error(name, "initial peer " + error);
    peers.push_back(*resolved);
  }
  auto run = open_run_directory(*run_dir);
  if (!run)
    return usage_error(name, describe(run.error()));
  wire::revocation revoked;
  revoked.run_id = run->manifest.run_id;
  revoked.peer_key = *key;
  revoked.revoked_at = now_seconds();
  revoked.reason = reason;
  auto bytes = wire::sign_revocation(revoked, run->authority);
  if (!bytes)
    return usage_error(name, describe(bytes.error()));
  auto peer = peer_id_of(*key);
  std::string out = flags.value_or("out", *run_dir + "/revocations/" + peer.to_hex() + ".revocation");
  std::error_code ec;
  if (auto parent = fs::path(out).parent_path(); !parent.empty())
    fs::create_directories(parent, ec);
  if (auto err = write_whole_file(out, *bytes))
    return usage_error(name, describe(err));
  std::printf("revocation %s\n  run '%s', peer %s%s\n", out.c_str(), revoked.run_id.c_str(),
              peer.to_hex().c_str(), reason.empty() ? "" : (", reason: " + reason).c_str());
  if (peers.empty())
    return 0;
  return publish_revocation(*run, peer, *bytes, peers, name);
}

} // namespace

int run_command(const args_t& args) {
  if (!args.empty() && args[0] == "init")
    return init_command(args_t(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "admit")
    return admit_command(args_t(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "revoke")
    return revoke_command(args_t(args.begin() + 1, args.end()));
  bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
  std::fprintf(help ? stdout : stderr,
               "usage: ttt run init --out RUN_DIR --run-id ID [--admission open|closed] "
               "[--initial-peer PEERID@HOST:PORT ...] [--model-config FILE]\n"
               "       ttt run admit --run RUN_DIR --peer-key PUBKEY_HEX --name NAME [--roles trainer,aux] "
               "[--days N] [--out FILE]\n"
               "       ttt run revoke --run RUN_DIR --peer-key PUBKEY_HEX [--reason TEXT] [--out FILE] "
               "[--initial-peer ADDR ...]\n"
               "(ttt run init --help etc. for details)\n");
  return help ? 0 : 2;
}

int identity_command(const args_t& args) {
  const char* name = "ttt identity";
  flag_parser flags("ttt identity --data-dir DIR\n"
                    "  prints this node's public key (what the run's authority certifies) and peer id,\n"
                    "  creating the identity when DIR has none",
                    {{"data-dir", "DIR", "the node's data directory (as `ttt node --data-dir`)"}});
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto dir = flags.value("data-dir");
  if (!dir || dir->empty())
    return usage_error(name, "--data-dir DIR is required");
  std::error_code ec;
  fs::create_directories(*dir, ec);
  if (ec)
    return usage_error(name, "cannot create " + *dir + ": " + ec.message());
  auto me = identity::load_or_create(*dir);
  if (!me)
    return usage_error(name, describe(me.error()));
  std::printf("public key  %s\npeer id     %s\n", wire::to_hex(me->public_key()).c_str(), me->id().to_hex().c_str());
  return 0;
}

} // namespace ttt::apps
