// The seeder's shell: lists its files once, answers data requests with the
// pure shard_server, and keeps its listing published in the DHT.

#include "actors/seeder/seeder.hpp"

#include "actors/common/describe.hpp"
#include "actors/seeder/listing.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdio>
#include <optional>

namespace ttt::seeder {

namespace {

constexpr auto store_timeout = std::chrono::seconds(30);
constexpr auto retry_after_failed_store = std::chrono::seconds(5);

struct seeder_state {
  seeder_config cfg;
  std::optional<shard_server> server;
  std::string failure;       ///< why the files could not be listed; empty when they were
  bool published = false;    ///< the listing was stored at least once (said in the log once)
  bool store_failed = false; ///< a failed store was said in the log since the last success
  static inline const char* name = "seeder";

  void log(const std::string& line) const {
    if (cfg.log)
      cfg.log(line);
  }
};

using seeder_pointer = seeder_actor::stateful_pointer<seeder_state>;

std::string megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

/// Lists the files (hashing every one); false when there is nothing to serve.
bool list_files(seeder_pointer self) {
  auto& st = self->state;
  std::vector<std::string> skipped;
  auto started = std::chrono::steady_clock::now();
  auto files = scan_shards(st.cfg.dir, skipped);
  for (const auto& name : skipped)
    st.log("seeder: not serving '" + name +
           "': not a name the wire carries (A-Z a-z 0-9 . _ -, at most 128)");
  if (!files) {
    st.failure = describe(files.error());
    st.log(st.failure);
    return false;
  }
  if (files->empty()) {
    st.failure = "seeder: no data files in " + st.cfg.dir;
    st.log(st.failure + " (train-*.shard, valid-*.shard, tokenizer.model, codebook.safetensors, "
                        "image_coder.json, *.ini)");
    return false;
  }
  uint64_t total = 0;
  for (const auto& f : *files)
    total += f.entry.size;
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  st.log("seeder: serving " + std::to_string(files->size()) + " files (" + megabytes(total) +
         ") of run '" + st.cfg.run_id + "' from " + st.cfg.dir + " (hashed in " +
         std::to_string(static_cast<int>(seconds)) + " s)");
  st.server.emplace(std::move(*files), st.cfg.tamper);
  return true;
}

void publish(seeder_pointer self) {
  auto& st = self->state;
  shard_listing listing{st.cfg.self.id(), st.cfg.host, st.cfg.port, st.server->listing()};
  auto record =
      listing_record(st.cfg.self, st.cfg.run_id, listing, st.cfg.clock() + st.cfg.listing_lifetime);
  auto again = std::chrono::duration_cast<caf::timespan>(
      std::chrono::duration<double>(st.cfg.listing_lifetime / 3));
  self->request(st.cfg.dht, store_timeout, dht_store_atom_v, std::move(record))
      .then(
          [self, again](bool stored) {
            auto& st = self->state;
            if (stored && !st.published)
              st.log("seeder: listed under " + shards_key(st.cfg.run_id) + " in the DHT");
            if (!stored && !st.store_failed)
              st.log("seeder: no DHT peer took the listing yet; trying again every few seconds");
            st.published = st.published || stored;
            st.store_failed = !stored;
            self->delayed_send(self, stored ? again : retry_after_failed_store,
                               seed_publish_atom_v);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            if (!st.store_failed)
              st.log("seeder: cannot publish the listing (trying again every few seconds): " +
                     describe(err));
            st.store_failed = true;
            self->delayed_send(self, retry_after_failed_store, seed_publish_atom_v);
          });
}

seeder_actor::behavior_type seeder_impl(seeder_pointer self, seeder_config cfg) {
  self->state.cfg = std::move(cfg);
  // First in the mailbox: requests that come before the files are listed
  // wait behind it.
  self->send(self, seed_publish_atom_v);
  return {
      [self](data_rpc_atom, const std::string&, const std::string& request) -> std::string {
        auto& st = self->state;
        if (!st.server)
          return wire::data_error_response(st.failure.empty() ? "the seeder is not ready"
                                                              : st.failure);
        return st.server->answer(request);
      },
      [self](seed_publish_atom) {
        auto& st = self->state;
        if (!st.server && (!st.failure.empty() || !list_files(self)))
          return;
        publish(self);
      },
  };
}

} // namespace

seeder_actor spawn_seeder(caf::actor_system& sys, seeder_config config) {
  return sys.spawn<caf::detached>(seeder_impl, std::move(config));
}

} // namespace ttt::seeder
