#include "actors/averager/matchmaker.hpp"

#include "actors/common/describe.hpp"
#include "actors/dht/validator.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <map>
#include <memory>

namespace ttt::averaging {

namespace {

struct job {
  match_request request;
  caf::typed_response_promise<announcement> promise;
  bool polling = false; ///< a look at the DHT is in flight
  caf::timespan wait{0}; ///< before the next look: doubles from the first to the longest
};

struct matchmaker_state {
  static inline const char* name = "matchmaker";
  matchmaker_config cfg;
  uint64_t next_id = 0;
  std::map<uint64_t, std::shared_ptr<job>> jobs;
};

using matchmaker_ptr = matchmaker_actor::stateful_pointer<matchmaker_state>;

void finish(matchmaker_ptr self, uint64_t id, caf::expected<announcement> result) {
  auto it = self->state.jobs.find(id);
  if (it == self->state.jobs.end())
    return;
  if (result)
    it->second->promise.deliver(std::move(*result));
  else
    it->second->promise.deliver(result.error());
  self->state.jobs.erase(it);
}

/// Declarations whose subkey is their own peer's owner marker: the DHT has
/// checked that such a record is signed by that key, so nobody declares on
/// someone else's behalf.
std::vector<declaration> read_declarations(const dht::dht_records& records) {
  std::vector<declaration> out;
  for (const auto& r : records) {
    auto d = decode_declaration(r.value);
    if (d && r.has_subkey && r.subkey == dht::owner_marker(d->public_key))
      out.push_back(std::move(*d));
  }
  return out;
}

/// Announcements signed by their leader (members[0]) whose group id matches.
std::vector<announcement> read_announcements(const std::string& round,
                                             const dht::dht_records& records) {
  std::vector<announcement> out;
  for (const auto& r : records) {
    auto a = decode_announcement(r.value);
    if (a && r.has_subkey && r.subkey == dht::owner_marker(a->members.front().public_key) &&
        a->group_id == make_group_id(declaration_key(round), a->members))
      out.push_back(std::move(*a));
  }
  return out;
}

void poll(matchmaker_ptr self, uint64_t id);

/// Looks again after a wait that starts short (peers that become ready
/// together meet at once) and doubles up to the poll interval (a long wait
/// for a group costs the DHT little).
void poll_later(matchmaker_ptr self, uint64_t id, job& j) {
  const auto& cfg = self->state.cfg;
  j.wait = j.wait.count() == 0 ? std::min(cfg.first_poll_interval, cfg.poll_interval)
                               : std::min(2 * j.wait, cfg.poll_interval);
  self->delayed_send(self, j.wait, avg_mtick_atom_v, id);
}

void act(matchmaker_ptr self, uint64_t id, const std::vector<declaration>& declared,
         const std::vector<announcement>& announced) {
  auto it = self->state.jobs.find(id);
  if (it == self->state.jobs.end())
    return;
  auto j = it->second;
  auto& st = self->state;
  auto d = decide(j->request.self, declared, announced, st.cfg.clock(), j->request.settings);
  switch (d.what) {
    case step::wait:
      poll_later(self, id, *j);
      return;
    case step::joined:
      finish(self, id, std::move(d.group));
      return;
    case step::failed:
      finish(self, id, caf::make_error(caf::sec::runtime_error, "matchmaking: " + d.why));
      return;
    case step::announce: {
      d.group.group_id = make_group_id(declaration_key(j->request.round), d.group.members);
      dht::dht_record rec;
      rec.key = announcement_key(j->request.round);
      rec.subkey = dht::owner_marker(st.cfg.self.public_key());
      rec.has_subkey = true;
      rec.value = encode(d.group);
      rec.expiration = j->request.self.deadline + 2 * j->request.settings.announce_grace;
      dht::sign_record(rec, st.cfg.self);
      auto group = d.group;
      self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec)
        .then(
          [self, id, group](bool) mutable { finish(self, id, std::move(group)); },
          [self, id](caf::error& err) {
            finish(self, id, caf::make_error(caf::sec::runtime_error,
                                             "matchmaking: cannot announce: " + describe(err)));
          });
      return;
    }
  }
}

void poll(matchmaker_ptr self, uint64_t id) {
  auto it = self->state.jobs.find(id);
  if (it == self->state.jobs.end() || it->second->polling)
    return;
  auto j = it->second;
  j->polling = true;
  auto& dht = self->state.cfg.dht;
  auto round = j->request.round;
  self->request(dht, caf::infinite, dht_get_atom_v, declaration_key(round), true)
    .then(
      [self, id, round, j, dht](dht::dht_records& decl_records) {
        auto declared = read_declarations(decl_records);
        self->request(dht, caf::infinite, dht_get_atom_v, announcement_key(round), true)
          .then(
            [self, id, round, j, declared](dht::dht_records& ann_records) {
              j->polling = false;
              act(self, id, declared, read_announcements(round, ann_records));
            },
            [self, id, j](caf::error&) {
              j->polling = false;
              poll_later(self, id, *j);
            });
      },
      [self, id, j](caf::error&) {
        j->polling = false;
        poll_later(self, id, *j);
      });
}

matchmaker_actor::behavior_type matchmaker_impl(matchmaker_ptr self, matchmaker_config cfg) {
  self->state.cfg = std::move(cfg);
  return {
    [self](avg_match_atom, match_request& req) -> caf::result<announcement> {
      auto& st = self->state;
      if (req.settings.min_group_size < 1 || req.settings.target_group_size < req.settings.min_group_size)
        return caf::make_error(caf::sec::invalid_argument,
                               "matchmaking: need 1 <= min_group_size <= target_group_size");
      req.self.peer = st.cfg.self.id();
      req.self.public_key = st.cfg.self.public_key();
      if (req.self.deadline == 0)
        req.self.deadline = st.cfg.clock() + req.settings.matchmaking_time;
      auto id = st.next_id++;
      auto j = std::make_shared<job>();
      j->promise = self->make_response_promise<announcement>();
      j->request = req;
      st.jobs[id] = j;
      dht::dht_record rec;
      rec.key = declaration_key(req.round);
      rec.subkey = dht::owner_marker(st.cfg.self.public_key());
      rec.has_subkey = true;
      rec.value = encode(req.self);
      rec.expiration = req.self.deadline + req.settings.announce_grace;
      dht::sign_record(rec, st.cfg.self);
      self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec)
        .then([self, id](bool) { poll(self, id); },
              [self, id](caf::error& err) {
                finish(self, id, caf::make_error(caf::sec::runtime_error,
                                                 "matchmaking: cannot declare: " + describe(err)));
              });
      return j->promise;
    },
    [self](avg_mtick_atom, uint64_t id) { poll(self, id); },
  };
}

} // namespace

matchmaker_actor spawn_matchmaker(caf::actor_system& sys, matchmaker_config config) {
  return sys.spawn(matchmaker_impl, std::move(config));
}

} // namespace ttt::averaging
