#pragma once
// A run's admission files as the `ttt` commands use them: reading a run
// manifest, a certificate, the authority key; a node's admission set up
// from its profile; and the poller that brings the authority's revocations
// from the DHT to the wire. The rules themselves are in
// actors/wire/admission.hpp; this is wiring.

#include "actors/common/identity.hpp"
#include "actors/dht/interface.hpp"
#include "actors/wire/admission.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace ttt::apps {

/// The DHT key of a run's revocations; each is the entry whose subkey is
/// the revoked peer's id (40 hex digits).
std::string revocations_key(const std::string& run_id);

/// A whole file of at most `max_bytes`; the error names the file.
caf::expected<std::string> read_whole_file(const std::string& path, size_t max_bytes);

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half of it; `mode` is the file's permission bits.
caf::error write_whole_file(const std::string& path, const std::string& bytes, unsigned mode = 0644);

/// The signed manifest in `path`, verified against the authority it names.
caf::expected<wire::run_manifest> load_manifest(const std::string& path);

/// A run directory's authority (RUN_DIR/authority.key) with its manifest
/// (RUN_DIR/run.manifest); an error when either is missing or they do not
/// belong together.
struct run_directory {
  std::string path;
  identity authority;
  wire::run_manifest manifest;
};
caf::expected<run_directory> open_run_directory(const std::string& path);

/// "YYYY-MM-DD HH:MM:SS UTC".
std::string format_utc(int64_t unix_seconds);

/// File names inside a run directory.
std::string authority_key_path(const std::string& run_dir);
std::string manifest_path(const std::string& run_dir);

/// What a node runs with: the policy every handshake applies and the
/// certificate it shows. Empty (no policy) when the profile names no
/// manifest.
struct node_admission {
  std::shared_ptr<const wire::admission_policy> policy;
  std::string certificate;                 ///< SignedCertificate bytes; empty: none
  std::optional<wire::certificate> own;    ///< its contents, verified
};

/// Reads [run] manifest and certificate for the node `self` at `now`.
/// `run_id` is the profile's [run] run_id: filled in from the manifest when
/// empty, an error when it differs. A closed run without a valid
/// certificate of this node's own is an error (the node would be refused by
/// every peer), as is a certificate that does not verify or one without a
/// manifest.
caf::expected<node_admission> load_node_admission(const std::string& manifest_file,
                                                  const std::string& certificate_file, std::string& run_id,
                                                  const identity& self, double now);

/// Every `interval`, reads "revoked.<run id>" from `dht` and hands each
/// entry to `wire` (wire_revoke_atom), which keeps those the run's
/// authority signed. Logs each new revocation once.
caf::actor spawn_revocation_poller(caf::actor_system& sys, dht::dht_actor dht, caf::actor wire,
                                   std::string run_id, caf::timespan interval,
                                   std::function<void(const std::string&)> log);

} // namespace ttt::apps
