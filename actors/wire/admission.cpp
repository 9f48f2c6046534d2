#include "actors/wire/admission.hpp"

#include "actors/common/capnp_io.hpp"
#include "actors/common/describe.hpp"
#include "schema/admission.capnp.h"

#include <capnp/message.h>
#include <sodium.h>

#include <cmath>

namespace ttt::wire {

namespace {

constexpr std::string_view manifest_label = "ttt-run-manifest/1\n";
constexpr std::string_view certificate_label = "ttt-run-certificate/1\n";
constexpr std::string_view revocation_label = "ttt-run-revocation/1\n";

/// Errors say what is wrong in words a person acts on; callers add where.
caf::error admission_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

capnp::Text::Reader as_text(const std::string& s) {
  return capnp::Text::Reader(s.data(), s.size());
}

std::string as_string(capnp::Text::Reader t) {
  return std::string(t.cStr(), t.size());
}

/// What is signed: the label, then the canonical encoding of `reader`, so
/// that the signature does not depend on how the writer laid out its message.
template <class Reader>
std::string signed_text(std::string_view label, Reader reader) {
  auto canonical = capnp::canonicalize(reader);
  auto bytes = canonical.asBytes();
  std::string out(label);
  out.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return out;
}

/// A field out of its bound; the caller says in which record.
caf::error field_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

caf::error check_bounded(std::string_view what, std::string_view value, size_t bound) {
  if (value.size() > bound)
    return field_error(std::string(what) + " of " + std::to_string(value.size()) + " bytes exceeds " +
                           std::to_string(bound));
  return {};
}

caf::error check_fields(const certificate& c) {
  if (c.run_id.empty())
    return field_error("a certificate needs a run id");
  if (auto err = check_bounded("run id", c.run_id, max_run_id_bytes))
    return err;
  if (c.peer_key.size() != public_key_size)
    return field_error("a certificate's peer key must be 32 bytes");
  if (auto err = check_bounded("name", c.name, max_name_bytes))
    return err;
  if (c.roles.size() > max_roles)
    return field_error("more than " + std::to_string(max_roles) + " roles");
  for (const auto& role : c.roles)
    if (auto err = check_bounded("role", role, max_role_bytes))
      return err;
  if (c.not_after < c.not_before)
    return field_error("a certificate that ends before it begins");
  return {};
}

caf::error check_fields(const revocation& r) {
  if (r.run_id.empty())
    return field_error("a revocation needs a run id");
  if (auto err = check_bounded("run id", r.run_id, max_run_id_bytes))
    return err;
  if (r.peer_key.size() != public_key_size)
    return field_error("a revocation's peer key must be 32 bytes");
  return check_bounded("reason", r.reason, max_reason_bytes);
}

caf::error check_fields(const run_manifest& m) {
  if (m.run_id.empty())
    return field_error("a manifest needs a run id");
  if (auto err = check_bounded("run id", m.run_id, max_run_id_bytes))
    return err;
  if (m.authority_key.size() != public_key_size)
    return field_error("the authority key must be 32 bytes");
  if (m.initial_peers.size() > max_initial_peers)
    return field_error("more than " + std::to_string(max_initial_peers) + " initial peers");
  return {};
}

caf::expected<std::string> bounded_bytes(capnp::MallocMessageBuilder& message, size_t bound, const char* what) {
  auto bytes = capnp_io::to_bytes(message);
  if (bytes.size() > bound)
    return admission_error(std::string("a signed ") + what + " of " + std::to_string(bytes.size()) +
                           " bytes exceeds the " + std::to_string(bound) + "-byte limit (shorter names or roles)");
  return bytes;
}

} // namespace

const char* to_string(admission_mode mode) {
  return mode == admission_mode::closed ? "closed" : "open";
}

// -- signing -------------------------------------------------------------------

caf::expected<std::string> sign_manifest(const run_manifest& manifest, const identity& authority) {
  if (auto err = check_fields(manifest))
    return admission_error(describe(err));
  if (manifest.authority_key != authority.public_key())
    return admission_error("the manifest names another authority key than the one signing it");
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::SignedRunManifest>();
  auto m = root.initManifest();
  m.setRunId(as_text(manifest.run_id));
  m.setAuthorityKey(capnp_io::as_data(manifest.authority_key));
  m.setModelConfigDigest(as_text(manifest.model_config_digest));
  auto peers = m.initInitialPeers(static_cast<unsigned>(manifest.initial_peers.size()));
  for (unsigned i = 0; i < peers.size(); ++i)
    peers.set(i, as_text(manifest.initial_peers[i]));
  m.setAdmission(manifest.admission == admission_mode::closed ? schema::Admission::CLOSED
                                                               : schema::Admission::OPEN);
  m.setCreatedAt(manifest.created_at);
  root.setSignature(capnp_io::as_data(authority.sign(signed_text(manifest_label, m.asReader()))));
  return bounded_bytes(message, max_manifest_bytes, "manifest");
}

caf::expected<std::string> sign_certificate(const certificate& cert, const identity& authority) {
  if (auto err = check_fields(cert))
    return admission_error(describe(err));
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::SignedCertificate>();
  auto c = root.initCertificate();
  c.setRunId(as_text(cert.run_id));
  c.setPeerKey(capnp_io::as_data(cert.peer_key));
  c.setName(as_text(cert.name));
  auto roles = c.initRoles(static_cast<unsigned>(cert.roles.size()));
  for (unsigned i = 0; i < roles.size(); ++i)
    roles.set(i, as_text(cert.roles[i]));
  c.setNotBefore(cert.not_before);
  c.setNotAfter(cert.not_after);
  c.setSerial(cert.serial);
  root.setSignature(capnp_io::as_data(authority.sign(signed_text(certificate_label, c.asReader()))));
  return bounded_bytes(message, max_certificate_bytes, "certificate");
}

caf::expected<std::string> sign_revocation(const revocation& revoked, const identity& authority) {
  if (auto err = check_fields(revoked))
    return admission_error(describe(err));
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::SignedRevocation>();
  auto r = root.initRevocation();
  r.setRunId(as_text(revoked.run_id));
  r.setPeerKey(capnp_io::as_data(revoked.peer_key));
  r.setRevokedAt(revoked.revoked_at);
  r.setReason(as_text(revoked.reason));
  root.setSignature(capnp_io::as_data(authority.sign(signed_text(revocation_label, r.asReader()))));
  return bounded_bytes(message, max_revocation_bytes, "revocation");
}

// -- reading -------------------------------------------------------------------

caf::expected<run_manifest> read_manifest(std::string_view bytes) {
  return capnp_io::read<schema::SignedRunManifest>(
    bytes, max_manifest_bytes, "run manifest",
    [](schema::SignedRunManifest::Reader root) -> caf::expected<run_manifest> {
      if (!root.hasManifest())
        return admission_error("a run manifest without its contents");
      auto m = root.getManifest();
      run_manifest out;
      out.run_id = as_string(m.getRunId());
      out.authority_key = std::string(capnp_io::as_view(m.getAuthorityKey()));
      out.model_config_digest = as_string(m.getModelConfigDigest());
      auto peers = m.getInitialPeers();
      if (peers.size() > max_initial_peers)
        return admission_error("a run manifest with more than " + std::to_string(max_initial_peers) +
                               " initial peers");
      for (auto p : peers)
        out.initial_peers.push_back(as_string(p));
      out.admission = m.getAdmission() == schema::Admission::CLOSED ? admission_mode::closed
                                                                     : admission_mode::open;
      out.created_at = m.getCreatedAt();
      if (auto err = check_fields(out))
        return admission_error("malformed run manifest: " + describe(err));
      if (!verify_signature(out.authority_key, signed_text(manifest_label, m),
                            capnp_io::as_view(root.getSignature())))
        return admission_error("the run manifest is not signed by the authority key it names");
      return out;
    });
}

caf::expected<certificate> read_certificate(std::string_view bytes, const run_manifest& run) {
  return capnp_io::read<schema::SignedCertificate>(
    bytes, max_certificate_bytes, "certificate",
    [&run](schema::SignedCertificate::Reader root) -> caf::expected<certificate> {
      if (!root.hasCertificate())
        return admission_error("a certificate without its contents");
      auto c = root.getCertificate();
      certificate out;
      out.run_id = as_string(c.getRunId());
      out.peer_key = std::string(capnp_io::as_view(c.getPeerKey()));
      out.name = as_string(c.getName());
      auto roles = c.getRoles();
      if (roles.size() > max_roles)
        return admission_error("a certificate with more than " + std::to_string(max_roles) + " roles");
      for (auto r : roles)
        out.roles.push_back(as_string(r));
      out.not_before = c.getNotBefore();
      out.not_after = c.getNotAfter();
      out.serial = c.getSerial();
      if (auto err = check_fields(out))
        return admission_error("malformed certificate: " + describe(err));
      if (out.run_id != run.run_id)
        return admission_error("the certificate is for run '" + out.run_id + "', not '" + run.run_id + "'");
      if (!verify_signature(run.authority_key, signed_text(certificate_label, c),
                            capnp_io::as_view(root.getSignature())))
        return admission_error("the certificate is not signed by the run's authority");
      return out;
    });
}

caf::expected<revocation> read_revocation(std::string_view bytes, const run_manifest& run) {
  return capnp_io::read<schema::SignedRevocation>(
    bytes, max_revocation_bytes, "revocation",
    [&run](schema::SignedRevocation::Reader root) -> caf::expected<revocation> {
      if (!root.hasRevocation())
        return admission_error("a revocation without its contents");
      auto r = root.getRevocation();
      revocation out;
      out.run_id = as_string(r.getRunId());
      out.peer_key = std::string(capnp_io::as_view(r.getPeerKey()));
      out.revoked_at = r.getRevokedAt();
      out.reason = as_string(r.getReason());
      if (auto err = check_fields(out))
        return admission_error("malformed revocation: " + describe(err));
      if (out.run_id != run.run_id)
        return admission_error("the revocation is for run '" + out.run_id + "', not '" + run.run_id + "'");
      if (!verify_signature(run.authority_key, signed_text(revocation_label, r),
                            capnp_io::as_view(root.getSignature())))
        return admission_error("the revocation is not signed by the run's authority");
      return out;
    });
}

// -- verifying a peer ----------------------------------------------------------

caf::expected<certificate> verify_certificate(std::string_view bytes, const run_manifest& run,
                                              std::string_view peer_key, double now,
                                              const revoked_keys& revoked) {
  if (bytes.empty())
    return admission_error("no certificate");
  auto cert = read_certificate(bytes, run);
  if (!cert)
    return cert.error();
  if (cert->peer_key != peer_key)
    return admission_error("the certificate (serial " + std::to_string(cert->serial) +
                           ") is for another key than the one proved in the handshake");
  if (revoked.count(cert->peer_key))
    return admission_error("the key is revoked (certificate serial " + std::to_string(cert->serial) + ")");
  if (!(now + admission_clock_skew >= static_cast<double>(cert->not_before)))
    return admission_error("the certificate (serial " + std::to_string(cert->serial) + ") is not yet valid");
  if (!(now <= static_cast<double>(cert->not_after)))
    return admission_error("the certificate (serial " + std::to_string(cert->serial) + ") expired");
  return cert;
}

caf::error check_certificate(std::string_view bytes, const run_manifest& run, std::string_view peer_key,
                             double now, const revoked_keys& revoked) {
  auto cert = verify_certificate(bytes, run, peer_key, now, revoked);
  return cert ? caf::error{} : cert.error();
}

admission_policy::admission_policy(run_manifest manifest, revoked_keys revoked)
  : manifest_(std::move(manifest)), revoked_(std::move(revoked)) {
}

bool admission_policy::is_revoked(std::string_view peer_key) const {
  return revoked_.count(std::string(peer_key)) > 0;
}

admission_policy admission_policy::with_revoked(const std::string& peer_key) const {
  auto out = *this;
  out.revoked_.insert(peer_key);
  return out;
}

caf::expected<std::optional<certificate>> admission_policy::admit(std::string_view peer_key,
                                                                  std::string_view certificate_bytes,
                                                                  double now) const {
  auto cert = verify_certificate(certificate_bytes, manifest_, peer_key, now, revoked_);
  if (cert)
    return std::optional<certificate>(std::move(*cert));
  if (!closed())
    return std::optional<certificate>();
  return admission_error("run '" + manifest_.run_id + "' is closed: no valid certificate (" +
                         describe(cert.error()) + ")");
}

std::string model_config_digest(std::string_view config_bytes) {
  std::string digest(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(digest.data()), digest.size(),
                     reinterpret_cast<const unsigned char*>(config_bytes.data()), config_bytes.size(), nullptr, 0);
  return to_hex(digest);
}

} // namespace ttt::wire
