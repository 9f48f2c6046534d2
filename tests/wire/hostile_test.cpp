// A real `ttt node` on loopback against a hostile client written here (never
// in the shipped binary): length headers announcing gigabytes, hundreds of
// connections that never finish their handshake, random bytes, a valid
// handshake followed by garbage, a frame that names another peer as its
// sender, frames of kinds the protocol does not have. The node must stay up,
// its memory within a bound, and an honest peer must store and read DHT
// values through it during the attack and after.
#define BOOST_TEST_MODULE wire_hostile
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/dht/protocol.hpp"
#include "actors/wire/session.hpp"
#include "tests/common/process.hpp"
#include "tests/adversary/wire_client.hpp"
#include "tests/wire/hand_initiator.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>

using namespace ttt;
using namespace ttt::test;

namespace {

constexpr const char* run_id = "ttt-demo"; // configs/node.ini's run

/// Resident memory of `pid` in MiB.
double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

/// True when the node closed the connection within `limit` (reading and
/// discarding whatever it sent first).
bool closed_by_node(int fd, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return true;
    }
  }
  return false;
}

/// Exactly `n` bytes from `fd` (fails the test when the node closes first).
std::string read_exactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    auto r = ::recv(fd, out.data() + got, n - got, 0);
    BOOST_REQUIRE_MESSAGE(r > 0, "the node closed the connection early");
    got += static_cast<size_t>(r);
  }
  return out;
}

struct honest_client {
  const temp_dir& tmp;
  std::string address;
  int counter = 0;

  std::pair<int, std::string> dht(std::vector<std::string> args) {
    args.insert(args.begin(), {ttt_binary(), "dht"});
    return run(args, tmp.path() + "/cli" + std::to_string(counter++) + ".log");
  }
  void store_and_read(const std::string& key) {
    auto [rc, out] = dht({"store", "--initial-peer", address, key, "value-of-" + key});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    auto [rc2, out2] = dht({"get", "--initial-peer", address, key});
    BOOST_REQUIRE_MESSAGE(rc2 == 0, out2);
    BOOST_TEST(out2.find("value-of-" + key) != std::string::npos, out2);
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_node_under_attack_stays_up_bounded_and_serves_honest_peers) {
  temp_dir tmp;
  process node({ttt_binary(), "node", "--profile", TTT_SOURCE_DIR "/configs/node.ini", "--listen",
                "127.0.0.1:0", "--data-dir", tmp.path() + "/node"},
               tmp.path() + "/node.log");
  auto ready = node.wait_for("ttt node ([0-9a-f]{40}) listening on (127\\.0\\.0\\.1:([0-9]+))");
  BOOST_REQUIRE_MESSAGE(ready, node.output());
  auto node_id_hex = (*ready)[1];
  std::string address = (*ready)[2];
  auto port = static_cast<uint16_t>(std::stoi((*ready)[3]));
  honest_client honest{tmp, node_id_hex + "@" + address};
  honest.store_and_read("before");
  double idle_rss = rss_mib(node.pid());
  BOOST_TEST_MESSAGE("idle RSS " << idle_rss << " MiB");

  std::vector<int> held;
  // 1. BASP's client handshake header announcing a 1 GiB payload, the
  // attack that cost 1 GiB per connection: here it is not a ttt preamble.
  std::string basp(32, '\0');
  basp[0] = 0x00, basp[1] = 0x00, basp[2] = 0x00, basp[3] = 0x40; // payload_len = 1 GiB
  for (int i = 0; i < 8; ++i) {
    int fd = connect_from("127.0.0.2", port);
    if (fd < 0)
      continue;
    send_all(fd, basp);
    BOOST_TEST(closed_by_node(fd));
    ::close(fd);
  }
  // 2. Hundreds of connections from twenty addresses that never say a word:
  // past the cap per address (16) they are closed at once; past the cap on
  // connections in their handshake (128) the oldest are evicted for newer
  // ones; the rest are closed when their handshake time runs out. The
  // honest peer's handshake, newer than all of them, gets through.
  for (int a = 10; a < 30; ++a)
    for (int i = 0; i < 20; ++i) {
      int fd = connect_from("127.0.1." + std::to_string(a), port);
      if (fd >= 0)
        held.push_back(fd);
    }
  BOOST_TEST_MESSAGE("holding " << held.size() << " silent connections");
  // 3. Random bytes.
  std::mt19937 rng(7);
  for (int i = 0; i < 8; ++i) {
    int fd = connect_from("127.0.0.3", port);
    if (fd < 0)
      continue;
    std::string noise(65536, '\0');
    for (auto& c : noise)
      c = static_cast<char>(rng());
    send_all(fd, noise);
    BOOST_TEST(closed_by_node(fd));
    ::close(fd);
  }
  // 4. A valid handshake, then garbage: the record fails authentication.
  auto mallory = identity::generate();
  {
    int fd = connect_from("127.0.0.4", port);
    BOOST_REQUIRE(fd >= 0);
    auto link = handshake(fd, mallory);
    send_all(fd, std::string("\x00\x40", 2) + std::string(64, 'g'));
    BOOST_TEST(closed_by_node(fd));
    ::close(fd);
  }
  // 5. Authenticated frames announcing gigabytes, and of a kind the
  // protocol does not have (CAF's system and local messages among them:
  // nothing but the wire's kinds reaches any actor): closed at the header.
  for (auto [length, kind] : {std::pair<uint32_t, uint8_t>{0xfffffff0u, 3}, {4u, 200}}) {
    int fd = connect_from("127.0.0.4", port);
    BOOST_REQUIRE(fd >= 0);
    hand_initiator h(mallory, run_id);
    send_all(fd, h.hello());
    auto reply = read_exactly(fd, wire::responder_preamble_size + 2);
    auto length_2 = (static_cast<uint8_t>(reply[8]) << 8) | static_cast<uint8_t>(reply[9]);
    reply += read_exactly(fd, static_cast<size_t>(length_2));
    send_all(fd, h.answer(reply, payload(mallory, public_of(h.static_keys), mallory)));
    send_all(fd, h.record(hand_initiator::header(length, kind) + "body"));
    BOOST_TEST(closed_by_node(fd));
    ::close(fd);
  }
  // 6. A DHT request that names another, real peer as its sender: answered
  // with a refusal; the victim's address is planted nowhere.
  {
    int fd = connect_from("127.0.0.5", port);
    BOOST_REQUIRE(fd >= 0);
    auto link = handshake(fd, mallory);
    auto victim = identity::generate();
    dht::dht_request req;
    req.sender = dht::peer_info{victim.id(), "127.0.0.9", 9, victim.public_key()};
    req.kind = dht::request_kind::ping;
    BOOST_REQUIRE(!link.send(wire::frame_kind::dht_request, 7, dht::encode(req)));
    send_all(fd, link.output());
    link.output().clear();
    auto answer = next_frame(fd, link);
    BOOST_REQUIRE(answer);
    BOOST_TEST((answer->kind == wire::frame_kind::dht_response));
    BOOST_TEST(answer->request_id == 7u);
    auto resp = dht::decode_response(answer->body);
    BOOST_REQUIRE(resp);
    BOOST_TEST(resp->error.find("names another sender") != std::string::npos, resp->error);
    ::close(fd);
  }
  // During the attack (the silent connections still held), an honest peer
  // from its own address stores and reads.
  honest.store_and_read("during");
  double attacked_rss = rss_mib(node.pid());
  BOOST_TEST_MESSAGE("RSS under attack " << attacked_rss << " MiB");
  BOOST_TEST(node.running());
  BOOST_TEST(attacked_rss - idle_rss < 256.0);
  // The node closed the silent connections itself (at once past the cap
  // per address, the others at the end of their handshake time).
  size_t closed = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(25);
  for (int fd : held) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (closed_by_node(fd, std::max(left, std::chrono::milliseconds(1))))
      ++closed;
    ::close(fd);
  }
  BOOST_TEST(closed == held.size());
  honest.store_and_read("after");
  BOOST_TEST(node.running());
  BOOST_TEST(rss_mib(node.pid()) - idle_rss < 256.0);
  // The refusals were logged, briefly: one line per reason and period (of
  // 10 s, so the last period may still be open).
  for (const char* said : {"too many from 127\\.0\\.1\\.", "evicted for newer ones", "bad magic"})
    BOOST_TEST(node.wait_for(said, std::chrono::seconds(15)).has_value(), said << "\n" << node.output());
  auto log = node.output();
  BOOST_TEST(std::count(log.begin(), log.end(), '\n') < 60, log); // hundreds of refusals, a few dozen lines
}
