// Run admission: the signed records as pure functions (every refusal
// reason, tampered bytes, a foreign authority), two sessions in memory in a
// closed and an open run, and two wire brokers over loopback where a
// revocation closes a certified peer's connection.
#define BOOST_TEST_MODULE wire_admission
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/wire/admission.hpp"
#include "actors/wire/session.hpp"
#include "actors/wire/wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <thread>

using namespace ttt;
using namespace ttt::wire;
using namespace std::chrono_literals;

namespace {

constexpr double t0 = 1'800'000'000; // "now" in these tests, Unix seconds
constexpr int64_t day = 24 * 3600;

std::string text_of(const caf::error& err) {
  return describe(err);
}

/// Why an expected holds no value ("" when it holds one): Boost.Test
/// evaluates a message even when its check passes.
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string() : text_of(x.error());
}

struct authority_fixture {
  identity authority = identity::generate();
  run_manifest manifest;

  explicit authority_fixture(admission_mode mode = admission_mode::closed, std::string run = "run-a") {
    manifest.run_id = std::move(run);
    manifest.authority_key = authority.public_key();
    manifest.admission = mode;
    manifest.created_at = static_cast<int64_t>(t0);
  }

  certificate cert_for(const identity& peer, std::string name = "alice") const {
    certificate c;
    c.run_id = manifest.run_id;
    c.peer_key = peer.public_key();
    c.name = std::move(name);
    c.roles = {"trainer", "aux"};
    c.not_before = static_cast<int64_t>(t0) - day;
    c.not_after = static_cast<int64_t>(t0) + 30 * day;
    c.serial = 42;
    return c;
  }

  std::string sign(const certificate& c) const {
    auto bytes = sign_certificate(c, authority);
    BOOST_REQUIRE_MESSAGE(bytes, why(bytes));
    return *bytes;
  }

  std::string revoke(const identity& peer, std::string reason = "left") const {
    revocation r;
    r.run_id = manifest.run_id;
    r.peer_key = peer.public_key();
    r.revoked_at = static_cast<int64_t>(t0);
    r.reason = std::move(reason);
    auto bytes = sign_revocation(r, authority);
    BOOST_REQUIRE_MESSAGE(bytes, why(bytes));
    return *bytes;
  }

  std::shared_ptr<const admission_policy> policy(revoked_keys revoked = {}) const {
    return std::make_shared<const admission_policy>(manifest, std::move(revoked));
  }
};

/// The error of check_certificate as text ("" when it passes).
std::string refusal_of(std::string_view bytes, const run_manifest& run, const identity& peer, double now,
                    const revoked_keys& revoked = {}) {
  auto err = check_certificate(bytes, run, peer.public_key(), now, revoked);
  return err ? text_of(err) : std::string();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

// -- the records -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_manifest_certificate_and_revocation_read_back_as_signed) {
  authority_fixture run;
  run.manifest.model_config_digest = "ab01";
  run.manifest.initial_peers = {std::string(40, 'a') + "@127.0.0.1:31234"};
  auto manifest_bytes = sign_manifest(run.manifest, run.authority);
  BOOST_REQUIRE(manifest_bytes);
  auto manifest = read_manifest(*manifest_bytes);
  BOOST_REQUIRE_MESSAGE(manifest, why(manifest));
  BOOST_TEST(manifest->run_id == "run-a");
  BOOST_TEST(manifest->authority_key == run.authority.public_key());
  BOOST_TEST(manifest->model_config_digest == "ab01");
  BOOST_TEST(manifest->initial_peers == run.manifest.initial_peers);
  BOOST_TEST((manifest->admission == admission_mode::closed));
  BOOST_TEST(manifest->created_at == static_cast<int64_t>(t0));

  auto peer = identity::generate();
  auto bytes = run.sign(run.cert_for(peer, "Ada L."));
  BOOST_TEST(bytes.size() <= max_certificate_bytes);
  auto cert = verify_certificate(bytes, *manifest, peer.public_key(), t0, {});
  BOOST_REQUIRE_MESSAGE(cert, why(cert));
  BOOST_TEST(cert->name == "Ada L.");
  BOOST_TEST(cert->roles == (std::vector<std::string>{"trainer", "aux"}));
  BOOST_TEST(cert->serial == 42u);
  BOOST_TEST(refusal_of(bytes, *manifest, peer, t0).empty());

  auto revoked = read_revocation(run.revoke(peer, "left the run"), *manifest);
  BOOST_REQUIRE_MESSAGE(revoked, why(revoked));
  BOOST_TEST(revoked->peer_key == peer.public_key());
  BOOST_TEST(revoked->reason == "left the run");
}

BOOST_AUTO_TEST_CASE(every_refusal_reason_of_a_certificate_is_named) {
  authority_fixture run;
  auto peer = identity::generate();
  auto good = run.sign(run.cert_for(peer));

  // Another run of the same authority.
  authority_fixture other_run_same_authority;
  other_run_same_authority.authority = run.authority;
  other_run_same_authority.manifest = run.manifest;
  other_run_same_authority.manifest.run_id = "run-b";
  auto for_run_b = other_run_same_authority.sign(other_run_same_authority.cert_for(peer));
  BOOST_TEST(contains(refusal_of(for_run_b, run.manifest, peer, t0), "for run 'run-b', not 'run-a'"));

  // Signed by another authority, for the same run id.
  authority_fixture impostor;
  auto forged = impostor.sign(impostor.cert_for(peer));
  BOOST_TEST(contains(refusal_of(forged, run.manifest, peer, t0), "not signed by the run's authority"));

  // Presented by another key than the one it names.
  auto thief = identity::generate();
  BOOST_TEST(contains(refusal_of(good, run.manifest, thief, t0), "for another key"));

  // Revoked.
  BOOST_TEST(contains(refusal_of(good, run.manifest, peer, t0, {peer.public_key()}), "revoked"));

  // Outside its window (the not-before has a clock-skew allowance).
  BOOST_TEST(contains(refusal_of(good, run.manifest, peer, t0 + 31 * day), "expired"));
  auto future = run.cert_for(peer);
  future.not_before = static_cast<int64_t>(t0) + day;
  auto early = run.sign(future);
  BOOST_TEST(contains(refusal_of(early, run.manifest, peer, t0), "not yet valid"));
  BOOST_TEST(refusal_of(early, run.manifest, peer, t0 + day - admission_clock_skew / 2).empty());

  // Malformed: nothing, garbage, a cut-off message, too many bytes.
  BOOST_TEST(contains(refusal_of("", run.manifest, peer, t0), "no certificate"));
  BOOST_TEST(contains(refusal_of(std::string(64, '\x55'), run.manifest, peer, t0), "malformed"));
  BOOST_TEST(!refusal_of(good.substr(0, good.size() - 8), run.manifest, peer, t0).empty());
  BOOST_TEST(contains(refusal_of(std::string(max_certificate_bytes + 8, '\0'), run.manifest, peer, t0), "limit"));
}

BOOST_AUTO_TEST_CASE(no_flipped_byte_of_a_certificate_passes_as_another_certificate) {
  authority_fixture run;
  auto peer = identity::generate();
  auto good = run.sign(run.cert_for(peer));
  auto original = verify_certificate(good, run.manifest, peer.public_key(), t0, {});
  BOOST_REQUIRE(original);
  size_t refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char flip : {0x01, 0x80}) {
      auto tampered = good;
      tampered[i] = static_cast<char>(tampered[i] ^ flip);
      auto cert = verify_certificate(tampered, run.manifest, peer.public_key(), t0, {});
      if (!cert) {
        ++refused;
        continue;
      }
      // Only bytes the reader never looks at (padding) may change without
      // a refusal, and then the certificate is the same one.
      BOOST_TEST(cert->name == original->name);
      BOOST_TEST(cert->roles == original->roles);
      BOOST_TEST(cert->not_after == original->not_after);
      BOOST_TEST(cert->peer_key == original->peer_key);
      BOOST_TEST(cert->serial == original->serial);
    }
  }
  BOOST_TEST(refused > good.size()); // most flips are caught
}

BOOST_AUTO_TEST_CASE(a_manifest_or_revocation_of_another_authority_is_refused) {
  authority_fixture run;
  auto bytes = sign_manifest(run.manifest, run.authority);
  BOOST_REQUIRE(bytes);
  // A manifest that names one key and is signed by another.
  auto impostor = identity::generate();
  BOOST_TEST(!sign_manifest(run.manifest, impostor)); // refused at signing
  // Swap in the impostor's key: the signature no longer verifies.
  auto swapped = *bytes;
  auto at = swapped.find(run.authority.public_key());
  BOOST_REQUIRE(at != std::string::npos);
  swapped.replace(at, public_key_size, impostor.public_key());
  auto read = read_manifest(swapped);
  BOOST_REQUIRE(!read);
  BOOST_TEST(contains(text_of(read.error()), "not signed by the authority key it names"));

  // A revocation by someone else, or of another run.
  auto peer = identity::generate();
  authority_fixture foreign;
  auto foreign_revocation = foreign.revoke(peer);
  auto refused = read_revocation(foreign_revocation, run.manifest);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(contains(text_of(refused.error()), "not signed by the run's authority"));
  authority_fixture other_run(admission_mode::closed, "run-b");
  other_run.authority = run.authority;
  other_run.manifest.authority_key = run.authority.public_key();
  auto wrong_run = read_revocation(other_run.revoke(peer), run.manifest);
  BOOST_REQUIRE(!wrong_run);
  BOOST_TEST(contains(text_of(wrong_run.error()), "for run 'run-b'"));
  BOOST_TEST(!read_revocation("garbage!", run.manifest));
}

BOOST_AUTO_TEST_CASE(fields_past_their_bounds_are_never_signed) {
  authority_fixture run;
  auto peer = identity::generate();
  auto c = run.cert_for(peer);
  c.name = std::string(max_name_bytes + 1, 'n');
  BOOST_TEST(!sign_certificate(c, run.authority));
  c = run.cert_for(peer);
  c.roles.assign(max_roles + 1, "trainer");
  BOOST_TEST(!sign_certificate(c, run.authority));
  c = run.cert_for(peer);
  c.peer_key = "short";
  BOOST_TEST(!sign_certificate(c, run.authority));
  c = run.cert_for(peer);
  c.not_after = c.not_before - 1;
  BOOST_TEST(!sign_certificate(c, run.authority));
  // The largest certificate the bounds allow still fits the handshake.
  c = run.cert_for(peer);
  c.run_id = std::string(max_run_id_bytes, 'r');
  c.name = std::string(max_name_bytes, 'n');
  c.roles.assign(max_roles, std::string(max_role_bytes, 'x'));
  auto largest = sign_certificate(c, run.authority);
  BOOST_TEST_MESSAGE((largest ? std::to_string(largest->size()) : text_of(largest.error())));
  BOOST_TEST(static_cast<bool>(largest));
}

BOOST_AUTO_TEST_CASE(a_policy_admits_by_certificate_in_a_closed_run_and_anyone_in_an_open_one) {
  auto peer = identity::generate();
  authority_fixture closed_run(admission_mode::closed);
  auto cert = closed_run.sign(closed_run.cert_for(peer, "bob"));
  admission_policy closed(closed_run.manifest);
  auto admitted = closed.admit(peer.public_key(), cert, t0);
  BOOST_REQUIRE(admitted);
  BOOST_REQUIRE(admitted->has_value());
  BOOST_TEST((*admitted)->name == "bob");
  auto refused = closed.admit(peer.public_key(), "", t0);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(contains(text_of(refused.error()), "is closed"));
  auto revoked = closed.with_revoked(peer.public_key());
  BOOST_TEST(revoked.is_revoked(peer.public_key()));
  BOOST_TEST(!closed.is_revoked(peer.public_key())); // a new policy, the old one unchanged
  BOOST_TEST(!revoked.admit(peer.public_key(), cert, t0));

  authority_fixture open_run(admission_mode::open);
  admission_policy open(open_run.manifest);
  auto anyone = open.admit(peer.public_key(), "", t0);
  BOOST_REQUIRE(anyone);
  BOOST_TEST(!anyone->has_value());
  auto named = open.admit(peer.public_key(), open_run.sign(open_run.cert_for(peer, "carol")), t0);
  BOOST_REQUIRE(named && named->has_value());
  BOOST_TEST((*named)->name == "carol");
  auto bad_cert = open.admit(peer.public_key(), "junk", t0); // an open run still admits, unnamed
  BOOST_REQUIRE(bad_cert);
  BOOST_TEST(!bad_cert->has_value());
}

// -- two sessions in memory ----------------------------------------------------------

namespace {

struct pair_result {
  caf::error initiator_error;
  caf::error responder_error;
};

/// Moves each side's output to the other until neither has anything to say.
pair_result exchange(session& a, session& b) {
  pair_result r;
  std::vector<frame> frames;
  for (int round = 0; round < 16; ++round) {
    bool moved = false;
    if (!a.output().empty() && !r.responder_error) {
      auto bytes = std::move(a.output());
      a.output().clear();
      r.responder_error = b.consume(bytes, frames);
      moved = true;
    }
    if (!b.output().empty() && !r.initiator_error) {
      auto bytes = std::move(b.output());
      b.output().clear();
      r.initiator_error = a.consume(bytes, frames);
      moved = true;
    }
    if (!moved)
      break;
  }
  return r;
}

session_settings settings_for(const identity& self, const authority_fixture* run, std::string certificate,
                              revoked_keys revoked = {}) {
  session_settings s;
  s.self = &self;
  s.run_id = "run-a";
  s.certificate = std::move(certificate);
  if (run)
    s.admission = run->policy(std::move(revoked));
  s.now = t0;
  return s;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_closed_run_refuses_a_peer_without_a_certificate_and_tells_it_why) {
  authority_fixture run;
  auto node = identity::generate();
  auto stranger = identity::generate();
  auto a = session::initiator(settings_for(stranger, nullptr, ""));
  auto b = session::responder(settings_for(node, &run, run.sign(run.cert_for(node, "aux"))));
  auto r = exchange(a, b);
  BOOST_TEST(contains(text_of(r.responder_error), "refused peer"), text_of(r.responder_error));
  BOOST_TEST(contains(text_of(r.responder_error), "no certificate"), text_of(r.responder_error));
  // The stranger hears the reason in a close frame, not a bare close.
  BOOST_TEST(contains(text_of(r.initiator_error), "the peer closed the connection: refused: run 'run-a' is closed"),
             text_of(r.initiator_error));
  BOOST_TEST(!b.established());
  BOOST_TEST(!a.established());
}

BOOST_AUTO_TEST_CASE(a_closed_run_admits_a_certified_peer_and_learns_its_name) {
  authority_fixture run;
  auto node = identity::generate();
  auto volunteer = identity::generate();
  auto a = session::initiator(settings_for(volunteer, &run, run.sign(run.cert_for(volunteer, "volunteer one"))));
  auto b = session::responder(settings_for(node, &run, run.sign(run.cert_for(node, "aux node"))));
  auto r = exchange(a, b);
  BOOST_TEST(!r.initiator_error, text_of(r.initiator_error));
  BOOST_TEST(!r.responder_error, text_of(r.responder_error));
  BOOST_REQUIRE(a.established() && b.established());
  BOOST_REQUIRE(b.peer_certificate().has_value());
  BOOST_TEST(b.peer_certificate()->name == "volunteer one");
  BOOST_REQUIRE(a.peer_certificate().has_value());
  BOOST_TEST(a.peer_certificate()->name == "aux node");
  // Frames flow as in any session.
  BOOST_REQUIRE(!a.send(frame_kind::dht_request, 1, "hello"));
  std::vector<frame> frames;
  BOOST_REQUIRE(!b.consume(a.output(), frames));
  BOOST_REQUIRE_EQUAL(frames.size(), 1u);
  BOOST_TEST(frames[0].body == "hello");
}

BOOST_AUTO_TEST_CASE(a_closed_run_refuses_a_revoked_expired_or_stolen_certificate) {
  authority_fixture run;
  auto node = identity::generate();
  auto volunteer = identity::generate();
  auto node_cert = run.sign(run.cert_for(node, "aux"));
  auto volunteer_cert = run.sign(run.cert_for(volunteer));
  {
    auto a = session::initiator(settings_for(volunteer, &run, volunteer_cert));
    auto b = session::responder(settings_for(node, &run, node_cert, {volunteer.public_key()}));
    auto r = exchange(a, b);
    BOOST_TEST(contains(text_of(r.responder_error), "revoked"), text_of(r.responder_error));
    BOOST_TEST(contains(text_of(r.initiator_error), "revoked"), text_of(r.initiator_error));
    BOOST_TEST(!b.established());
  }
  {
    auto late = settings_for(node, &run, node_cert);
    late.now = t0 + 31 * day;
    auto a = session::initiator(settings_for(volunteer, &run, volunteer_cert));
    auto b = session::responder(late);
    auto r = exchange(a, b);
    BOOST_TEST(contains(text_of(r.responder_error), "expired"), text_of(r.responder_error));
    BOOST_TEST(!b.established());
  }
  {
    // A thief shows the volunteer's certificate with its own key.
    auto thief = identity::generate();
    auto a = session::initiator(settings_for(thief, &run, volunteer_cert));
    auto b = session::responder(settings_for(node, &run, node_cert));
    auto r = exchange(a, b);
    BOOST_TEST(contains(text_of(r.responder_error), "another key"), text_of(r.responder_error));
    BOOST_TEST(!b.established());
  }
  {
    // A closed-run dialler refuses an uncertified responder as well.
    auto a = session::initiator(settings_for(volunteer, &run, volunteer_cert));
    auto b = session::responder(settings_for(node, nullptr, ""));
    auto r = exchange(a, b);
    BOOST_TEST(contains(text_of(r.initiator_error), "no certificate"), text_of(r.initiator_error));
    BOOST_TEST(contains(text_of(r.responder_error), "refused: run 'run-a' is closed"), text_of(r.responder_error));
    BOOST_TEST(!a.established());
  }
}

BOOST_AUTO_TEST_CASE(an_open_run_admits_a_peer_without_a_certificate) {
  authority_fixture run(admission_mode::open);
  auto node = identity::generate();
  auto stranger = identity::generate();
  auto a = session::initiator(settings_for(stranger, nullptr, ""));
  auto b = session::responder(settings_for(node, &run, ""));
  auto r = exchange(a, b);
  BOOST_TEST(!r.initiator_error, text_of(r.initiator_error));
  BOOST_TEST(!r.responder_error, text_of(r.responder_error));
  BOOST_TEST(a.established());
  BOOST_TEST(b.established());
  BOOST_TEST(!b.peer_certificate().has_value());
}

// -- two brokers over loopback ------------------------------------------------------

namespace {

struct config : caf::actor_system_config {
  config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::ttt>();
    set("logger.verbosity", caf::atom("quiet"));
    set("scheduler.policy", caf::atom("sharing"));
  }
};

caf::behavior echo_dht(caf::event_based_actor*) {
  return {
    [](dht_rpc_atom, const std::string&, const std::string& bytes) -> std::string { return "echo " + bytes; },
  };
}

struct side {
  identity me = identity::generate();
  caf::actor wire;
  uint16_t port = 0;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_revocation_closes_the_peers_connections_and_refuses_it_from_then_on) {
  authority_fixture live;
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  auto dht = sys.spawn(echo_dht);
  // The brokers check certificates against the real clock: these are
  // valid whenever the test runs.
  auto make = [&](const std::string& name, caf::actor routes) {
    side s;
    auto listening = listen("127.0.0.1", 0);
    BOOST_REQUIRE(listening);
    wire_config wc;
    wc.self = s.me;
    wc.run_id = live.manifest.run_id;
    wc.listen_fd = listening->first;
    wc.admission = live.policy();
    auto c = live.cert_for(s.me, name);
    c.not_before = 0;
    c.not_after = INT64_MAX / 2;
    wc.certificate = live.sign(c);
    s.port = listening->second;
    s.wire = spawn_wire(sys, wc);
    caf::anon_send(s.wire, wire_routes_atom_v, routes, caf::actor{});
    return s;
  };
  auto a = make("alice", caf::actor{});
  auto b = make("bob", dht);

  auto call = [&](std::string& failure) {
    std::string reply;
    failure.clear();
    self->request(a.wire, 10s, dht_call_atom_v, b.address(), std::string(b.me.id().raw()), std::string("hi"))
      .receive([&](std::string&, std::string& body) { reply = body; },
               [&](caf::error& err) { failure = describe(err); });
    return reply;
  };
  std::string failure;
  BOOST_TEST(call(failure) == "echo hi", failure);
  std::map<std::string, std::string> names;
  self->request(b.wire, 10s, wire_names_atom_v)
    .receive([&](std::map<std::string, std::string>& n) { names = n; },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(names[a.me.id().to_hex()] == "alice");

  // A revocation signed by someone else changes nothing.
  authority_fixture foreign;
  foreign.manifest.run_id = live.manifest.run_id;
  std::string refusal_text;
  self->request(b.wire, 10s, wire_revoke_atom_v, foreign.revoke(a.me))
    .receive([&](bool) {}, [&](caf::error& err) { refusal_text = describe(err); });
  BOOST_TEST(contains(refusal_text, "not signed by the run's authority"), refusal_text);
  BOOST_TEST(call(failure) == "echo hi", failure);

  // The authority's revocation: b closes a's connection and refuses it.
  bool fresh = false;
  self->request(b.wire, 10s, wire_revoke_atom_v, live.revoke(a.me))
    .receive([&](bool f) { fresh = f; }, [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(fresh);
  self->request(b.wire, 10s, wire_revoke_atom_v, live.revoke(a.me))
    .receive([&](bool f) { fresh = f; }, [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(!fresh); // known already
  // a learns of the close asynchronously; its next call dials afresh and is refused.
  std::string reply;
  for (int attempt = 0; attempt < 50 && failure.empty(); ++attempt) {
    reply = call(failure);
    if (failure.empty())
      std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(contains(failure, "revoked"), failure);
  self->request(b.wire, 10s, wire_names_atom_v)
    .receive([&](std::map<std::string, std::string>& n) { names = n; },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(names.count(a.me.id().to_hex()) == 0u);

  for (auto actor : {a.wire, b.wire, dht})
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(the_largest_certificate_the_bounds_allow_fits_the_handshake) {
  authority_fixture run(admission_mode::closed, std::string(max_run_id_bytes, 'r'));
  auto node = identity::generate();
  auto volunteer = identity::generate();
  auto largest = [&](const identity& who) {
    auto c = run.cert_for(who, std::string(max_name_bytes, 'n'));
    c.roles.assign(max_roles, std::string(max_role_bytes, 'x'));
    return run.sign(c);
  };
  auto a_settings = settings_for(volunteer, &run, largest(volunteer));
  auto b_settings = settings_for(node, &run, largest(node));
  a_settings.run_id = b_settings.run_id = run.manifest.run_id;
  auto a = session::initiator(a_settings);
  auto b = session::responder(b_settings);
  auto r = exchange(a, b);
  BOOST_TEST(!r.initiator_error, text_of(r.initiator_error));
  BOOST_TEST(!r.responder_error, text_of(r.responder_error));
  BOOST_TEST(a.established());
  BOOST_TEST(b.established());
}
