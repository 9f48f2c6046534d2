#include "apps/run_admission.hpp"

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sys/stat.h>

namespace ttt::apps {

namespace {

caf::error file_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

constexpr size_t authority_seed_bytes = 32;

} // namespace

std::string format_utc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string revocations_key(const std::string& run_id) {
  return "revoked." + run_id;
}

std::string authority_key_path(const std::string& run_dir) {
  return run_dir + "/authority.key";
}

std::string manifest_path(const std::string& run_dir) {
  return run_dir + "/run.manifest";
}

caf::expected<std::string> read_whole_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return file_error("cannot read " + path + " (no such file or not readable)");
  std::string bytes;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    bytes.append(buf, static_cast<size_t>(in.gcount()));
    if (bytes.size() > max_bytes)
      return file_error(path + " is larger than " + std::to_string(max_bytes) + " bytes: not a ttt run file");
  }
  if (in.bad())
    return file_error("cannot read " + path);
  return bytes;
}

caf::error write_whole_file(const std::string& path, const std::string& bytes, unsigned mode) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out)
      return file_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  ::chmod(tmp.c_str(), mode);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    auto why = std::string(std::strerror(errno));
    std::remove(tmp.c_str());
    return file_error("cannot write " + path + ": " + why);
  }
  return {};
}

caf::expected<wire::run_manifest> load_manifest(const std::string& path) {
  auto bytes = read_whole_file(path, wire::max_manifest_bytes);
  if (!bytes)
    return bytes.error();
  auto manifest = wire::read_manifest(*bytes);
  if (!manifest)
    return file_error(path + ": not a valid run manifest: " + describe(manifest.error()));
  return manifest;
}

caf::expected<run_directory> open_run_directory(const std::string& path) {
  auto manifest = load_manifest(manifest_path(path));
  if (!manifest)
    return manifest.error();
  auto seed = read_whole_file(authority_key_path(path), 1024);
  if (!seed)
    return seed.error();
  if (seed->size() != authority_seed_bytes)
    return file_error(authority_key_path(path) + ": expected " + std::to_string(authority_seed_bytes) +
                      " bytes of authority key, found " + std::to_string(seed->size()));
  auto authority = identity::from_seed(*seed);
  if (authority.public_key() != manifest->authority_key)
    return file_error(authority_key_path(path) + " is not the authority of " + manifest_path(path));
  return run_directory{path, std::move(authority), std::move(*manifest)};
}

caf::expected<node_admission> load_node_admission(const std::string& manifest_file,
                                                  const std::string& certificate_file, std::string& run_id,
                                                  const identity& self, double now) {
  node_admission out;
  if (manifest_file.empty()) {
    if (!certificate_file.empty())
      return file_error("[run] certificate needs [run] manifest: a certificate means something only in its run");
    return out;
  }
  auto manifest = load_manifest(manifest_file);
  if (!manifest)
    return manifest.error();
  if (run_id.empty())
    run_id = manifest->run_id;
  else if (run_id != manifest->run_id)
    return file_error("[run] run_id is '" + run_id + "' but the manifest " + manifest_file + " is of run '" +
                      manifest->run_id + "'");
  if (!certificate_file.empty()) {
    auto bytes = read_whole_file(certificate_file, wire::max_certificate_bytes);
    if (!bytes)
      return bytes.error();
    auto cert = wire::verify_certificate(*bytes, *manifest, self.public_key(), now, {});
    if (!cert)
      return file_error(certificate_file + " does not admit this node (peer id " + self.id().to_hex() +
                        ") to run '" + manifest->run_id + "': " + describe(cert.error()));
    out.certificate = std::move(*bytes);
    out.own = std::move(*cert);
  } else if (manifest->admission == wire::admission_mode::closed) {
    return file_error("run '" + manifest->run_id + "' is closed and this node has no certificate: " +
                      "send its public key (`ttt identity --data-dir DIR`) to the run's authority and set "
                      "[run] certificate = FILE to what it issues");
  }
  out.policy = std::make_shared<const wire::admission_policy>(std::move(*manifest));
  return out;
}

// -- the revocation poller -------------------------------------------------------

namespace {

struct poller_state {
  /// Values handed to the wire already (accepted or refused): asked again
  /// only after a restart. Bounded: forgotten wholesale past the cap.
  std::set<std::string> seen;
  static inline const char* name = "revocation_poller";
};

constexpr size_t max_seen_revocations = 4096;
constexpr auto poll_timeout = std::chrono::seconds(60);

caf::behavior poller_impl(caf::stateful_actor<poller_state>* self, dht::dht_actor dht, caf::actor wire,
                          std::string run_id, caf::timespan interval,
                          std::function<void(const std::string&)> log) {
  self->delayed_send(self, interval, revoke_poll_atom_v);
  return {
    [=](revoke_poll_atom) {
      self->request(dht, poll_timeout, dht_get_atom_v, revocations_key(run_id), true)
        .then(
          [=](dht::dht_records& found) {
            auto& seen = self->state.seen;
            if (seen.size() > max_seen_revocations)
              seen.clear();
            for (auto& record : found) {
              if (!seen.insert(record.value).second)
                continue;
              self->request(wire, poll_timeout, wire_revoke_atom_v, record.value)
                .then([](bool) {},
                      [=](caf::error& err) {
                        if (log)
                          log("revocations: an entry of " + revocations_key(run_id) + " refused: " + describe(err));
                      });
            }
            self->delayed_send(self, interval, revoke_poll_atom_v);
          },
          [=](caf::error&) { self->delayed_send(self, interval, revoke_poll_atom_v); });
    },
  };
}

} // namespace

caf::actor spawn_revocation_poller(caf::actor_system& sys, dht::dht_actor dht, caf::actor wire,
                                   std::string run_id, caf::timespan interval,
                                   std::function<void(const std::string&)> log) {
  return sys.spawn(poller_impl, std::move(dht), std::move(wire), std::move(run_id), interval, std::move(log));
}

} // namespace ttt::apps
