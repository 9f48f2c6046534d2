// The wire's session as a pure function of the bytes exchanged: two
// sessions joined by hand, and a hand-made initiator that sends what an
// attacker would (forged identities, oversized or unknown frames, replays).
#define BOOST_TEST_MODULE wire_session
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/wire/session.hpp"
#include "tests/wire/hand_initiator.hpp"

#include <cstring>

using namespace ttt;
using namespace ttt::wire;
using namespace ttt::test;

namespace {

session_settings settings(const identity& self, std::string run = "run-a") {
  session_settings s;
  s.self = &self;
  s.run_id = std::move(run);
  return s;
}

/// Moves each side's output to the other until neither has anything to
/// say; the first error of either side is returned with its side.
struct pair_result {
  caf::error initiator_error;
  caf::error responder_error;
  std::vector<frame> at_initiator;
  std::vector<frame> at_responder;
};

pair_result exchange(session& a, session& b) {
  pair_result r;
  for (int round = 0; round < 16; ++round) {
    bool moved = false;
    if (!a.output().empty() && !r.initiator_error && !r.responder_error) {
      auto bytes = std::move(a.output());
      a.output().clear();
      r.responder_error = b.consume(bytes, r.at_responder);
      moved = true;
    }
    if (!b.output().empty() && !r.initiator_error) {
      auto bytes = std::move(b.output());
      b.output().clear();
      r.initiator_error = a.consume(bytes, r.at_initiator);
      moved = true;
    }
    if (!moved)
      break;
  }
  return r;
}

std::string text_of(const caf::error& err) {
  return describe(err);
}

} // namespace

BOOST_AUTO_TEST_CASE(two_sessions_authenticate_each_other_and_carry_frames_of_every_size) {
  auto alice = identity::generate();
  auto bob = identity::generate();
  auto a = session::initiator(settings(alice));
  auto b = session::responder(settings(bob));
  auto r = exchange(a, b);
  BOOST_TEST(!r.initiator_error, text_of(r.initiator_error));
  BOOST_TEST(!r.responder_error, text_of(r.responder_error));
  BOOST_REQUIRE(a.established() && b.established());
  BOOST_TEST((a.peer_id() == bob.id()));
  BOOST_TEST((b.peer_id() == alice.id()));
  BOOST_TEST(a.peer_public_key() == bob.public_key());
  BOOST_TEST((a.suite() == b.suite()));
  for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{65506}, size_t{65507},
                      size_t{65520}, size_t{512 * 1024}, max_frame_body}) {
    std::string body(size, '\0');
    for (size_t i = 0; i < size; ++i)
      body[i] = static_cast<char>(i * 7 + size);
    BOOST_REQUIRE(!a.send(frame_kind::averaging, 0, body));
    BOOST_REQUIRE(!b.send(frame_kind::dht_response, size + 3, body));
    auto got = exchange(a, b);
    BOOST_REQUIRE(!got.initiator_error && !got.responder_error);
    BOOST_REQUIRE_EQUAL(got.at_responder.size(), 1u);
    BOOST_REQUIRE_EQUAL(got.at_initiator.size(), 1u);
    BOOST_TEST((got.at_responder[0].kind == frame_kind::averaging));
    BOOST_TEST((got.at_responder[0].body == body));
    BOOST_TEST((got.at_initiator[0].kind == frame_kind::dht_response));
    BOOST_TEST(got.at_initiator[0].request_id == size + 3);
    BOOST_TEST((got.at_initiator[0].body == body));
  }
  // Byte by byte: the same frames, whatever the reads' boundaries.
  BOOST_REQUIRE(!a.send(frame_kind::dht_request, 42, "hello"));
  auto bytes = std::move(a.output());
  a.output().clear();
  std::vector<frame> frames;
  for (char c : bytes)
    BOOST_REQUIRE(!b.consume(std::string_view(&c, 1), frames));
  BOOST_REQUIRE_EQUAL(frames.size(), 1u);
  BOOST_TEST(frames[0].body == "hello");
  BOOST_TEST(frames[0].request_id == 42u);
  BOOST_TEST(static_cast<bool>(a.send(frame_kind::averaging, 0, std::string(max_frame_body + 1, 'x'))));
}

BOOST_AUTO_TEST_CASE(a_peer_of_another_run_or_version_is_refused_before_any_handshake_work) {
  auto alice = identity::generate();
  auto bob = identity::generate();
  auto a = session::initiator(settings(alice, "run-a"));
  auto b = session::responder(settings(bob, "run-b"));
  auto r = exchange(a, b);
  BOOST_TEST(text_of(r.responder_error).find("another run") != std::string::npos, text_of(r.responder_error));
  BOOST_TEST(text_of(r.initiator_error).find("belongs to another run") != std::string::npos,
             text_of(r.initiator_error));
  BOOST_TEST(!a.established());
  BOOST_TEST(!b.established());

  // A responder that says it is busy: the initiator is told so.
  auto busy_settings = settings(bob, "run-a");
  busy_settings.refuse = refusal::busy;
  auto busy = session::responder(busy_settings);
  auto again = session::initiator(settings(alice, "run-a"));
  auto refused = exchange(again, busy);
  BOOST_TEST(text_of(refused.initiator_error).find("at its connection limit") != std::string::npos,
             text_of(refused.initiator_error));

  hand_initiator old_version(alice, "run-a", protocol_version + 1);
  auto c = session::responder(settings(bob, "run-a"));
  std::vector<frame> frames;
  auto err = c.consume(old_version.hello(), frames);
  BOOST_TEST(text_of(err).find("another version") != std::string::npos, text_of(err));
  BOOST_TEST(static_cast<int>(c.output()[6]) == static_cast<int>(refusal::version));
}

BOOST_AUTO_TEST_CASE(a_responder_that_proves_another_identity_than_expected_is_refused) {
  auto alice = identity::generate();
  auto bob = identity::generate();
  auto mallory = identity::generate();
  auto s = settings(alice);
  s.expected_peer = bob.id();
  auto a = session::initiator(s);
  auto m = session::responder(settings(mallory));
  auto r = exchange(a, m);
  BOOST_TEST(text_of(r.initiator_error).find("not the expected") != std::string::npos, text_of(r.initiator_error));
  BOOST_TEST(!a.established());
}

BOOST_AUTO_TEST_CASE(a_node_that_reaches_itself_is_refused) {
  auto alice = identity::generate();
  auto a = session::initiator(settings(alice));
  auto b = session::responder(settings(alice));
  auto r = exchange(a, b);
  BOOST_TEST(text_of(r.initiator_error).find("this node itself") != std::string::npos, text_of(r.initiator_error));
}

BOOST_AUTO_TEST_CASE(an_initiator_claiming_another_identity_is_refused) {
  auto bob = identity::generate();
  auto victim = identity::generate();
  auto mallory = identity::generate();
  // Mallory's Noise key with the victim's identity key and a signature she
  // cannot make: the static key is not the identity's.
  {
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(h.hello(), frames));
    auto m3 = h.answer(b.output(), payload(victim, public_of(h.static_keys), mallory));
    auto err = b.consume(m3, frames);
    BOOST_TEST(text_of(err).find("not the peer's identity key") != std::string::npos, text_of(err));
    BOOST_TEST(!b.established());
  }
  // Her own identity with a bad signature.
  {
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(h.hello(), frames));
    auto m3 = h.answer(b.output(), payload(mallory, std::string(32, 'x'), mallory));
    auto err = b.consume(m3, frames);
    BOOST_TEST(text_of(err).find("does not verify") != std::string::npos, text_of(err));
  }
  // Garbage where the payload should be.
  {
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(h.hello(), frames));
    auto err = b.consume(h.answer(b.output(), "not a payload"), frames);
    BOOST_TEST(text_of(err).find("handshake payload") != std::string::npos, text_of(err));
  }
  // And the honest form is accepted, so the refusals above are about the payload.
  {
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(h.hello(), frames));
    auto err = b.consume(h.answer(b.output(), payload(mallory, public_of(h.static_keys), mallory)), frames);
    BOOST_TEST(!err, text_of(err));
    BOOST_TEST(b.established());
    BOOST_TEST((b.peer_id() == mallory.id()));
  }
}

BOOST_AUTO_TEST_CASE(a_replayed_handshake_does_not_establish_a_session) {
  auto alice = identity::generate();
  auto bob = identity::generate();
  auto a = session::initiator(settings(alice));
  auto b = session::responder(settings(bob));
  std::vector<frame> frames;
  // Everything the initiator sends, recorded by an eavesdropper.
  auto hello = a.output();
  a.output().clear();
  BOOST_REQUIRE(!b.consume(hello, frames));
  BOOST_REQUIRE(!a.consume(b.output(), frames));
  b.output().clear();
  auto message_3 = a.output();
  a.output().clear();
  BOOST_REQUIRE(!b.consume(message_3, frames));
  BOOST_REQUIRE(a.established() && b.established());
  BOOST_REQUIRE(!a.send(frame_kind::averaging, 0, "payload"));
  auto record = a.output();
  // Replayed to a fresh responder: it answers the hello with a fresh
  // ephemeral key, so the recorded message 3 fails and no record is read.
  auto replayed = session::responder(settings(bob));
  BOOST_REQUIRE(!replayed.consume(hello, frames));
  auto err = replayed.consume(message_3 + record, frames);
  BOOST_TEST(static_cast<bool>(err));
  BOOST_TEST(!replayed.established());
  BOOST_TEST(frames.empty());
}

BOOST_AUTO_TEST_CASE(oversized_unknown_forged_and_truncated_records_are_refused) {
  auto bob = identity::generate();
  auto mallory = identity::generate();
  auto connected = [&](hand_initiator& h, session& b) {
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(h.hello(), frames));
    BOOST_REQUIRE(!b.consume(h.answer(b.output(), payload(mallory, public_of(h.static_keys), mallory)), frames));
    BOOST_REQUIRE(b.established());
  };
  {
    // A header announcing 4 GiB: refused on the header, nothing allocated.
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    connected(h, b);
    std::vector<frame> frames;
    auto err = b.consume(h.record(hand_initiator::header(0xffffffffu, 3)), frames);
    BOOST_TEST(text_of(err).find("exceeds") != std::string::npos, text_of(err));
    BOOST_TEST(b.buffered() < 64u);
    BOOST_TEST((b.state() == session::phase::closed));
  }
  {
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    connected(h, b);
    std::vector<frame> frames;
    auto err = b.consume(h.record(hand_initiator::header(3, 77) + "abc"), frames);
    BOOST_TEST(text_of(err).find("unknown frame kind 77") != std::string::npos, text_of(err));
    BOOST_TEST(frames.empty());
  }
  {
    // One flipped bit in a record: authentication fails, no frame comes out.
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    connected(h, b);
    auto rec = h.record(hand_initiator::header(3, 3) + "abc");
    rec[5] ^= 1;
    std::vector<frame> frames;
    auto err = b.consume(rec, frames);
    BOOST_TEST(text_of(err).find("failed authentication") != std::string::npos, text_of(err));
    BOOST_TEST(frames.empty());
  }
  {
    // A replayed record fails: its nonce is spent.
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    connected(h, b);
    auto rec = h.record(hand_initiator::header(3, 3) + "abc");
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(rec, frames));
    BOOST_TEST(frames.size() == 1u);
    BOOST_TEST(static_cast<bool>(b.consume(rec, frames)));
    BOOST_TEST(frames.size() == 1u);
  }
  {
    // A truncated record or frame is held, bounded, until the rest comes.
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    connected(h, b);
    auto rec = h.record(hand_initiator::header(10, 3) + "abcde");
    std::vector<frame> frames;
    BOOST_REQUIRE(!b.consume(rec.substr(0, rec.size() - 1), frames));
    BOOST_REQUIRE(!b.consume(rec.substr(rec.size() - 1), frames));
    BOOST_TEST(frames.empty()); // half a frame: 5 of its 10 body bytes
    BOOST_TEST(b.buffered() == frame_header_size + 5);
    BOOST_REQUIRE(!b.consume(h.record("fghij"), frames));
    BOOST_REQUIRE_EQUAL(frames.size(), 1u);
    BOOST_TEST(frames[0].body == "abcdefghij");
  }
  {
    // The peer says why it closes.
    hand_initiator h(mallory, "run-a");
    auto b = session::responder(settings(bob));
    connected(h, b);
    std::vector<frame> frames;
    auto err = b.consume(h.record(hand_initiator::header(7, 4) + "bye\x01now"), frames);
    BOOST_TEST(text_of(err).find("the peer closed the connection: bye?now") != std::string::npos, text_of(err));
  }
}

BOOST_AUTO_TEST_CASE(strangers_bytes_are_refused_with_bounded_buffers) {
  auto bob = identity::generate();
  {
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    auto err = b.consume(std::string(64, '\x17'), frames);
    BOOST_TEST(text_of(err).find("bad magic") != std::string::npos, text_of(err));
    BOOST_TEST(b.output().empty()); // nothing is said to a stranger who is not a ttt peer
  }
  {
    // A BASP-style header announcing a gigabyte is just bad magic here.
    auto b = session::responder(settings(bob));
    std::string basp(32, '\0');
    basp[3] = 0x40;
    std::vector<frame> frames;
    BOOST_TEST(static_cast<bool>(b.consume(basp, frames)));
  }
  {
    // A handshake message announcing more than the handshake limit.
    auto alice = identity::generate();
    hand_initiator h(alice, "run-a");
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    auto bytes = h.preamble_i + std::string("\xff\xff", 2);
    auto err = b.consume(bytes, frames);
    BOOST_TEST(text_of(err).find("exceeds its limit") != std::string::npos, text_of(err));
  }
  {
    // Dribbled bytes of a valid preamble are held (24 at most) until whole.
    auto alice = identity::generate();
    hand_initiator h(alice, "run-a");
    auto b = session::responder(settings(bob));
    std::vector<frame> frames;
    auto hello = h.hello();
    for (size_t i = 0; i + 1 < initiator_preamble_size; ++i)
      BOOST_REQUIRE(!b.consume(hello.substr(i, 1), frames));
    BOOST_TEST(b.buffered() == initiator_preamble_size - 1);
    BOOST_TEST(b.output().empty());
  }
}
