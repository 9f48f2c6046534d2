// The wire broker's shell: sockets, timers, limits and dispatch around the
// pure session (actors/wire/session.hpp). Runs on the middleman's I/O
// thread; it never blocks: connects are non-blocking, and everything a
// local actor must answer is a request with a timeout.

#include "actors/wire/wire.hpp"

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/wire/session.hpp"
#include "actors/wire/transfer.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/sec.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

namespace ttt::wire {

namespace {

using steady = std::chrono::steady_clock;
using time_point = steady::time_point;
using caf::io::connection_handle;

constexpr auto tick_interval = std::chrono::milliseconds(100);
constexpr size_t read_chunk = 16 * 1024;      // a quarter record: CAF keeps this much per connection
constexpr size_t handshake_read_chunk = 2048;  // a preamble and a handshake message
constexpr double refusal_log_period = 10;
constexpr auto proxy_request_timeout = std::chrono::seconds(60);

caf::error wire_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, "wire: " + std::move(what));
}

double seconds_since(time_point then, time_point now) {
  return std::chrono::duration<double>(now - then).count();
}

/// The steady clock in seconds, as the pure parts of the wire take time.
double seconds_now() {
  return std::chrono::duration<double>(steady::now().time_since_epoch()).count();
}

double system_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// A frame waiting for its connection's handshake, and the peer it is for
/// (a dial without an expected id may reach someone else).
struct waiting_frame {
  frame content;
  std::optional<node_id> to;
};

struct connection {
  explicit connection(session s) : link(std::move(s)) {}

  uint64_t serial = 0;
  session link;
  std::string remote_ip;
  bool outgoing = false;
  std::string dial_address; ///< outgoing: the HOST:PORT dialled
  time_point opened;
  time_point last_active;
  bool registered = false;   ///< established and listed under its peer
  std::vector<waiting_frame> waiting; ///< frames to send once established
  std::vector<caf::typed_response_promise<bool>> ready_waiters; ///< wire_connect callers
  size_t waiting_bytes = 0;
  size_t queued = 0;          ///< bytes in CAF's write buffers
  size_t inflight_requests = 0;
  bool halted = false;
  token_bucket bytes_budget;
  token_bucket frames_budget;
};

struct pending_call {
  caf::typed_response_promise<std::string, std::string> promise;
  frame_kind answer = frame_kind::dht_response; ///< the kind of frame that may answer it
  connection_handle hdl;
  uint64_t serial = 0;
  std::optional<node_id> expected;
  time_point deadline;
};

struct proxy_entry {
  caf::actor proxy;
  std::string address; ///< where to dial the peer; empty: it dials us
  time_point touched;
};

struct wire_state {
  wire_config cfg;
  std::shared_ptr<const credentials> own; ///< computed once: every handshake proves the same identity
  /// The admission every new handshake runs; replaced (never changed in
  /// place) when a revocation arrives, since handshakes under way share it.
  std::shared_ptr<const admission_policy> admission;
  std::map<node_id, std::string> names; ///< the name each peer's certificate proved
  std::map<connection_handle, connection> conns;
  std::map<node_id, std::vector<connection_handle>> by_peer;
  std::map<std::string, connection_handle> dialed;
  std::map<uint64_t, pending_call> calls;
  std::map<node_id, proxy_entry> proxies;
  std::map<node_id, size_t> inflight_bytes;
  caf::actor dht;
  caf::actor averager;
  caf::actor seeder; ///< null: data requests are answered with an error
  uint64_t next_serial = 1;
  uint64_t next_call = 1;
  std::map<std::string, size_t> refusals; ///< reason -> count since the last log line
  time_point refusals_logged;
  static inline const char* name = "wire";

  void log(const std::string& line) const {
    if (cfg.log)
      cfg.log(line);
  }
};

using broker_ptr = caf::io::stateful_broker<wire_state>*;

/// Logs the refusals counted since the last time, one line per reason,
/// at most once per period: an attacker's flood costs a few log lines.
void flush_refusals(broker_ptr self, time_point now) {
  auto& st = self->state;
  if (st.refusals.empty() || seconds_since(st.refusals_logged, now) < refusal_log_period)
    return;
  st.refusals_logged = now;
  for (const auto& [why, count] : st.refusals)
    st.log("wire: " + std::to_string(count) + "x " + why);
  st.refusals.clear();
}

void note_refusal(broker_ptr self, const std::string& reason) {
  constexpr size_t distinct_reasons = 16; // per period: the rest are counted together
  auto& refusals = self->state.refusals;
  if (refusals.count(reason) || refusals.size() < distinct_reasons)
    refusals[reason] += 1;
  else
    refusals["refusals of other kinds"] += 1;
  flush_refusals(self, steady::now());
}

caf::behavior proxy_impl(caf::io::broker* self, caf::actor wire, std::string peer_id,
                         caf::actor averager) {
  self->monitor(wire);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  return {
    // From this process's averager: to the peer.
    [self, wire, peer_id](avg_rpc_atom, std::string& bytes) {
      self->send(wire, wire_send_atom_v, peer_id, std::move(bytes));
    },
    // From the peer, through the wire: to the averager, as this proxy, with
    // the proved peer id; the wire hears when the averager took it.
    [self, wire, peer_id, averager](wire_in_atom, std::string& bytes) {
      uint64_t size = bytes.size();
      self->request(averager, proxy_request_timeout, avg_rpc_atom_v, peer_id, std::move(bytes))
        .then([self, wire, peer_id, size]() { self->send(wire, wire_ack_atom_v, peer_id, size); },
              [self, wire, peer_id, size](caf::error&) {
                self->send(wire, wire_ack_atom_v, peer_id, size);
              });
    },
  };
}

proxy_entry& proxy_for(broker_ptr self, const node_id& peer) {
  auto& st = self->state;
  auto it = st.proxies.find(peer);
  if (it == st.proxies.end()) {
    proxy_entry entry;
    // On the I/O thread, like the wire itself: a message to it wakes that
    // thread at once, where a scheduler worker could be asleep polling.
    entry.proxy = self->system().middleman().spawn_broker(proxy_impl, caf::actor_cast<caf::actor>(self),
                                                           std::string(peer.raw()), st.averager);
    it = st.proxies.emplace(peer, std::move(entry)).first;
  }
  it->second.touched = steady::now();
  return it->second;
}

void retire_proxy(broker_ptr self, const node_id& peer) {
  auto& st = self->state;
  auto it = st.proxies.find(peer);
  if (it == st.proxies.end())
    return;
  self->send_exit(it->second.proxy, caf::exit_reason::user_shutdown);
  st.proxies.erase(it);
}

void flush_output(broker_ptr self, connection_handle hdl, connection& c) {
  auto& out = c.link.output();
  if (out.empty())
    return;
  self->write(hdl, out.size(), out.data());
  self->flush(hdl);
  c.queued += out.size();
  out.clear();
}

void drop(broker_ptr self, connection_handle hdl, const std::string& reason);

/// Encrypts and writes one frame; false when the connection's queue is
/// full (the frame is dropped: the peer does not read) or the session failed.
bool send_frame(broker_ptr self, connection_handle hdl, connection& c, frame_kind kind,
                uint64_t request_id, const std::string& body) {
  auto& st = self->state;
  if (c.queued + body.size() > st.cfg.limits.max_queued_bytes) {
    note_refusal(self, "frames dropped for a peer that does not read (its queue is full)");
    return false;
  }
  if (auto err = c.link.send(kind, request_id, body)) {
    drop(self, hdl, describe(err));
    return false;
  }
  c.last_active = steady::now();
  flush_output(self, hdl, c);
  return true;
}

void fail_call(broker_ptr self, uint64_t id, const std::string& why) {
  auto& st = self->state;
  auto it = st.calls.find(id);
  if (it == st.calls.end())
    return;
  it->second.promise.deliver(wire_error(why));
  st.calls.erase(it);
}

void drop(broker_ptr self, connection_handle hdl, const std::string& reason) {
  auto& st = self->state;
  auto it = st.conns.find(hdl);
  if (it == st.conns.end())
    return;
  auto c = std::move(it->second);
  st.conns.erase(it);
  std::vector<uint64_t> failed;
  for (const auto& [id, call] : st.calls)
    if (call.hdl == hdl && call.serial == c.serial)
      failed.push_back(id);
  for (auto id : failed)
    fail_call(self, id, reason);
  if (c.outgoing) {
    auto d = st.dialed.find(c.dial_address);
    if (d != st.dialed.end() && d->second == hdl)
      st.dialed.erase(d);
  }
  if (c.registered) {
    auto peer = c.link.peer_id();
    auto& list = st.by_peer[peer];
    list.erase(std::remove(list.begin(), list.end(), hdl), list.end());
    if (list.empty()) {
      st.by_peer.erase(peer);
      st.inflight_bytes.erase(peer);
      retire_proxy(self, peer);
    }
  } else if (c.outgoing) {
    // A dial that failed: the proxies waiting on that address learn it now.
    std::vector<node_id> stranded;
    for (const auto& [peer, entry] : st.proxies)
      if (entry.address == c.dial_address && !st.by_peer.count(peer))
        stranded.push_back(peer);
    for (const auto& peer : stranded)
      retire_proxy(self, peer);
  }
  for (auto& waiter : c.ready_waiters)
    waiter.deliver(wire_error(reason));
  if (c.link.established())
    c.link.close(reason);
  auto& out = c.link.output();
  if (!out.empty()) {
    self->write(hdl, out.size(), out.data());
    self->flush(hdl);
  }
  self->close(hdl);
}

void maybe_resume(broker_ptr self, connection_handle hdl, connection& c) {
  auto& st = self->state;
  if (!c.halted)
    return;
  auto now = seconds_now();
  if (!c.bytes_budget.available(now) || !c.frames_budget.available(now))
    return;
  if (c.inflight_requests >= st.cfg.limits.max_inflight_requests)
    return;
  if (c.registered) {
    auto in = st.inflight_bytes.find(c.link.peer_id());
    if (in != st.inflight_bytes.end() && in->second > st.cfg.limits.max_inflight_bytes / 2)
      return;
  }
  c.halted = false;
  self->trigger(hdl);
}

void halt(broker_ptr self, connection_handle hdl, connection& c) {
  if (c.halted)
    return;
  c.halted = true;
  self->halt(hdl);
}

connection& add_connection(broker_ptr self, connection_handle hdl, session link, std::string remote_ip,
                           bool outgoing) {
  auto& st = self->state;
  auto now = steady::now();
  connection c(std::move(link));
  c.serial = st.next_serial++;
  c.remote_ip = std::move(remote_ip);
  c.outgoing = outgoing;
  c.opened = now;
  c.last_active = now;
  c.bytes_budget = token_bucket(st.cfg.limits.inbound_bytes_per_second, seconds_now());
  c.frames_budget = token_bucket(st.cfg.limits.inbound_frames_per_second, seconds_now());
  // CAF keeps a read buffer of this size per connection: small until the
  // peer proved who it is.
  self->configure_read(hdl, caf::io::receive_policy::at_most(handshake_read_chunk));
  self->ack_writes(hdl, true);
  return st.conns.emplace(hdl, std::move(c)).first->second;
}

session_settings settings_of(const wire_state& st) {
  session_settings s;
  s.self = &st.cfg.self;
  s.own = st.own;
  s.run_id = st.cfg.run_id;
  s.admission = st.admission;
  s.now = st.cfg.clock();
  return s;
}

/// Dials `address` without blocking; the session's handshake timeout
/// bounds the connect as well.
caf::expected<connection_handle> dial(broker_ptr self, const std::string& address,
                                      std::optional<node_id> expected) {
  auto& st = self->state;
  if (st.conns.size() >= st.cfg.limits.max_connections)
    return wire_error("at the connection limit (" + std::to_string(st.cfg.limits.max_connections) + ")");
  auto hp = split_address(address);
  if (!hp)
    return hp.error();
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = hp->first.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(hp->second);
    inet_pton(AF_INET, hp->first.c_str(), &a->sin_addr);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(hp->second);
    inet_pton(AF_INET6, hp->first.c_str(), &a->sin6_addr);
    len = sizeof(sockaddr_in6);
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return wire_error(std::string("cannot open a socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
    auto why = std::string("cannot connect to ") + address + ": " + std::strerror(errno);
    ::close(fd);
    return wire_error(why);
  }
  auto hdl = self->add_scribe(fd);
  auto settings = settings_of(st);
  settings.expected_peer = expected;
  auto& c = add_connection(self, hdl, session::initiator(settings), hp->first, true);
  c.dial_address = address;
  st.dialed[address] = hdl;
  flush_output(self, hdl, c);
  return hdl;
}

std::optional<connection_handle> established_to(const wire_state& st, const node_id& peer) {
  auto it = st.by_peer.find(peer);
  if (it == st.by_peer.end() || it->second.empty())
    return std::nullopt;
  return it->second.back();
}

/// Queues a frame for `to` on a connection still in its handshake; false when full.
bool queue_frame(broker_ptr self, connection& c, frame f, std::optional<node_id> to) {
  if (c.waiting_bytes + f.body.size() > self->state.cfg.limits.max_queued_bytes)
    return false;
  c.waiting_bytes += f.body.size();
  c.waiting.push_back({std::move(f), to});
  return true;
}

void on_established(broker_ptr self, connection_handle hdl, connection& c) {
  auto& st = self->state;
  // A revocation that arrived during this handshake: the session checked
  // the policy of its start.
  if (st.admission && st.admission->closed() && st.admission->is_revoked(c.link.peer_public_key())) {
    note_refusal(self, "handshakes refused: the peer's key is revoked");
    drop(self, hdl, "refused: the peer's key is revoked by the run's authority");
    return;
  }
  if (const auto& cert = c.link.peer_certificate())
    st.names[c.link.peer_id()] = cert->name;
  self->configure_read(hdl, caf::io::receive_policy::at_most(read_chunk));
  auto peer = c.link.peer_id();
  c.registered = true;
  st.by_peer[peer].push_back(hdl);
  for (auto& waiter : c.ready_waiters)
    waiter.deliver(true);
  c.ready_waiters.clear();
  auto waiting = std::move(c.waiting);
  c.waiting.clear();
  c.waiting_bytes = 0;
  uint64_t serial = c.serial;
  for (auto& [f, to] : waiting) {
    bool call = f.kind == frame_kind::dht_request || f.kind == frame_kind::data_request;
    if (call && !st.calls.count(f.request_id))
      continue; // timed out meanwhile
    if (to && *to != peer) {
      if (call)
        fail_call(self, f.request_id, "a different peer answered at this address");
      continue;
    }
    auto it = st.conns.find(hdl);
    if (it == st.conns.end() || it->second.serial != serial)
      return;
    send_frame(self, hdl, it->second, f.kind, f.request_id, f.body);
  }
}

/// Hands a peer's request to the local actor that answers its kind, as
/// (Atom, the peer's proved key, body), and sends the answer back on the
/// same connection as a frame of `answer_kind`. When the actor fails,
/// `on_failure` makes the answer; without it nothing is sent (the caller
/// times out).
template <class Atom>
void serve_request(broker_ptr self, connection_handle hdl, connection& c, frame& f, const caf::actor& handler,
                   frame_kind answer_kind, std::string (*on_failure)(const caf::error&)) {
  auto& st = self->state;
  c.inflight_requests += 1;
  if (c.inflight_requests >= st.cfg.limits.max_inflight_requests)
    halt(self, hdl, c);
  auto serial = c.serial;
  auto id = f.request_id;
  auto done = [self, hdl, serial, id, answer_kind](const std::string* reply) {
    auto it = self->state.conns.find(hdl);
    if (it == self->state.conns.end() || it->second.serial != serial)
      return;
    auto& conn = it->second;
    conn.inflight_requests -= 1;
    if (reply)
      send_frame(self, hdl, conn, answer_kind, id, *reply);
    if (auto again = self->state.conns.find(hdl); again != self->state.conns.end())
      maybe_resume(self, hdl, again->second);
  };
  auto timeout = std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(st.cfg.limits.call_timeout));
  self->request(handler, timeout, Atom{}, c.link.peer_public_key(), std::move(f.body))
    .then([done](std::string& reply) { done(&reply); },
          [done, on_failure](caf::error& err) {
            if (!on_failure) {
              done(nullptr);
              return;
            }
            auto reply = on_failure(err);
            done(&reply);
          });
}

std::string seeder_failed(const caf::error& err) {
  return data_error_response("the seeder failed: " + describe(err));
}

void dispatch(broker_ptr self, connection_handle hdl, connection& c, frame& f) {
  auto& st = self->state;
  auto peer = c.link.peer_id();
  switch (f.kind) {
    case frame_kind::dht_request:
      if (st.dht)
        serve_request<dht_rpc_atom>(self, hdl, c, f, st.dht, frame_kind::dht_response, nullptr);
      return;
    case frame_kind::data_request:
      if (st.seeder)
        serve_request<data_rpc_atom>(self, hdl, c, f, st.seeder, frame_kind::data_response, seeder_failed);
      else
        send_frame(self, hdl, c, frame_kind::data_response, f.request_id,
                   data_error_response("this peer serves no data"));
      return;
    case frame_kind::dht_response:
    case frame_kind::data_response: {
      auto call = st.calls.find(f.request_id);
      if (call == st.calls.end() || call->second.hdl != hdl || call->second.serial != c.serial ||
          call->second.answer != f.kind)
        return; // late, or not ours to answer: ignored
      call->second.promise.deliver(c.link.peer_public_key(), std::move(f.body));
      st.calls.erase(call);
      return;
    }
    case frame_kind::averaging: {
      if (!st.averager)
        return;
      auto& entry = proxy_for(self, peer);
      auto& inflight = st.inflight_bytes[peer];
      inflight += f.body.size();
      self->send(entry.proxy, wire_in_atom_v, std::move(f.body));
      if (inflight > st.cfg.limits.max_inflight_bytes)
        for (auto h : st.by_peer[peer])
          if (auto it = st.conns.find(h); it != st.conns.end())
            halt(self, h, it->second);
      return;
    }
    case frame_kind::close:
      return; // the session turns a close frame into an error before this
  }
}

void on_data(broker_ptr self, connection_handle hdl, const std::vector<char>& buf) {
  auto& st = self->state;
  auto it = st.conns.find(hdl);
  if (it == st.conns.end())
    return;
  auto& c = it->second;
  c.last_active = steady::now();
  auto now = seconds_now();
  if (!c.bytes_budget.spend(static_cast<double>(buf.size()), now))
    halt(self, hdl, c);
  bool was_established = c.link.established();
  std::vector<frame> frames;
  auto err = c.link.consume(std::string_view(buf.data(), buf.size()), frames);
  flush_output(self, hdl, c);
  if (err) {
    auto why = describe(err);
    // A peer that refuses this node's own dial (another run, admission)
    // is said at once: the node's operator has something to fix.
    if (c.outgoing && why.find("refused") != std::string::npos)
      st.log(why + " (dialling " + c.dial_address + ")");
    if (!was_established)
      note_refusal(self, "handshakes failed (" + why + ")");
    else
      note_refusal(self, "connections closed on a protocol error (the last: peer " +
                           c.link.peer_id().to_hex().substr(0, 12) + ", " + why + ")");
    drop(self, hdl, why);
    return;
  }
  uint64_t serial = c.serial;
  if (!was_established && c.link.established())
    on_established(self, hdl, c);
  for (auto& f : frames) {
    auto again = st.conns.find(hdl);
    if (again == st.conns.end() || again->second.serial != serial)
      return;
    if (!again->second.frames_budget.spend(1, now))
      halt(self, hdl, again->second);
    dispatch(self, hdl, again->second, f);
  }
}

void on_accept(broker_ptr self, connection_handle hdl) {
  auto& st = self->state;
  auto ip = self->remote_addr(hdl);
  std::vector<connection_view> current;
  current.reserve(st.conns.size());
  for (const auto& [h, c] : st.conns)
    current.push_back({c.serial, c.remote_ip, c.link.established(), c.outgoing,
                       std::chrono::duration<double>(c.opened.time_since_epoch()).count()});
  auto verdict = admit(current, ip, st.cfg.limits);
  if (!verdict.reason.empty())
    note_refusal(self, verdict.reason);
  if (!verdict.accept) {
    self->close(hdl);
    return;
  }
  if (verdict.evict)
    for (const auto& [h, c] : st.conns)
      if (c.serial == *verdict.evict) {
        drop(self, h, "evicted: too many connections in their handshake");
        break;
      }
  int one = 1;
  ::setsockopt(static_cast<int>(hdl.id()), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  add_connection(self, hdl, session::responder(settings_of(st)), ip, false);
}

void on_tick(broker_ptr self) {
  auto& st = self->state;
  auto now = steady::now();
  const auto& limits = st.cfg.limits;
  std::vector<std::pair<connection_handle, std::string>> expired;
  for (auto& [hdl, c] : st.conns) {
    if (!c.link.established()) {
      if (seconds_since(c.opened, now) > limits.handshake_timeout)
        expired.emplace_back(hdl, c.outgoing ? "cannot connect to " + c.dial_address + " (no handshake in time)"
                                             : "handshake timed out");
      continue;
    }
    bool busy = c.inflight_requests > 0;
    for (const auto& [id, call] : st.calls)
      busy = busy || (call.hdl == hdl && call.serial == c.serial);
    if (!busy && seconds_since(c.last_active, now) > limits.idle_timeout)
      expired.emplace_back(hdl, "idle");
  }
  for (const auto& [hdl, why] : expired) {
    if (why == "handshake timed out")
      note_refusal(self, "connections closed: no handshake in time");
    drop(self, hdl, why);
  }
  std::vector<uint64_t> late;
  for (const auto& [id, call] : st.calls)
    if (now > call.deadline)
      late.push_back(id);
  for (auto id : late)
    fail_call(self, id, "no answer in time");
  for (auto& [hdl, c] : st.conns)
    maybe_resume(self, hdl, c);
  std::vector<node_id> unused;
  for (const auto& [peer, entry] : st.proxies) {
    bool dialing = !entry.address.empty() && st.dialed.count(entry.address);
    if (!st.by_peer.count(peer) && !dialing && seconds_since(entry.touched, now) > limits.idle_timeout)
      unused.push_back(peer);
  }
  for (const auto& peer : unused)
    retire_proxy(self, peer);
  flush_refusals(self, now);
  self->delayed_send(self, tick_interval, wire_tick_atom_v);
}

/// Sends a request of `kind` (a DHT or a data request) to the peer at
/// `address` (dialling it unless a session with the expected peer or that
/// address exists); the promise it returns gets (the responder's key, the
/// answer's body), or an error when no answer comes in time.
caf::result<std::string, std::string> start_call(broker_ptr self, frame_kind kind, const std::string& address,
                                                 const std::string& expected_raw, std::string& bytes) {
  auto& st = self->state;
  if (bytes.size() > max_frame_body)
    return wire_error("a request larger than a frame");
  std::optional<node_id> expected;
  if (!expected_raw.empty()) {
    expected = node_id::from_bytes(expected_raw);
    if (!expected)
      return wire_error("a peer id must be 20 bytes");
    if (*expected == st.cfg.self.id())
      return wire_error("a call to this node itself");
  }
  std::optional<connection_handle> hdl;
  if (expected)
    hdl = established_to(st, *expected);
  if (!hdl)
    if (auto d = st.dialed.find(address); d != st.dialed.end())
      hdl = d->second;
  if (!hdl) {
    auto opened = dial(self, address, expected);
    if (!opened)
      return opened.error();
    hdl = *opened;
  }
  auto& c = st.conns.at(*hdl);
  auto id = st.next_call++;
  auto timeout = std::chrono::duration<double>(st.cfg.limits.call_timeout);
  auto& call = st.calls[id];
  call.promise = self->make_response_promise<std::string, std::string>();
  call.answer = kind == frame_kind::data_request ? frame_kind::data_response : frame_kind::dht_response;
  call.hdl = *hdl;
  call.serial = c.serial;
  call.expected = expected;
  call.deadline = steady::now() + std::chrono::duration_cast<steady::duration>(timeout);
  auto promise = call.promise;
  if (c.link.established()) {
    if (expected && c.link.peer_id() != *expected) {
      fail_call(self, id, "a different peer answered at this address");
    } else if (!send_frame(self, *hdl, c, kind, id, bytes)) {
      fail_call(self, id, "the peer's queue is full");
    }
  } else if (!queue_frame(self, c, frame{kind, id, std::move(bytes)}, expected)) {
    fail_call(self, id, "too much queued for a peer still connecting");
  }
  return promise;
}

caf::behavior wire_impl(broker_ptr self, wire_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.clock)
    st.cfg.clock = system_seconds;
  st.own = credentials::of(st.cfg.self, st.cfg.certificate);
  st.admission = st.cfg.admission;
  st.refusals_logged = steady::now();
  if (st.cfg.listen_fd >= 0)
    self->add_doorman(st.cfg.listen_fd);
  self->delayed_send(self, tick_interval, wire_tick_atom_v);
  return {
    [self](const caf::io::new_connection_msg& msg) { on_accept(self, msg.handle); },
    [self](const caf::io::new_data_msg& msg) { on_data(self, msg.handle, msg.buf); },
    [self](const caf::io::connection_closed_msg& msg) {
      drop(self, msg.handle, "the connection closed");
    },
    [self](const caf::io::data_transferred_msg& msg) {
      auto it = self->state.conns.find(msg.handle);
      if (it != self->state.conns.end())
        it->second.queued = static_cast<size_t>(msg.remaining);
    },
    [self](const caf::io::acceptor_closed_msg&) { self->state.log("wire: the listening socket closed"); },
    [self](wire_tick_atom) { on_tick(self); },
    [self](wire_routes_atom, caf::actor& dht, caf::actor& averager) {
      self->state.dht = std::move(dht);
      self->state.averager = std::move(averager);
    },
    [self](wire_seeder_atom, caf::actor& seeder) { self->state.seeder = std::move(seeder); },
    [self](wire_stats_atom) -> caf::result<size_t, size_t, size_t> {
      size_t established = 0;
      for (const auto& [hdl, c] : self->state.conns)
        established += c.link.established() ? 1 : 0;
      auto total = self->state.conns.size();
      return {total, established, total - established};
    },
    [self](wire_revoke_atom, const std::string& bytes) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.admission)
        return wire_error("this node has no run manifest to check a revocation against");
      auto revoked = read_revocation(bytes, st.admission->manifest());
      if (!revoked)
        return wire_error("revocation refused: " + describe(revoked.error()));
      if (st.admission->is_revoked(revoked->peer_key))
        return false;
      st.admission = std::make_shared<const admission_policy>(st.admission->with_revoked(revoked->peer_key));
      auto peer = peer_id_of(revoked->peer_key);
      st.names.erase(peer);
      st.log("wire: peer " + peer.to_hex() + " revoked by the run's authority" +
             (revoked->reason.empty() ? std::string() : " (" + revoked->reason + ")"));
      if (st.admission->closed())
        if (auto list = st.by_peer.find(peer); list != st.by_peer.end()) {
          auto handles = list->second; // drop() edits the list
          for (auto h : handles)
            drop(self, h, "refused: the peer's key is revoked by the run's authority");
        }
      return true;
    },
    [self](wire_names_atom) -> caf::result<std::map<std::string, std::string>> {
      std::map<std::string, std::string> out;
      for (const auto& [peer, name] : self->state.names)
        out.emplace(peer.to_hex(), name);
      return out;
    },
    [self](dht_call_atom, const std::string& address, const std::string& expected_raw,
           std::string& bytes) -> caf::result<std::string, std::string> {
      return start_call(self, frame_kind::dht_request, address, expected_raw, bytes);
    },
    [self](data_call_atom, const std::string& address, const std::string& expected_raw,
           std::string& bytes) -> caf::result<std::string, std::string> {
      return start_call(self, frame_kind::data_request, address, expected_raw, bytes);
    },
    [self](wire_peer_atom, const std::string& peer_raw,
           const std::string& address) -> caf::result<caf::actor> {
      auto peer = node_id::from_bytes(peer_raw);
      if (!peer)
        return wire_error("a peer id must be 20 bytes");
      if (!address.empty())
        if (auto hp = split_address(address); !hp)
          return hp.error();
      auto& entry = proxy_for(self, *peer);
      if (!address.empty())
        entry.address = address;
      return entry.proxy;
    },
    [self](wire_connect_atom, const std::string& peer_raw, const std::string& address) -> caf::result<bool> {
      auto& st = self->state;
      auto peer = node_id::from_bytes(peer_raw);
      if (!peer)
        return wire_error("a peer id must be 20 bytes");
      if (established_to(st, *peer))
        return true;
      connection_handle hdl;
      if (auto d = st.dialed.find(address); d != st.dialed.end()) {
        hdl = d->second;
      } else {
        auto opened = dial(self, address, *peer);
        if (!opened)
          return opened.error();
        hdl = *opened;
      }
      auto& c = st.conns.at(hdl);
      if (c.link.established())
        return c.link.peer_id() == *peer ? caf::result<bool>(true)
                                         : caf::result<bool>(wire_error("a different peer answered at " + address));
      c.ready_waiters.push_back(self->make_response_promise<bool>());
      return c.ready_waiters.back();
    },
    [self](wire_send_atom, const std::string& peer_raw, std::string& bytes) {
      auto& st = self->state;
      auto peer = node_id::from_bytes(peer_raw);
      if (!peer)
        return;
      if (auto hdl = established_to(st, *peer)) {
        send_frame(self, *hdl, st.conns.at(*hdl), frame_kind::averaging, 0, bytes);
        return;
      }
      auto entry = st.proxies.find(*peer);
      if (entry == st.proxies.end())
        return;
      const auto address = entry->second.address;
      if (address.empty()) {
        // It dialled us and that connection is gone: its proxy goes too.
        retire_proxy(self, *peer);
        return;
      }
      connection_handle hdl;
      if (auto d = st.dialed.find(address); d != st.dialed.end()) {
        hdl = d->second;
      } else {
        auto opened = dial(self, address, *peer);
        if (!opened) {
          st.log("wire: " + describe(opened.error()));
          retire_proxy(self, *peer);
          return;
        }
        hdl = *opened;
      }
      auto& c = st.conns.at(hdl);
      if (c.link.established()) {
        // Established, yet not to this peer: someone else now answers at
        // its address. The peer is gone for us.
        st.log("wire: another peer answers at " + address + " than " + peer->to_hex().substr(0, 12));
        retire_proxy(self, *peer);
      } else if (!queue_frame(self, c, frame{frame_kind::averaging, 0, std::move(bytes)}, *peer)) {
        note_refusal(self, "frames dropped for a peer still connecting (its queue is full)");
      }
    },
    [self](wire_ack_atom, const std::string& peer_raw, uint64_t size) {
      auto& st = self->state;
      auto peer = node_id::from_bytes(peer_raw);
      if (!peer)
        return;
      auto in = st.inflight_bytes.find(*peer);
      if (in == st.inflight_bytes.end())
        return;
      in->second -= std::min<size_t>(in->second, size);
      if (auto list = st.by_peer.find(*peer); list != st.by_peer.end())
        for (auto h : list->second)
          if (auto it = st.conns.find(h); it != st.conns.end())
            maybe_resume(self, h, it->second);
    },
  };
}

} // namespace

caf::expected<std::pair<std::string, uint16_t>> split_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return wire_error("'" + address + "' is not HOST:PORT");
  auto host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port_text = address.substr(colon + 1);
  if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos)
    return wire_error("'" + address + "': the port must be a number");
  auto port = std::stoul(port_text);
  if (port == 0 || port > 65535)
    return wire_error("'" + address + "': port out of range");
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1)
    return wire_error("'" + address + "': the host must be a numeric IP address");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

caf::expected<std::pair<int, uint16_t>> listen(const std::string& host, uint16_t port) {
  unsigned char buf[sizeof(in6_addr)];
  bool v6 = inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (!v6 && inet_pton(AF_INET, host.c_str(), buf) != 1)
    return wire_error("cannot listen on '" + host + "': not a numeric IP address");
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return wire_error(std::string("cannot open a socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, buf, sizeof(in6_addr));
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, buf, sizeof(in_addr));
    len = sizeof(sockaddr_in);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 128) != 0) {
    auto why = "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return wire_error(why);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  uint16_t actual = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::make_pair(fd, actual);
}

caf::actor spawn_wire(caf::actor_system& sys, wire_config config) {
  return sys.middleman().spawn_broker(wire_impl, std::move(config));
}

} // namespace ttt::wire
