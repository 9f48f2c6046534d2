#include "actors/dht/dht_node.hpp"

#include "actors/dht/lookup.hpp"
#include "actors/dht/protocol.hpp"
#include "actors/dht/record_store.hpp"
#include "actors/dht/routing_table.hpp"
#include "actors/common/capnp_io.hpp"
#include "schema/dht.capnp.h"
#include "storage/database.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <unordered_set>

namespace ttt::dht {

double wall_clock_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

namespace {

// -- persistence --------------------------------------------------------------

/// RocksDB key of a record: its key id, then 0 (plain) or 1 + subkey.
std::string storage_key(const node_id& key_id, const dht_record& rec) {
  std::string k(key_id.raw());
  if (rec.has_subkey) {
    k += '\x01';
    k += rec.subkey;
  } else {
    k += '\x00';
  }
  return k;
}

class database_sink : public record_sink {
public:
  database_sink(storage::database* db, std::function<void(const std::string&)> log)
    : db_(db), log_(std::move(log)) {}

  void saved(const node_id& key_id, const dht_record& rec) override {
    if (auto err = db_->put(storage::column::dht_records, storage_key(key_id, rec), encode(rec)))
      log_("cannot persist a record: " + describe(err));
  }
  void erased(const node_id& key_id, const dht_record& rec) override {
    if (auto err = db_->erase(storage::column::dht_records, storage_key(key_id, rec)))
      log_("cannot erase a record: " + describe(err));
  }

private:
  storage::database* db_;
  std::function<void(const std::string&)> log_;
};

std::string encode_known_peer(const peer_info& p, double last_seen) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::KnownPeer>();
  auto node = root.initNode();
  node.setId(capnp_io::as_data(p.id.raw()));
  node.setHost(p.host);
  node.setPort(p.port);
  node.setPublicKey(capnp_io::as_data(p.public_key));
  root.setLastSeen(last_seen);
  return capnp_io::to_bytes(message);
}

/// A saved peer and when it was last seen.
caf::expected<std::pair<peer_info, double>> decode_known_peer(std::string_view bytes) {
  return capnp_io::read<schema::KnownPeer>(
    bytes, 4096, "known peer",
    [](schema::KnownPeer::Reader r) -> caf::expected<std::pair<peer_info, double>> {
      auto node = r.getNode();
      auto id = node_id::from_bytes(capnp_io::as_view(node.getId()));
      if (!id)
        return protocol_error("known peer: id must be 20 bytes");
      peer_info p{*id, node.getHost().cStr(), node.getPort(),
                  std::string(capnp_io::as_view(node.getPublicKey()))};
      return std::make_pair(std::move(p), r.getLastSeen());
    });
}

// -- the actor ---------------------------------------------------------------

struct node_state;
using node_actor = dht_actor::stateful_pointer<node_state>;
using response_callback = std::function<void(caf::expected<dht_response>)>;

struct node_state {
  static inline const char* name = "dht_node";

  dht_config cfg;
  peer_info me;
  std::unique_ptr<database_sink> sink;
  std::unique_ptr<routing_table> table;
  std::unique_ptr<record_store> storage; ///< records this node is a replica of (persisted)
  record_store cache;                    ///< values found or cached here (memory only)
  std::mt19937_64 rng;
  /// Senders being checked with a ping before they enter the routing table.
  std::unordered_set<node_id> verifying;
  std::vector<std::string> saved_peers; ///< "PEERID@HOST:PORT" of the peers loaded from the database

  double now() const { return cfg.clock(); }

  void log(const std::string& line) const {
    if (cfg.log)
      cfg.log(line);
  }

  /// Counts one event in this node's Prometheus figures.
  void count(const char* metric, const char* kind) const {
    if (cfg.metrics)
      cfg.metrics->add(metric, 1, kind[0] ? prometheus_label("kind", kind) : std::string());
  }

  ~node_state() {
    save_routing();
  }

  /// Writes the routing table's peers to the database, newest first, and
  /// keeps only the most recently seen 2k there. Peers that stopped answering
  /// stay until pushed out: after a whole swarm restarts, yesterday's dead
  /// peers are exactly the ones to try.
  void save_routing() {
    if (!cfg.db || !table)
      return;
    double t = now();
    for (const auto& p : table->all())
      remember(p, t);
    std::vector<std::pair<double, std::string>> rows;
    auto err = cfg.db->for_each(storage::column::routing, [&](std::string_view k, std::string_view v) {
      auto known = decode_known_peer(v);
      rows.emplace_back(known ? known->second : 0, std::string(k));
      return true;
    });
    if (err)
      log("cannot read known peers: " + describe(err));
    size_t keep = 2 * cfg.bucket_size;
    if (rows.size() > keep) {
      std::sort(rows.begin(), rows.end(), std::greater<>());
      for (size_t i = keep; i < rows.size(); ++i)
        (void)cfg.db->erase(storage::column::routing, rows[i].second);
    }
    if (auto flushed = cfg.db->flush())
      log("cannot flush the database: " + describe(flushed));
  }

  /// A peer entered the routing table: saved at once, so that even a
  /// SIGKILLed node rejoins from its last known peers.
  void remember(const peer_info& p, double seen) {
    if (cfg.db)
      if (auto err = cfg.db->put(storage::column::routing, p.id.raw(), encode_known_peer(p, seen)))
        log("cannot save a known peer: " + describe(err));
  }

  /// A peer stopped answering: out of the routing table (its row stays in
  /// the database until newer peers push it out).
  void forget(const node_id& id) {
    table->on_failure(id);
  }

  dht_request make_request(request_kind kind) const {
    dht_request req;
    req.sender = me;
    req.client_mode = cfg.client_mode;
    req.kind = kind;
    return req;
  }
};

/// Sends `req` to the peer at `address` and hands its decoded answer to `done`.
/// `expected_id`, when known, must be the responder's id.
void call(node_actor self, const std::string& address, std::optional<node_id> expected_id,
          const dht_request& req, response_callback done) {
  auto& st = self->state;
  std::string expected = expected_id ? std::string(expected_id->raw()) : std::string();
  self->request(st.cfg.transport, st.cfg.rpc_timeout, dht_call_atom_v, address, expected, encode(req))
    .then(
      [expected_id, done](std::string& proven_key, std::string& reply) {
        auto resp = decode_response(reply);
        if (!resp) {
          done(resp.error());
          return;
        }
        // The wire proved who answered; the response must name that peer.
        if (resp->responder.public_key != proven_key ||
            peer_id_of(resp->responder.public_key) != resp->responder.id) {
          done(protocol_error("the responder is not the peer that answered"));
          return;
        }
        if (expected_id && resp->responder.id != *expected_id) {
          done(protocol_error("a different peer answered at this address"));
          return;
        }
        if (!resp->error.empty()) {
          done(protocol_error("peer refused the request: " + resp->error));
          return;
        }
        done(std::move(*resp));
      },
      [done](caf::error& err) { done(err); });
}

void on_peer_seen(node_actor self, const peer_info& peer, bool address_checked);

/// `responder` as reached at `dialled`: the address a peer answered at is
/// the one to keep, not the one it advertises (which nobody checked).
peer_info answered_at(peer_info responder, const std::string& host, uint16_t port) {
  responder.host = host;
  responder.port = port;
  return responder;
}

/// Pings `peer`; on an answer it is seen (at the address pinged, now
/// checked), on silence it is dropped.
void ping(node_actor self, const peer_info& peer) {
  auto req = self->state.make_request(request_kind::ping);
  call(self, peer.address(), peer.id, req, [self, peer](caf::expected<dht_response> resp) {
    self->state.verifying.erase(peer.id);
    if (resp) {
      on_peer_seen(self, answered_at(resp->responder, peer.host, peer.port), true);
    } else if (!self->state.table->moved(peer)) {
      self->state.forget(peer.id); // a silent new address does not evict the known one
    }
  });
}

void on_peer_seen(node_actor self, const peer_info& peer, bool address_checked) {
  auto& st = self->state;
  bool known = st.table->contains(peer.id);
  if (auto stale = st.table->on_seen(peer, st.now(), address_checked)) {
    // The bucket is full: keep its oldest entry only if it still answers.
    if (st.verifying.insert(stale->id).second)
      ping(self, *stale);
  }
  if (!known && st.table->contains(peer.id)) {
    st.remember(peer, st.now());
    st.log("peer " + peer.id.to_hex().substr(0, 12) + " at " + peer.address() + " joined the routing table");
    if (st.cfg.metrics)
      st.cfg.metrics->set("ttt_node_dht_routing_peers", static_cast<double>(st.table->size()));
  }
}

/// A request arrived from `sender`: a server-mode sender we do not know yet is
/// pinged at its advertised address first, so that nobody can plant an
/// address it cannot answer at.
void on_request_from(node_actor self, const dht_request& req) {
  auto& st = self->state;
  if (req.client_mode || !req.sender.reachable() || req.sender.id == st.me.id)
    return;
  if (st.table->contains(req.sender.id) && !st.table->moved(req.sender)) {
    on_peer_seen(self, req.sender, false);
    return;
  }
  // New, or known at another address: the address is checked before use.
  if (st.verifying.insert(req.sender.id).second)
    ping(self, req.sender);
}

struct lookup_job {
  lookup search;
  std::function<void(lookup&)> on_done;
  bool finished = false;
  size_t invalid_records = 0;
};

/// Drives `job` until it is done, then calls its on_done once.
void step(node_actor self, std::shared_ptr<lookup_job> job) {
  if (job->finished)
    return;
  if (job->search.done()) {
    job->finished = true;
    job->on_done(job->search);
    return;
  }
  for (const auto& peer : job->search.next_queries()) {
    auto req = self->state.make_request(request_kind::find);
    req.key_ids.push_back(job->search.target());
    call(self, peer.address(), peer.id, req, [self, job, peer](caf::expected<dht_response> resp) {
      auto& st = self->state;
      if (!resp || resp->kind != request_kind::find || resp->found.size() != 1) {
        job->search.on_failure(peer.id);
        st.forget(peer.id);
      } else {
        on_peer_seen(self, answered_at(resp->responder, peer.host, peer.port), true);
        auto& result = resp->found.front();
        // A peer's records are checked like any stored record: a forged or
        // malformed value never reaches the caller.
        std::vector<dht_record> valid;
        for (auto& rec : result.records) {
          if (st.cfg.rules.validate(rec, st.now()))
            ++job->invalid_records;
          else
            valid.push_back(std::move(rec));
        }
        result.records = std::move(valid);
        job->search.on_response(peer.id, result, st.now());
      }
      step(self, job);
    });
  }
  // Nothing in flight and nothing to ask: the lookup is over.
  if (job->search.done() && !job->finished) {
    job->finished = true;
    job->on_done(job->search);
  }
}

void start_lookup(node_actor self, const node_id& target, lookup::options opts,
                  std::function<void(lookup&)> on_done) {
  auto& st = self->state;
  auto seeds = st.table->nearest(target, st.cfg.bucket_size);
  auto job = std::make_shared<lookup_job>(
    lookup_job{lookup(st.me.id, target, seeds, opts), std::move(on_done)});
  step(self, job);
}

/// How wide a lookup searches. A store needs its key's num_replicas nearest
/// peers; it searches twice as wide so that a slow or missing peer near the
/// key does not shift the replica set (hivemind's beam). A get searches the
/// full k but stops at the first value unless the latest is asked for.
/// Filling the routing table always uses k.
enum class lookup_kind { store, get, fill };

lookup::options lookup_options(const node_state& st, lookup_kind kind, bool latest = false) {
  lookup::options o;
  o.k = kind == lookup_kind::store ? std::min(2 * st.cfg.num_replicas, st.cfg.bucket_size)
                                   : st.cfg.bucket_size;
  o.alpha = st.cfg.alpha;
  o.find_value = kind == lookup_kind::get;
  o.latest = latest;
  return o;
}

/// Answers a request that the wire received from the peer whose Ed25519
/// key is `sender_key` (proved in its handshake).
std::string handle_rpc(node_actor self, const std::string& sender_key, const std::string& bytes) {
  auto& st = self->state;
  dht_response resp;
  resp.responder = st.me;
  auto req = decode_request(bytes);
  if (!req) {
    resp.error = describe(req.error());
    st.count("ttt_node_dht_requests_total", "refused");
    st.log("refused a request: " + resp.error);
    return encode(resp);
  }
  if (req->sender.public_key != sender_key || peer_id_of(req->sender.public_key) != req->sender.id) {
    resp.error = "the request names another sender than the peer that sent it";
    st.count("ttt_node_dht_requests_total", "refused");
    st.log("refused a request from " + req->sender.address() + ": " + resp.error);
    return encode(resp);
  }
  on_request_from(self, *req);
  resp.kind = req->kind;
  st.count("ttt_node_dht_requests_total", req->kind == request_kind::ping    ? "ping"
                                          : req->kind == request_kind::store ? "store"
                                                                             : "find");
  switch (req->kind) {
    case request_kind::ping:
      break;
    case request_kind::store: {
      // Each record is charged to the sender the wire proved; refusals are
      // logged once per request (a flood of bad records is one line each).
      size_t refused = 0;
      std::string first_reason;
      for (const auto& rec : req->records) {
        store_result result;
        if (auto err = st.cfg.rules.validate(rec, st.now())) {
          result.error = describe(err);
        } else {
          auto& target = req->in_cache ? st.cache : *st.storage;
          auto outcome = target.store(rec, st.now(), req->sender.id);
          result.accepted = outcome == record_store::outcome::stored;
          if (!result.accepted)
            result.error = to_string(outcome);
          if (outcome == record_store::outcome::superseded)
            result.error.clear(); // an older copy: nothing wrong with it
        }
        if (!result.accepted && !result.error.empty() && refused++ == 0)
          first_reason = result.error;
        resp.stored.push_back(std::move(result));
      }
      if (refused > 0 && st.cfg.metrics)
        st.cfg.metrics->add("ttt_node_dht_records_refused_total", static_cast<double>(refused));
      if (refused > 0)
        st.log("refused " + std::to_string(refused) + " of " + std::to_string(req->records.size()) +
               " records from " + req->sender.id.to_hex().substr(0, 12) + ": " + first_reason);
      break;
    }
    case request_kind::find:
      // Each id is answered once: a request naming one id many times would
      // make this node build the same answer again and again.
      if (std::set<node_id>(req->key_ids.begin(), req->key_ids.end()).size() != req->key_ids.size()) {
        resp.error = "a find names the same key id more than once";
        st.log("refused a request from " + req->sender.id.to_hex().substr(0, 12) + ": " + resp.error);
        return encode(resp);
      }
      for (const auto& id : req->key_ids) {
        find_result result;
        result.records = st.storage->get(id, st.now());
        if (result.records.empty())
          result.records = st.cache.get(id, st.now());
        result.nearest = st.table->nearest(id, st.cfg.bucket_size, req->sender.id);
        resp.found.push_back(std::move(result));
      }
      break;
  }
  auto answer = encode(resp);
  // An answer must fit one frame: the records of the fullest results are
  // halved until it does (a reader asks again with fewer keys).
  while (answer.size() > protocol_limits::max_message_bytes) {
    auto fullest = std::max_element(resp.found.begin(), resp.found.end(), [](const auto& a, const auto& b) {
      return a.records.size() < b.records.size();
    });
    if (fullest == resp.found.end() || fullest->records.empty())
      break;
    fullest->records.resize(fullest->records.size() / 2);
    answer = encode(resp);
  }
  return answer;
}

/// Stores `rec` on the num_replicas nodes nearest its key (this one included
/// when it is among them); `done(accepted anywhere)`.
void replicate(node_actor self, const dht_record& rec, std::function<void(bool)> done) {
  auto key_id = node_id::of_key(rec.key);
  start_lookup(self, key_id, lookup_options(self->state, lookup_kind::store),
               [self, rec, key_id, done](lookup& search) {
    auto& st = self->state;
    auto targets = search.closest_responders(st.cfg.num_replicas);
    bool store_here = !st.cfg.client_mode &&
                      (targets.size() < st.cfg.num_replicas ||
                       st.me.id.distance(key_id) < targets.back().id.distance(key_id));
    struct tally {
      size_t pending = 0;
      bool accepted = false;
      std::function<void(bool)> done;
    };
    auto t = std::make_shared<tally>();
    t->done = done;
    if (store_here)
      t->accepted = st.storage->store(rec, st.now()) == record_store::outcome::stored;
    if (targets.size() > st.cfg.num_replicas - (store_here ? 1 : 0) && !targets.empty())
      targets.pop_back();
    t->pending = targets.size();
    if (t->pending == 0) {
      t->done(t->accepted);
      return;
    }
    auto req = st.make_request(request_kind::store);
    req.records.push_back(rec);
    for (const auto& peer : targets) {
      call(self, peer.address(), peer.id, req, [self, t, peer](caf::expected<dht_response> resp) {
        if (resp && resp->stored.size() == 1 && resp->stored[0].accepted)
          t->accepted = true;
        else if (!resp)
          self->state.forget(peer.id);
        if (--t->pending == 0)
          t->done(t->accepted);
      });
    }
  });
}

/// Loads this node's records and known peers. Records that expired while
/// the node was down are dropped from disk instead; unreadable rows too.
void load_from_database(node_state& st) {
  if (!st.cfg.db)
    return;
  size_t loaded = 0;
  size_t expired = 0;
  size_t bad = 0;
  std::vector<std::string> dropped;
  double now = st.now();
  auto err = st.cfg.db->for_each(storage::column::dht_records, [&](std::string_view k, std::string_view v) {
    auto rec = decode_record(v);
    // Stored records pass today's rules again: a bound that is new since
    // (a lifetime, a key's shape) applies to what was kept before it.
    if (!rec || rec->expiration <= now || st.cfg.rules.validate(*rec, now)) {
      ++(rec && rec->expiration <= now ? expired : bad);
      dropped.emplace_back(k);
    } else if (st.storage->store(*rec, now) == record_store::outcome::stored) {
      ++loaded;
    }
    return true;
  });
  for (const auto& k : dropped)
    (void)st.cfg.db->erase(storage::column::dht_records, k);
  if (!err)
    err = st.cfg.db->for_each(storage::column::routing, [&](std::string_view, std::string_view v) {
      if (auto p = decode_known_peer(v))
        st.saved_peers.push_back(p->first.id.to_hex() + "@" + p->first.address());
      return true;
    });
  if (err)
    st.log("cannot read the database: " + describe(err));
  if (loaded + expired + bad > 0 || !st.saved_peers.empty())
    st.log("loaded " + std::to_string(loaded) + " records and " +
           std::to_string(st.saved_peers.size()) + " known peers from " + st.cfg.db->dir() +
           " (" + std::to_string(expired) + " expired, " + std::to_string(bad) +
           " unreadable or against the rules dropped)");
  // From now on every change is written through.
  st.sink = std::make_unique<database_sink>(st.cfg.db, st.cfg.log);
  st.storage->set_sink(st.sink.get());
}

dht_actor::behavior_type dht_node_impl(node_actor self, dht_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.clock)
    st.cfg.clock = wall_clock_seconds;
  st.me.id = st.cfg.self.id();
  st.me.public_key = st.cfg.self.public_key();
  if (!st.cfg.client_mode) {
    st.me.host = st.cfg.host;
    st.me.port = st.cfg.port;
  }
  st.rng.seed(st.cfg.seed ^ std::hash<node_id>{}(st.me.id));
  st.table = std::make_unique<routing_table>(st.me.id, st.cfg.bucket_size, 5,
                                            st.cfg.max_peers_per_subnet);
  st.storage = std::make_unique<record_store>(nullptr, st.cfg.storage_limits);
  st.cache = record_store(nullptr, st.cfg.storage_limits);
  load_from_database(st);
  self->delayed_send(self, st.cfg.purge_interval, purge_atom_v);
  self->delayed_send(self, st.cfg.refresh_interval, refresh_atom_v);
  return {
    [self](dht_rpc_atom, const std::string& sender_key, const std::string& bytes) -> std::string {
      return handle_rpc(self, sender_key, bytes);
    },
    [self](dht_store_atom, const dht_record& rec) -> caf::result<bool> {
      auto& st = self->state;
      st.count("ttt_node_dht_operations_total", "store");
      if (auto err = st.cfg.rules.validate(rec, st.now()))
        return err;
      if (rec.expiration <= st.now())
        return protocol_error("record has expired");
      auto rp = self->make_response_promise<bool>();
      replicate(self, rec, [rp](bool ok) mutable { rp.deliver(ok); });
      return rp;
    },
    [self](dht_get_atom, const std::string& key, bool latest) -> caf::result<dht_records> {
      auto& st = self->state;
      st.count("ttt_node_dht_operations_total", "get");
      auto key_id = node_id::of_key(key);
      auto local = st.storage->get(key_id, st.now());
      if (local.empty())
        local = st.cache.get(key_id, st.now());
      if (!local.empty() && !latest)
        return local;
      auto rp = self->make_response_promise<dht_records>();
      start_lookup(self, key_id, lookup_options(st, lookup_kind::get, latest),
                   [self, rp, local, key_id](lookup& search) mutable {
        auto& st = self->state;
        auto found = search.records(st.now());
        // Merge with what this node holds: the later expiration wins.
        record_store merged(nullptr, merge_limits(st.cfg.bucket_size + 1));
        for (const auto& r : local)
          merged.store(r, st.now());
        for (const auto& r : found)
          merged.store(r, st.now());
        auto result = merged.get(key_id, st.now());
        if (!found.empty()) {
          // Cache the value here and on the nearest peer that lacked it, so
          // that popular keys spread towards their readers.
          for (const auto& r : found)
            st.cache.store(r, st.now());
          auto lacking = search.responders_without_value(1);
          if (!lacking.empty()) {
            auto req = st.make_request(request_kind::store);
            req.records = result;
            if (req.records.size() > protocol_limits::max_records_per_message)
              req.records.resize(protocol_limits::max_records_per_message);
            req.in_cache = true;
            call(self, lacking.front().address(), lacking.front().id, req,
                 [](caf::expected<dht_response>) {});
          }
        }
        rp.deliver(std::move(result));
      });
      return rp;
    },
    [self](bootstrap_atom, const std::vector<std::string>& addresses) -> caf::result<size_t> {
      auto& st = self->state;
      std::vector<std::string> all = addresses;
      for (const auto& a : st.saved_peers)
        if (std::find(all.begin(), all.end(), a) == all.end() && a.rfind(st.me.id.to_hex() + "@", 0) != 0)
          all.push_back(a);
      auto rp = self->make_response_promise<size_t>();
      if (all.empty()) {
        st.log("no peers to join through: waiting for others to join this one");
        rp.deliver(size_t{0});
        return rp;
      }
      auto pending = std::make_shared<size_t>(all.size());
      auto finish = [self, rp]() mutable {
        // Look ourselves up: fills the buckets near us and tells the
        // nearest peers about us.
        start_lookup(self, self->state.me.id, lookup_options(self->state, lookup_kind::fill),
                     [self, rp](lookup&) mutable {
          auto n = self->state.table->size();
          self->state.log("bootstrap done: " + std::to_string(n) + " peers known");
          rp.deliver(n);
        });
      };
      for (const auto& entry : all) {
        // "PEERID@HOST:PORT" names the identity the peer must prove; a bare
        // HOST:PORT trusts whoever answers there (said once, in the log).
        std::optional<node_id> expected;
        std::string address = entry;
        if (auto at = entry.find('@'); at != std::string::npos) {
          expected = node_id::from_hex(entry.substr(0, at));
          address = entry.substr(at + 1);
        }
        auto req = st.make_request(request_kind::ping);
        call(self, address, expected, req,
             [self, pending, finish, address, expected](caf::expected<dht_response> resp) mutable {
          if (resp) {
            auto colon = address.rfind(':');
            auto port = static_cast<uint16_t>(std::strtoul(address.c_str() + colon + 1, nullptr, 10));
            on_peer_seen(self, answered_at(resp->responder, address.substr(0, colon), port), true);
            if (!expected)
              self->state.log("joined through " + address + ", peer " + resp->responder.id.to_hex() +
                              ": its key was not checked (give PEERID@HOST:PORT to check it)");
          } else {
            self->state.log("cannot reach " + address + ": " + describe(resp.error()));
          }
          if (--*pending == 0)
            finish();
        });
      }
      return rp;
    },
    [self](info_atom) -> caf::result<peer_info, size_t, size_t> {
      auto& st = self->state;
      return {st.me, st.table->size(), st.storage->size()};
    },
    [self](refresh_atom) {
      auto& st = self->state;
      double t = st.now();
      for (const auto& target : st.table->refresh_targets(t - st.cfg.bucket_stale_after, st.rng))
        start_lookup(self, target, lookup_options(st, lookup_kind::fill), [](lookup&) {});
      st.save_routing();
      if (st.cfg.metrics)
        st.cfg.metrics->set("ttt_node_dht_routing_peers", static_cast<double>(st.table->size()));
      self->delayed_send(self, st.cfg.refresh_interval, refresh_atom_v);
    },
    [self](purge_atom) {
      auto& st = self->state;
      auto dropped = st.storage->purge(st.now()) + st.cache.purge(st.now());
      if (dropped > 0)
        st.log("purged " + std::to_string(dropped) + " expired records");
      self->delayed_send(self, st.cfg.purge_interval, purge_atom_v);
    },
    [self](persist_atom) { self->state.save_routing(); },
  };
}

} // namespace

dht_actor spawn_dht_node(caf::actor_system& sys, dht_config config) {
  return sys.spawn(dht_node_impl, std::move(config));
}

} // namespace ttt::dht
