#pragma once
// Run admission: who may join a run, decided without a central server.
//
// A run's authority is an Ed25519 key pair kept offline by whoever runs the
// run (`ttt run init`). It signs three kinds of record:
//  - the run manifest: the run id, the authority's own public key, the model
//    config's digest, the initial peers, and whether admission is open or
//    closed;
//  - certificates (`ttt run admit`): one peer key, the volunteer's name and
//    roles, a validity window;
//  - revocations (`ttt run revoke`): one peer key withdrawn from the run,
//    published in the DHT under "revoked.<run id>".
// Each signature covers a per-kind label and the record's canonical Cap'n
// Proto encoding (schema/admission.capnp), so no record passes as another.
//
// A node given a manifest runs an admission_policy in every handshake
// (actors/wire/session.hpp): in a closed run a peer without a valid,
// unexpired, unrevoked certificate for the key it proved is refused before
// any frame; in an open run certificates only name peers. Everything here is
// pure: time comes in as an argument, bytes in and out.

#include "actors/common/identity.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::wire {

enum class admission_mode : uint8_t { open, closed };

/// "open" / "closed".
const char* to_string(admission_mode mode);

/// What a run is and who speaks for it.
struct run_manifest {
  std::string run_id;
  std::string authority_key; ///< 32 raw bytes of Ed25519 public key
  std::string model_config_digest; ///< hex; empty when none
  std::vector<std::string> initial_peers; ///< PEERID@HOST:PORT
  admission_mode admission = admission_mode::open;
  int64_t created_at = 0; ///< Unix seconds
};

/// The authority's word that `peer_key` belongs to run `run_id`.
struct certificate {
  std::string run_id;
  std::string peer_key; ///< 32 raw bytes
  std::string name;
  std::vector<std::string> roles;
  int64_t not_before = 0; ///< Unix seconds
  int64_t not_after = 0;  ///< Unix seconds
  uint64_t serial = 0;
};

/// Withdraws every certificate of `peer_key` in `run_id`.
struct revocation {
  std::string run_id;
  std::string peer_key; ///< 32 raw bytes
  int64_t revoked_at = 0; ///< Unix seconds
  std::string reason;
};

/// Bounds on what is signed and what is read back. A certificate travels in
/// the handshake payload, whose handshake message is at most 1024 bytes.
constexpr size_t max_manifest_bytes = 64 * 1024;
constexpr size_t max_certificate_bytes = 640;
constexpr size_t max_revocation_bytes = 1024;
constexpr size_t max_run_id_bytes = 64;
constexpr size_t max_name_bytes = 64;
constexpr size_t max_roles = 4;
constexpr size_t max_role_bytes = 24;
constexpr size_t max_reason_bytes = 256;
constexpr size_t max_initial_peers = 64;
/// A certificate's not-before may be this far in a verifier's future: the
/// authority's clock may run ahead of the peer's.
constexpr double admission_clock_skew = 300;

/// The signed bytes of each record (a file, a DHT value, a handshake field).
/// An error when a field exceeds its bound or, for certificates and
/// revocations, nothing is signed by a key of the wrong size.
caf::expected<std::string> sign_manifest(const run_manifest& manifest, const identity& authority);
caf::expected<std::string> sign_certificate(const certificate& cert, const identity& authority);
caf::expected<std::string> sign_revocation(const revocation& revoked, const identity& authority);

/// Decodes a signed manifest and checks that the authority key it names
/// signed it (whoever holds the file learns the authority from it).
caf::expected<run_manifest> read_manifest(std::string_view bytes);

/// A manifest's model_config_digest of a model config file's bytes: hex
/// BLAKE2b-256 of them.
std::string model_config_digest(std::string_view config_bytes);

/// Decodes a signed certificate and checks that it is for `run` and signed
/// by its authority; nothing about the peer or the time.
caf::expected<certificate> read_certificate(std::string_view bytes, const run_manifest& run);

/// Decodes a signed revocation and checks that it is for `run` and signed
/// by its authority.
caf::expected<revocation> read_revocation(std::string_view bytes, const run_manifest& run);

/// Ed25519 public keys (32 raw bytes) whose certificates are withdrawn.
using revoked_keys = std::set<std::string>;

/// Everything a verifier checks of a certificate a peer presents for the
/// key it proved: well-formed, of this run, signed by its authority, for
/// `peer_key`, not revoked, valid at `now` (Unix seconds). The certificate
/// or an error saying which check failed.
caf::expected<certificate> verify_certificate(std::string_view bytes, const run_manifest& run,
                                              std::string_view peer_key, double now,
                                              const revoked_keys& revoked);

/// verify_certificate without the certificate: none when it passes.
caf::error check_certificate(std::string_view bytes, const run_manifest& run, std::string_view peer_key,
                             double now, const revoked_keys& revoked);

/// How a node admits the peers of its run: the manifest and what has been
/// revoked so far. Value type; the wire shares one immutable copy among its
/// handshakes and makes a new one when a revocation arrives.
class admission_policy {
public:
  explicit admission_policy(run_manifest manifest, revoked_keys revoked = {});

  const run_manifest& manifest() const { return manifest_; }
  bool closed() const { return manifest_.admission == admission_mode::closed; }
  const revoked_keys& revoked() const { return revoked_; }
  bool is_revoked(std::string_view peer_key) const;

  /// This policy with `peer_key` revoked as well.
  admission_policy with_revoked(const std::string& peer_key) const;

  /// Decides on a peer that proved `peer_key` and presented
  /// `certificate_bytes` (empty: none) at `now`. Closed run: an error unless
  /// the certificate verifies. Open run: never an error; the certificate
  /// when it verifies (its name is then the peer's), else nullopt.
  caf::expected<std::optional<certificate>> admit(std::string_view peer_key,
                                                  std::string_view certificate_bytes, double now) const;

private:
  run_manifest manifest_;
  revoked_keys revoked_;
};

using ttt::from_hex; // actors/common/node_id.hpp
using ttt::to_hex;

} // namespace ttt::wire
