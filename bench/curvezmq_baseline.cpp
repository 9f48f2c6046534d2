// The baseline behind the wire's choice of Noise XX over CurveZMQ
// (docs/PROTOCOL.md): one connection over loopback carrying 512 KiB messages,
// (a) CurveZMQ (libzmq's CURVE, XSalsa20-Poly1305, a PAIR socket pair),
// (b) plain ZeroMQ, (c) ttt's wire session (Noise records, the suite this CPU
// picks) over a TCP connection, one thread each side, in the same run.
// Also the handshake: connections per second for CURVE and for the wire.
// Built only when Debian's libzmq3-dev is installed (not a dependency of ttt):
//
//   build/bench/curvezmq_baseline [--messages N]
//
// Prints one line:
//   curvezmq_baseline messages=N size=524288 curve_mb_per_s=… plain_zmq_mb_per_s=… wire_mb_per_s=… wire_suite=…

#include "actors/common/identity.hpp"
#include "actors/wire/session.hpp"

#include <zmq.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr size_t message_size = 512 * 1024;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// MB/s of `count` messages through a ZeroMQ PAIR over tcp://127.0.0.1, with CURVE or not.
double zmq_rate(size_t count, bool curve) {
  void* ctx = zmq_ctx_new();
  void* server = zmq_socket(ctx, ZMQ_PAIR);
  void* client = zmq_socket(ctx, ZMQ_PAIR);
  char server_public[41], server_secret[41], client_public[41], client_secret[41];
  if (curve) {
    zmq_curve_keypair(server_public, server_secret);
    zmq_curve_keypair(client_public, client_secret);
    int one = 1;
    zmq_setsockopt(server, ZMQ_CURVE_SERVER, &one, sizeof(one));
    zmq_setsockopt(server, ZMQ_CURVE_SECRETKEY, server_secret, 40);
    zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, server_public, 40);
    zmq_setsockopt(client, ZMQ_CURVE_PUBLICKEY, client_public, 40);
    zmq_setsockopt(client, ZMQ_CURVE_SECRETKEY, client_secret, 40);
  }
  zmq_bind(server, "tcp://127.0.0.1:*");
  char endpoint[256];
  size_t endpoint_size = sizeof(endpoint);
  zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size);
  zmq_connect(client, endpoint);
  std::vector<char> payload(message_size, 'x');
  // One message first: the handshake is not timed.
  zmq_send(client, payload.data(), payload.size(), 0);
  std::vector<char> in(message_size);
  zmq_recv(server, in.data(), in.size(), 0);
  std::thread sender([&] {
    for (size_t i = 0; i < count; ++i)
      zmq_send(client, payload.data(), payload.size(), 0);
  });
  auto started = clock_type::now();
  for (size_t i = 0; i < count; ++i)
    zmq_recv(server, in.data(), in.size(), 0);
  double s = seconds_since(started);
  sender.join();
  zmq_close(client);
  zmq_close(server);
  zmq_ctx_term(ctx);
  return static_cast<double>(count * message_size) / s / 1e6;
}

void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<size_t>(n);
  }
}

/// Two connected TCP sockets over loopback.
std::pair<int, int> tcp_pair() {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listener, 1);
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int server = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return {client, server};
}

/// MB/s of `count` 512 KiB averaging frames through two wire sessions over TCP.
double wire_rate(size_t count, std::string& suite) {
  auto [client_fd, server_fd] = tcp_pair();
  auto alice = ttt::identity::generate();
  auto bob = ttt::identity::generate();
  ttt::wire::session_settings a_settings;
  a_settings.self = &alice;
  a_settings.run_id = "baseline";
  auto b_settings = a_settings;
  b_settings.self = &bob;
  auto a = ttt::wire::session::initiator(a_settings);
  auto b = ttt::wire::session::responder(b_settings);
  std::vector<ttt::wire::frame> frames;
  char buf[65536];
  // The handshake, over the sockets, not timed.
  while (!a.established() || !b.established()) {
    if (!a.output().empty()) {
      send_all(client_fd, a.output());
      a.output().clear();
      auto n = ::recv(server_fd, buf, sizeof(buf), 0);
      (void) b.consume(std::string_view(buf, static_cast<size_t>(n)), frames);
    }
    if (!b.output().empty()) {
      send_all(server_fd, b.output());
      b.output().clear();
      auto n = ::recv(client_fd, buf, sizeof(buf), 0);
      (void) a.consume(std::string_view(buf, static_cast<size_t>(n)), frames);
    }
  }
  suite = a.suite() == ttt::wire::noise::cipher_suite::aesgcm ? "aesgcm" : "chachapoly";
  std::string payload(message_size, 'x');
  std::thread sender([&, fd = client_fd] {
    for (size_t i = 0; i < count; ++i) {
      (void) a.send(ttt::wire::frame_kind::averaging, 0, payload);
      send_all(fd, a.output());
      a.output().clear();
    }
  });
  auto started = clock_type::now();
  size_t received = 0;
  std::vector<char> big(1 << 20);
  while (received < count) {
    auto n = ::recv(server_fd, big.data(), big.size(), 0);
    if (n <= 0)
      break;
    frames.clear();
    (void) b.consume(std::string_view(big.data(), static_cast<size_t>(n)), frames);
    received += frames.size();
  }
  double s = seconds_since(started);
  sender.join();
  ::close(client_fd);
  ::close(server_fd);
  return static_cast<double>(count * message_size) / s / 1e6;
}

} // namespace

int main(int argc, char** argv) {
  size_t count = 2000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--messages") == 0)
      count = static_cast<size_t>(std::atol(argv[i + 1]));
  double curve = zmq_rate(count, true);
  double plain = zmq_rate(count, false);
  std::string suite;
  double wire = wire_rate(count, suite);
  std::printf("curvezmq_baseline messages=%zu size=%zu curve_mb_per_s=%.0f plain_zmq_mb_per_s=%.0f "
              "wire_mb_per_s=%.0f wire_suite=%s wire_over_curve=%.2f\n",
              count, message_size, curve, plain, wire, suite.c_str(), wire / curve);
  return 0;
}
