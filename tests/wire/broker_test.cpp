// Two wires in one process over real TCP on loopback, with stand-in actors
// behind them: a DHT call reaches the other side's DHT with the caller's
// proved key and comes back with the callee's; averaging bytes travel
// through the proxies with the proved peer id; a wrong expected id is
// refused; a peer that goes away takes its proxy with it.
#define BOOST_TEST_MODULE wire_broker
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/wire/wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

using namespace ttt;
using namespace std::chrono_literals;

namespace {

struct config : caf::actor_system_config {
  config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::ttt>();
    set("logger.verbosity", caf::atom("quiet"));
    set("scheduler.policy", caf::atom("sharing"));
  }
};

/// A DHT stand-in: answers every request with "from <sender key>: <bytes>".
caf::behavior echo_dht(caf::event_based_actor*) {
  return {
    [](dht_rpc_atom, const std::string& sender_key, const std::string& bytes) -> std::string {
      return "from " + sender_key + ": " + bytes;
    },
  };
}

/// An averager stand-in: tells `observer` (peer id, bytes, proxy) of every
/// message from the wire, and answers "pong" to the proxy it came through.
caf::behavior recording_averager(caf::event_based_actor* self, caf::actor observer) {
  return {
    [self, observer](avg_rpc_atom, const std::string& peer_id, const std::string& bytes) {
      auto proxy = caf::actor_cast<caf::actor>(self->current_sender());
      self->send(observer, peer_id, bytes, proxy);
      if (bytes == "ping")
        self->send(proxy, avg_rpc_atom_v, std::string("pong"));
    },
  };
}

struct side {
  identity me = identity::generate();
  caf::actor wire;
  uint16_t port = 0;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

side start(caf::actor_system& sys, const std::string& run, caf::actor dht, caf::actor averager,
           double handshake_timeout = 10) {
  side s;
  auto listening = wire::listen("127.0.0.1", 0);
  BOOST_REQUIRE(listening);
  wire::wire_config wc;
  wc.self = s.me;
  wc.run_id = run;
  wc.listen_fd = listening->first;
  wc.limits.handshake_timeout = handshake_timeout;
  s.port = listening->second;
  s.wire = wire::spawn_wire(sys, wc);
  caf::anon_send(s.wire, wire_routes_atom_v, dht, averager);
  return s;
}

} // namespace

BOOST_AUTO_TEST_CASE(calls_and_averaging_bytes_carry_the_proved_identities) {
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  auto dht_b = sys.spawn(echo_dht);
  auto avg_a = sys.spawn(recording_averager, caf::actor_cast<caf::actor>(self));
  auto avg_b = sys.spawn(recording_averager, caf::actor_cast<caf::actor>(self));
  auto a = start(sys, "run", caf::actor{}, avg_a);
  auto b = start(sys, "run", dht_b, avg_b);

  // A DHT call from a to b: b's DHT sees a's key; a gets b's key back.
  std::string responder, reply;
  self->request(a.wire, 10s, dht_call_atom_v, b.address(), std::string(b.me.id().raw()), std::string("hello"))
    .receive([&](std::string& key, std::string& body) { responder = key, reply = body; },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(responder == b.me.public_key());
  BOOST_TEST(reply == "from " + a.me.public_key() + ": hello");

  // The same address with another expected id: refused.
  auto stranger = identity::generate();
  std::string failure;
  self->request(a.wire, 10s, dht_call_atom_v, b.address(), std::string(stranger.id().raw()), std::string("x"))
    .receive([&](std::string&, std::string&) {}, [&](caf::error& err) { failure = describe(err); });
  BOOST_TEST(failure.find("different peer") != std::string::npos, failure);

  // A run of another id is refused at the handshake.
  auto c = start(sys, "another-run", dht_b, avg_b);
  failure.clear();
  self->request(a.wire, 10s, dht_call_atom_v, c.address(), std::string(), std::string("x"))
    .receive([&](std::string&, std::string&) {}, [&](caf::error& err) { failure = describe(err); });
  BOOST_TEST(failure.find("another run") != std::string::npos, failure);

  // Averaging: a's averager sends to its proxy for b; b's averager gets the
  // bytes with a's id, from b's proxy for a, and answers through it.
  caf::actor proxy_for_b;
  self->request(a.wire, 10s, wire_peer_atom_v, std::string(b.me.id().raw()), b.address())
    .receive([&](caf::actor& p) { proxy_for_b = p; }, [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_REQUIRE(proxy_for_b);
  caf::send_as(avg_a, proxy_for_b, avg_rpc_atom_v, std::string("ping"));
  std::string at_b_from, at_a_from;
  caf::actor proxy_at_b;
  self->receive([&](std::string& peer, std::string& bytes, caf::actor& proxy) {
    BOOST_TEST(bytes == "ping");
    at_b_from = peer;
    proxy_at_b = proxy;
  }, caf::after(10s) >> [] { BOOST_FAIL("ping did not arrive"); });
  BOOST_TEST(at_b_from == std::string(a.me.id().raw()));
  self->receive([&](std::string& peer, std::string& bytes, caf::actor& proxy) {
    BOOST_TEST(bytes == "pong");
    at_a_from = peer;
    BOOST_TEST((proxy == proxy_for_b)); // the same handle a's averager holds for b
  }, caf::after(10s) >> [] { BOOST_FAIL("pong did not arrive"); });
  BOOST_TEST(at_a_from == std::string(b.me.id().raw()));

  // One connection carried all of it (in a's count: to b, and the refused
  // one to c is gone).
  self->request(a.wire, 10s, wire_stats_atom_v)
    .receive([&](size_t total, size_t established, size_t) {
      BOOST_TEST(total == 1u);
      BOOST_TEST(established == 1u);
    }, [&](caf::error& err) { BOOST_FAIL(describe(err)); });

  // b goes away: a's proxy for b ends, so an averager monitoring it sees the peer go.
  self->monitor(proxy_for_b);
  caf::anon_send_exit(b.wire, caf::exit_reason::kill);
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == proxy_for_b.address(); },
                caf::after(10s) >> [] {});
  BOOST_TEST(down);

  for (auto actor : {a.wire, c.wire, dht_b, avg_a, avg_b})
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_tarpit_stalls_only_the_calls_to_it) {
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  auto dht_b = sys.spawn(echo_dht);
  auto a = start(sys, "run", caf::actor{}, caf::actor{}, 5);
  auto b = start(sys, "run", dht_b, caf::actor{});
  // A port whose owner never accepts, its queue already full: the kernel
  // drops further SYNs, so a connect to it hangs (as to a blackholed
  // address) until the dialler gives up.
  int tarpit = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  BOOST_REQUIRE(::bind(tarpit, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  BOOST_REQUIRE(::listen(tarpit, 0) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(tarpit, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void) ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }
  auto tarpit_address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  // The call to the tarpit, from an actor of its own that reports how it ended.
  auto observer = caf::actor_cast<caf::actor>(self);
  auto wire_a = a.wire;
  sys.spawn([observer, wire_a, tarpit_address](caf::event_based_actor* asker) {
    asker->request(wire_a, 30s, dht_call_atom_v, tarpit_address, std::string(), std::string("x"))
      .then([asker, observer](std::string&, std::string&) { asker->send(observer, std::string("answered")); },
            [asker, observer](caf::error& err) { asker->send(observer, describe(err)); });
  });
  // Meanwhile a call to a live peer is answered, before the tarpit's call ends.
  std::string reply;
  self->request(a.wire, 10s, dht_call_atom_v, b.address(), std::string(), std::string("hi"))
    .receive([&](std::string&, std::string& body) { reply = body; },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(reply == "from " + a.me.public_key() + ": hi");
  BOOST_TEST(self->mailbox().empty()); // the tarpit's call is still pending
  // It fails when its handshake time (5 s here) is up.
  std::string stalled;
  self->receive([&](std::string& how) { stalled = how; }, caf::after(20s) >> [] {});
  BOOST_TEST(stalled.find("no handshake in time") != std::string::npos, stalled);
  ::close(tarpit);
  for (int fd : fillers)
    ::close(fd);
  for (auto actor : {a.wire, b.wire, dht_b})
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}
