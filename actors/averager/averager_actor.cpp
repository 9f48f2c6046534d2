// The averager's actor shell: decodes peers' bytes, routes them to the pure
// all-reduce core of their round, turns the core's sends into messages, and
// drives its timeouts with delayed self-messages. It also serves and
// downloads state in checksummed chunks.

#include "actors/averager/interface.hpp"
#include "actors/averager/wire.hpp"
#include "actors/common/identity.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <sodium.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>

namespace ttt::averaging {

namespace {

constexpr size_t parts_per_pump = 8;           // then let incoming parts in
constexpr size_t early_limit_messages = 1024;  // parts of rounds not started here yet
constexpr size_t early_limit_bytes = size_t{256} << 20;
constexpr auto early_ttl = std::chrono::seconds(30);
constexpr size_t finished_kept = 64;           // recent rounds whose late parts are dropped

std::string blake2b_256(std::string_view data) {
  std::string out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(&out[0]), out.size(),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return out;
}

struct active_round {
  std::unique_ptr<allreduce_round> core;
  std::vector<averager_peer> handles;
  caf::typed_response_promise<round_result> promise;
  duration tick = std::chrono::seconds(1);
  std::function<void(uint64_t)> on_sent;
  uint64_t sent = 0;
  bool clipping = false;          // centered_clip: its clipping counts in the tally
  std::vector<size_t> excluded;   // members dropped in earlier rounds
  bool pump_scheduled = false;
  /// Messages for members whose handle is not known yet, sent once their
  /// hello (or any message) arrives. Bounded by the send window.
  std::map<size_t, std::vector<caf::message>> waiting;
};

struct early_message {
  averager_peer from;
  std::string bytes;
  time_point arrived;
};

struct held_state {
  uint64_t epoch = 0;
  std::string blob;
  std::string checksum;
};

struct fetch_job {
  fetch_request request;
  std::vector<size_t> order; // holder indices, best first
  size_t attempt = 0;        // position in `order`
  uint32_t next_chunk = 0;
  uint64_t epoch = 0;
  uint64_t total = 0;
  std::string checksum;
  std::string blob;
  time_point last_heard;
  std::vector<std::string> failures;
  caf::typed_response_promise<fetched_state> promise;
};

struct averager_state {
  std::string peer_id;
  std::map<std::string, active_round, std::less<>> rounds;
  std::map<std::string, std::vector<early_message>, std::less<>> early;
  size_t early_count = 0;
  size_t early_bytes = 0;
  std::deque<std::string> finished;
  std::optional<held_state> held;
  std::map<std::string, fetch_job, std::less<>> fetches;
  uint64_t fetch_counter = 0;
  uint64_t undecodable = 0;    // peers' bytes that were not a valid message
  uint64_t impersonations = 0; // messages whose sender is not the peer that sent them
  clip_tally clips;
  std::function<void(const std::string&)> log;
  static inline const char* name = "averager";
};

using self_ptr = averager_actor::stateful_pointer<averager_state>;

allreduce_round::send_fn sender_of(self_ptr self, active_round& round) {
  return [self, &round](const std::vector<size_t>& to, part_message&& msg) {
    // Encoded once; CAF messages are immutable and shared, so every
    // receiver of a result gets the same bytes without a copy.
    auto content = caf::make_message(avg_rpc_atom_v, encode_values(msg));
    for (size_t member : to) {
      const auto& handle = round.handles[member];
      if (!handle) {
        round.waiting[member].push_back(content);
        continue;
      }
      caf::actor_cast<caf::abstract_actor*>(handle)->enqueue(self->ctrl(), caf::make_message_id(),
                                                             content, self->context());
      round.sent += 1;
      if (round.on_sent)
        round.on_sent(round.sent);
    }
  };
}

/// Counts this round's clipping on this peer's span in the tally and fills
/// the result's clipping fields.
void tally_clipping(self_ptr self, const active_round& round, round_result& result) {
  auto& st = self->state;
  const auto& members = round.core->group().members;
  const size_t me = round.core->self_index();
  result.excluded = round.excluded;
  auto mine = std::find_if(result.spans.begin(), result.spans.end(),
                           [&](const span_report& s) { return s.reducer == me; });
  if (round.clipping && mine != result.spans.end()) {
    // Judged: the contributors this span combined in every part, and any
    // clipped in some part.
    std::vector<std::string> judged, clipped;
    for (size_t c = 0; c < members.size(); ++c) {
      if (c == me || members[c].mode == peer_mode::aux)
        continue;
      bool cut = std::count(mine->clipped.begin(), mine->clipped.end(), c) > 0;
      bool missing = std::count(mine->left_out.begin(), mine->left_out.end(), c) > 0
                     || std::count(round.excluded.begin(), round.excluded.end(), c) > 0;
      if (cut)
        clipped.push_back(members[c].peer_id);
      if (cut || !missing)
        judged.push_back(members[c].peer_id);
    }
    for (auto& peer : st.clips.record(judged, clipped)) {
      if (st.log)
        st.log(st.clips.drop_message(peer));
      result.newly_dropped.push_back(std::move(peer));
    }
  }
  for (size_t m = 0; m < members.size(); ++m) {
    if (auto c = st.clips.counts(members[m].peer_id))
      result.clip_counts.push_back({m, c->clipped, c->rounds, st.clips.dropped(members[m].peer_id)});
  }
}

void finish_if_done(self_ptr self, const std::string& group_id) {
  auto it = self->state.rounds.find(group_id);
  if (it == self->state.rounds.end() || !it->second.core->done())
    return;
  auto result = it->second.core->take_result();
  tally_clipping(self, it->second, result);
  it->second.promise.deliver(std::move(result));
  self->state.rounds.erase(it);
  auto& finished = self->state.finished;
  finished.push_back(group_id);
  if (finished.size() > finished_kept)
    finished.pop_front();
}

/// Learns the handle of `member` from its first message (a client, or a
/// member that connected to us rather than we to it) and sends what waited.
void learn_handle(self_ptr self, active_round& round, size_t member, const averager_peer& from) {
  round.handles[member] = from;
  self->monitor(from);
  auto waiting = round.waiting.find(member);
  if (waiting == round.waiting.end())
    return;
  for (auto& content : waiting->second)
    caf::actor_cast<caf::abstract_actor*>(from)->enqueue(self->ctrl(), caf::make_message_id(),
                                                         std::move(content), self->context());
  round.waiting.erase(waiting);
}

void on_round_message(self_ptr self, active_round& round, const averager_peer& from,
                      const part_view& msg) {
  auto member = round.core->member_index(msg.sender_id);
  if (member && from) {
    auto& known = round.handles[*member];
    if (!known) {
      learn_handle(self, round, *member, from);
    } else if (known != from) {
      // Refused by the core as well: a sender id must come from its own actor.
      part_view spoofed = msg;
      spoofed.sender_id = {};
      (void) round.core->on_message(spoofed, self->clock().now(), sender_of(self, round));
      return;
    }
  }
  (void) round.core->on_message(msg, self->clock().now(), sender_of(self, round));
  // A result may have opened a reducer's send window.
  if (!round.pump_scheduled && round.core->parts_pending()) {
    round.pump_scheduled = true;
    self->send(self, avg_pump_atom_v, std::string(msg.group_id));
  }
  finish_if_done(self, std::string(msg.group_id));
}

void buffer_early(self_ptr self, const averager_peer& from, std::string_view group_id,
                  const std::string& bytes) {
  auto& st = self->state;
  if (std::find(st.finished.begin(), st.finished.end(), group_id) != st.finished.end())
    return; // a straggler of a round that is over
  if (st.early_count >= early_limit_messages || st.early_bytes + bytes.size() > early_limit_bytes)
    return; // bounded: a round that starts too late here loses these parts to its timeouts
  if (st.early_count == 0)
    self->delayed_send(self, early_ttl, avg_tick_atom_v, std::string{});
  st.early[std::string(group_id)].push_back({from, bytes, self->clock().now()});
  st.early_count += 1;
  st.early_bytes += bytes.size();
}

void purge_early(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  for (auto it = st.early.begin(); it != st.early.end();) {
    auto& list = it->second;
    auto keep = std::remove_if(list.begin(), list.end(), [&](const early_message& m) {
      if (now - m.arrived < early_ttl)
        return false;
      st.early_count -= 1;
      st.early_bytes -= m.bytes.size();
      return true;
    });
    list.erase(keep, list.end());
    it = list.empty() ? st.early.erase(it) : std::next(it);
  }
  if (st.early_count > 0)
    self->delayed_send(self, early_ttl, avg_tick_atom_v, std::string{});
}

// -- state sharing ------------------------------------------------------------

void serve_chunk(self_ptr self, const averager_peer& to, const std::string& fetch_id,
                 const state_request& req) {
  auto& held = self->state.held;
  if (!held) {
    self->send(to, avg_rpc_atom_v, encode_state_error(fetch_id, self->state.peer_id, "no state held"));
    return;
  }
  uint64_t chunks = std::max<uint64_t>(1, (held->blob.size() + state_chunk_bytes - 1) / state_chunk_bytes);
  if (req.chunk_index >= chunks) {
    self->send(to, avg_rpc_atom_v,
               encode_state_error(fetch_id, self->state.peer_id, "chunk index out of range"));
    return;
  }
  state_chunk chunk;
  chunk.epoch = held->epoch;
  chunk.total_bytes = held->blob.size();
  chunk.checksum = held->checksum;
  chunk.chunk_index = req.chunk_index;
  uint64_t offset = uint64_t{req.chunk_index} * state_chunk_bytes;
  chunk.data = held->blob.substr(offset, state_chunk_bytes);
  self->send(to, avg_rpc_atom_v, encode_state_chunk(fetch_id, self->state.peer_id, chunk));
}

void request_next_chunk(self_ptr self, const std::string& fetch_id, fetch_job& job) {
  const auto& holder = job.request.holders[job.order[job.attempt]];
  job.last_heard = self->clock().now();
  self->send(holder.handle, avg_rpc_atom_v,
             encode_state_request(fetch_id, self->state.peer_id, state_request{job.next_chunk}));
}

/// Gives up the current holder (recording why) and moves on to the next.
void next_holder(self_ptr self, const std::string& fetch_id, std::string why) {
  auto it = self->state.fetches.find(fetch_id);
  if (it == self->state.fetches.end())
    return;
  auto& job = it->second;
  job.failures.push_back("holder " + std::to_string(job.order[job.attempt]) + ": " + why);
  job.attempt += 1;
  job.next_chunk = 0;
  job.blob.clear();
  job.checksum.clear();
  if (job.attempt >= job.order.size()) {
    std::string all;
    for (const auto& f : job.failures)
      all += (all.empty() ? "" : "; ") + f;
    job.promise.deliver(caf::make_error(caf::sec::request_timeout,
                                        "state download failed from every holder: " + all));
    self->state.fetches.erase(it);
    return;
  }
  request_next_chunk(self, fetch_id, job);
}

void on_state_reply(self_ptr self, const averager_peer& from, const wire_message& msg) {
  const std::string fetch_id(msg.values.group_id);
  auto it = self->state.fetches.find(fetch_id);
  if (it == self->state.fetches.end())
    return;
  auto& job = it->second;
  if (from != job.request.holders[job.order[job.attempt]].handle)
    return; // only the holder we asked may answer
  if (msg.kind == wire_kind::state_error)
    return next_holder(self, fetch_id, "refused: " + msg.error_text);
  const auto& chunk = msg.chunk;
  if (chunk.chunk_index != job.next_chunk)
    return next_holder(self, fetch_id, "unexpected chunk index");
  if (job.next_chunk == 0) {
    if (chunk.total_bytes > job.request.max_bytes)
      return next_holder(self, fetch_id, "state larger than allowed");
    if (chunk.checksum.size() != 32)
      return next_holder(self, fetch_id, "malformed checksum");
    job.epoch = chunk.epoch;
    job.total = chunk.total_bytes;
    job.checksum = chunk.checksum;
    job.blob.reserve(job.total);
  } else if (chunk.epoch != job.epoch || chunk.total_bytes != job.total
             || chunk.checksum != job.checksum) {
    return next_holder(self, fetch_id, "state changed during the download");
  }
  uint64_t expected = std::min<uint64_t>(state_chunk_bytes, job.total - job.blob.size());
  if (chunk.data.size() != expected)
    return next_holder(self, fetch_id, "truncated chunk " + std::to_string(chunk.chunk_index));
  job.blob += chunk.data;
  job.next_chunk += 1;
  if (job.blob.size() < job.total)
    return request_next_chunk(self, fetch_id, job);
  if (blake2b_256(job.blob) != job.checksum)
    return next_holder(self, fetch_id, "checksum mismatch");
  fetched_state out;
  out.epoch = job.epoch;
  out.blob = std::move(job.blob);
  out.holder = job.order[job.attempt];
  out.failures = std::move(job.failures);
  job.promise.deliver(std::move(out));
  self->state.fetches.erase(it);
}

/// `proven`: the sender's peer id as the wire proved it (empty for a
/// message from an averager in this process); a message must name it.
void on_bytes(self_ptr self, const averager_peer& from, const std::string& bytes,
              std::string_view proven = {}) {
  auto decoded = decode_message(bytes);
  if (!decoded) {
    self->state.undecodable += 1; // not attributable to any round: nothing else to do
    return;
  }
  if (!proven.empty() && decoded->values.sender_id != proven) {
    self->state.impersonations += 1; // a peer naming another as the sender
    return;
  }
  switch (decoded->kind) {
    case wire_kind::part:
    case wire_kind::result: {
      auto it = self->state.rounds.find(decoded->values.group_id);
      if (it == self->state.rounds.end())
        return buffer_early(self, from, decoded->values.group_id, bytes);
      return on_round_message(self, it->second, from, decoded->values);
    }
    case wire_kind::hello: {
      auto it = self->state.rounds.find(decoded->values.group_id);
      if (it == self->state.rounds.end())
        return buffer_early(self, from, decoded->values.group_id, bytes);
      auto member = it->second.core->member_index(decoded->values.sender_id);
      if (member && from && !it->second.handles[*member])
        learn_handle(self, it->second, *member, from);
      return;
    }
    case wire_kind::state_request:
      if (from)
        serve_chunk(self, from, std::string(decoded->values.group_id), decoded->request);
      return;
    case wire_kind::state_chunk:
    case wire_kind::state_error:
      return on_state_reply(self, from, *decoded);
  }
}

averager_actor::behavior_type averager_behavior(self_ptr self, std::string peer_id,
                                                averager_options options) {
  init_crypto();
  self->state.peer_id = std::move(peer_id);
  self->state.clips = clip_tally(options.clipping);
  self->state.log = std::move(options.log);
  // A member's averager went away (process killed, connection lost): its
  // rounds stop waiting for it at once instead of at the timeout.
  self->set_down_handler([self](caf::down_msg& down) {
    std::vector<std::string> touched;
    for (auto& [group_id, round] : self->state.rounds) {
      for (size_t m = 0; m < round.handles.size(); ++m) {
        if (round.handles[m] && round.handles[m].address() == down.source) {
          round.core->on_member_failed(m, sender_of(self, round));
          touched.push_back(group_id);
        }
      }
    }
    for (const auto& group_id : touched)
      finish_if_done(self, group_id);
  });
  return {
    // From another averager in this process (tests, benchmarks).
    [self](avg_rpc_atom, const std::string& bytes) {
      on_bytes(self, caf::actor_cast<averager_peer>(self->current_sender()), bytes);
    },
    // From a peer, through its proxy on the wire, which proved its id.
    [self](avg_rpc_atom, const std::string& peer_id, const std::string& bytes) {
      on_bytes(self, caf::actor_cast<averager_peer>(self->current_sender()), bytes, peer_id);
    },
    [self](avg_run_atom, round_request& req) -> caf::result<round_result> {
      auto group_id = req.group.group_id;
      if (self->state.rounds.count(group_id))
        return caf::make_error(caf::sec::invalid_argument,
                               "averaging: a round with this group id is running");
      if (req.handles.size() != req.group.members.size())
        return caf::make_error(caf::sec::invalid_argument,
                               "averaging: one handle (or a null one) per member");
      auto config = req.config;
      auto core = allreduce_round::make(std::move(req.group), req.self_index, std::move(req.values),
                                        req.weight, req.total_elements, std::move(config),
                                        self->clock().now());
      if (!core)
        return std::move(core.error());
      auto& round = self->state.rounds[group_id];
      round.core = std::make_unique<allreduce_round>(std::move(*core));
      round.handles = std::move(req.handles);
      round.on_sent = std::move(req.on_sent);
      round.clipping = req.config.aggregation == aggregation_rule::centered_clip;
      // Peers dropped for being clipped too often are no members here: their
      // parts are refused, their results not awaited, nothing is sent to them.
      for (size_t m = 0; m < round.handles.size(); ++m) {
        if (m != round.core->self_index()
            && self->state.clips.dropped(round.core->group().members[m].peer_id)) {
          round.excluded.push_back(m);
          round.core->on_member_failed(m, sender_of(self, round));
          round.handles[m] = nullptr;
        }
      }
      round.tick = std::clamp<duration>(req.config.sender_timeout / 4, std::chrono::milliseconds(10),
                                        std::chrono::seconds(1));
      // Members that could not connect to us learn our handle from a hello.
      const auto& self_member = round.core->group().members[round.core->self_index()];
      auto hello = caf::make_message(avg_rpc_atom_v, encode_hello(group_id, self_member.peer_id));
      for (size_t m = 0; m < round.handles.size(); ++m) {
        const auto& h = round.handles[m];
        if (!h || m == round.core->self_index())
          continue;
        self->monitor(h);
        caf::actor_cast<caf::abstract_actor*>(h)->enqueue(self->ctrl(), caf::make_message_id(),
                                                          hello, self->context());
      }
      round.promise = self->make_response_promise<round_result>();
      round.core->start(sender_of(self, round));
      // Parts that arrived before this round started here.
      auto early = self->state.early.find(group_id);
      if (early != self->state.early.end()) {
        auto messages = std::move(early->second);
        self->state.early.erase(early);
        for (auto& m : messages) {
          self->state.early_count -= 1;
          self->state.early_bytes -= m.bytes.size();
          on_bytes(self, m.from, m.bytes);
        }
      }
      round.pump_scheduled = true;
      self->send(self, avg_pump_atom_v, group_id);
      self->delayed_send(self, round.tick, avg_tick_atom_v, group_id);
      auto promise = round.promise;
      return promise;
    },
    [self](avg_pump_atom, const std::string& group_id) {
      auto it = self->state.rounds.find(group_id);
      if (it == self->state.rounds.end())
        return;
      auto& round = it->second;
      round.core->send_parts(parts_per_pump, sender_of(self, round));
      round.pump_scheduled = round.core->parts_pending();
      if (round.pump_scheduled)
        self->send(self, avg_pump_atom_v, group_id);
      finish_if_done(self, group_id);
    },
    [self](avg_tick_atom, const std::string& id) {
      if (id.empty())
        return purge_early(self);
      if (auto it = self->state.rounds.find(id); it != self->state.rounds.end()) {
        auto& round = it->second;
        round.core->on_tick(self->clock().now(), sender_of(self, round));
        auto tick = round.tick;
        finish_if_done(self, id);
        if (self->state.rounds.count(id))
          self->delayed_send(self, tick, avg_tick_atom_v, id);
        return;
      }
      if (auto it = self->state.fetches.find(id); it != self->state.fetches.end()) {
        auto& job = it->second;
        auto timeout = job.request.timeout;
        if (self->clock().now() - job.last_heard >= timeout)
          next_holder(self, id, "timed out");
        if (self->state.fetches.count(id))
          self->delayed_send(self, timeout / 4, avg_tick_atom_v, id);
      }
    },
    [self](avg_serve_atom, uint64_t epoch, std::string& blob) -> bool {
      held_state held;
      held.epoch = epoch;
      held.checksum = blake2b_256(blob);
      held.blob = std::move(blob);
      self->state.held = std::move(held);
      return true;
    },
    [self](avg_fetch_atom, fetch_request& req) -> caf::result<fetched_state> {
      if (req.holders.empty())
        return caf::make_error(caf::sec::invalid_argument, "averaging: no state holders given");
      auto fetch_id = self->state.peer_id + "/fetch/" + std::to_string(self->state.fetch_counter++);
      auto& job = self->state.fetches[fetch_id];
      job.request = std::move(req);
      for (size_t i = 0; i < job.request.holders.size(); ++i)
        job.order.push_back(i);
      // Best holder first: the highest advertised epoch (ties: list order).
      std::stable_sort(job.order.begin(), job.order.end(), [&](size_t a, size_t b) {
        return job.request.holders[a].epoch > job.request.holders[b].epoch;
      });
      job.promise = self->make_response_promise<fetched_state>();
      request_next_chunk(self, fetch_id, job);
      self->delayed_send(self, job.request.timeout / 4, avg_tick_atom_v, fetch_id);
      auto promise = job.promise;
      return promise;
    },
  };
}

} // namespace

averager_actor spawn_averager(caf::actor_system& sys, std::string peer_id) {
  return sys.spawn(averager_behavior, std::move(peer_id), averager_options{});
}

averager_actor spawn_averager(caf::actor_system& sys, std::string peer_id,
                              averager_options options) {
  return sys.spawn(averager_behavior, std::move(peer_id), std::move(options));
}

} // namespace ttt::averaging
