#pragma once
// The attacker's end of ttt's wire, for tests (never in the shipped binary):
// a real TCP connection from a loopback address of the test's choosing, a
// real handshake with the attacker's own valid identity, and then whatever
// frames the test wants to send, DHT requests above all.

#include "actors/common/identity.hpp"
#include "actors/dht/protocol.hpp"
#include "actors/wire/session.hpp"

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ttt::test {

/// A TCP connection to 127.0.0.1:port from `source` (another loopback
/// address, so that the attacker is not the honest client's 127.0.0.1).
inline int connect_from(const std::string& source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) == 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

inline void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return; // the node closed it: fine for an attacker's bytes
    sent += static_cast<size_t>(n);
  }
}

/// A session with the node as `who`, established over `fd`; frames the
/// node sends during the handshake are appended to `frames`.
inline wire::session handshake(int fd, const identity& who, const std::string& run_id = "ttt-demo") {
  wire::session_settings s;
  s.self = &who;
  s.run_id = run_id;
  auto link = wire::session::initiator(s);
  std::vector<wire::frame> frames;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!link.established() && std::chrono::steady_clock::now() < deadline) {
    send_all(fd, link.output());
    link.output().clear();
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    BOOST_REQUIRE_MESSAGE(n > 0, "the node closed an honest handshake");
    BOOST_REQUIRE(!link.consume(std::string_view(buf, static_cast<size_t>(n)), frames));
  }
  send_all(fd, link.output());
  link.output().clear();
  BOOST_REQUIRE(link.established());
  return link;
}

/// The next frame the node sends on an established session (bounded).
inline std::optional<wire::frame> next_frame(int fd, wire::session& link) {
  std::vector<wire::frame> frames;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (frames.empty() && std::chrono::steady_clock::now() < deadline) {
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      return std::nullopt;
    if (link.consume(std::string_view(buf, static_cast<size_t>(n)), frames))
      return std::nullopt;
  }
  if (frames.empty())
    return std::nullopt;
  return frames.front();
}

/// A liar: an authenticated connection to one node, over which it sends
/// DHT requests of its own making and reads the answers.
class wire_liar {
public:
  wire_liar(const identity& who, uint16_t port, const std::string& source = "127.0.0.7",
            const std::string& run_id = "ttt-demo")
    : who_(who), fd_(connect_from(source, port)) {
    BOOST_REQUIRE_MESSAGE(fd_ >= 0, "cannot connect to the node");
    link_.emplace(handshake(fd_, who_, run_id));
  }
  ~wire_liar() { ::close(fd_); }
  wire_liar(const wire_liar&) = delete;
  wire_liar& operator=(const wire_liar&) = delete;

  /// A request naming this liar as its (client-mode) sender, so the node
  /// answers it and never dials it back.
  dht::dht_request request(dht::request_kind kind) const {
    dht::dht_request req;
    req.sender = dht::peer_info{who_.id(), "", 0, who_.public_key()};
    req.client_mode = true;
    req.kind = kind;
    return req;
  }

  /// Sends `req` and returns the node's answer (fails the test without one).
  dht::dht_response call(const dht::dht_request& req) {
    auto id = ++request_id_;
    BOOST_REQUIRE(!link_->send(wire::frame_kind::dht_request, id, dht::encode(req)));
    send_all(fd_, link_->output());
    link_->output().clear();
    auto answer = next_frame(fd_, *link_);
    BOOST_REQUIRE_MESSAGE(answer, "the node sent no answer");
    BOOST_REQUIRE(answer->request_id == id);
    auto resp = dht::decode_response(answer->body);
    BOOST_REQUIRE_MESSAGE(resp, "the node's answer does not decode");
    return *resp;
  }

  /// Stores `records` and returns the node's verdict on each.
  std::vector<dht::store_result> store(std::vector<dht::dht_record> records) {
    auto req = request(dht::request_kind::store);
    req.records = std::move(records);
    auto resp = call(req);
    BOOST_REQUIRE_MESSAGE(resp.error.empty(), "the store was refused whole: " << resp.error);
    BOOST_REQUIRE(resp.stored.size() == req.records.size());
    return resp.stored;
  }

private:
  const identity& who_;
  int fd_;
  std::optional<wire::session> link_;
  uint64_t request_id_ = 0;
};

} // namespace ttt::test
