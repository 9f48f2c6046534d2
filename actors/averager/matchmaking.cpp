#include "actors/averager/matchmaking.hpp"

#include "actors/common/describe.hpp"
#include "actors/common/capnp_io.hpp"
#include "schema/matchmaking.capnp.h"

#include <algorithm>
#include <tuple>

namespace ttt::averaging {

namespace {

constexpr size_t max_members = 256;
constexpr size_t max_message_bytes = 64 << 10;

caf::error bad(std::string what) {
  return capnp_io::invalid(std::move(what));
}

using capnp_io::as_data;
using capnp_io::to_bytes;

std::string_view view(capnp::Data::Reader d) {
  return capnp_io::as_view(d);
}

bool before(const declaration& a, const declaration& b) {
  return std::tie(a.deadline, a.peer) < std::tie(b.deadline, b.peer);
}

void write(schema::AveragerDeclaration::Builder b, const declaration& d) {
  b.setPeerId(as_data(d.peer.raw()));
  b.setPublicKey(as_data(d.public_key));
  b.setHost(d.host);
  b.setPort(d.port);
  b.setMode(static_cast<uint8_t>(d.mode));
  b.setBandwidth(d.bandwidth);
  b.setDeadline(d.deadline);
}

caf::expected<declaration> read(schema::AveragerDeclaration::Reader r) {
  declaration d;
  auto id = node_id::from_bytes(view(r.getPeerId()));
  if (!id)
    return bad("declaration: peer id must be 20 bytes");
  if (r.getPublicKey().size() != 32 || node_id::of_key(view(r.getPublicKey())) != *id)
    return bad("declaration: peer id is not the hash of its public key");
  if (r.getMode() > 2)
    return bad("declaration: unknown mode");
  double bw = r.getBandwidth();
  if (!(bw >= 0 && bw < 1e12))
    return bad("declaration: bandwidth must be a non-negative number");
  double deadline = r.getDeadline();
  if (!(deadline >= 0 && deadline < 1e12))
    return bad("declaration: deadline is not a valid time");
  if (r.getHost().size() > 255)
    return bad("declaration: host too long");
  d.peer = *id;
  d.public_key = std::string(view(r.getPublicKey()));
  d.host = r.getHost().cStr();
  d.port = r.getPort();
  d.mode = static_cast<peer_mode>(r.getMode());
  d.bandwidth = bw;
  d.deadline = deadline;
  return d;
}

} // namespace

group_info announcement::group() const {
  group_info g;
  g.group_id = group_id;
  for (const auto& m : members)
    g.members.push_back(member_info{std::string(m.peer.raw()), m.bandwidth, m.mode});
  bound_bandwidths(g.members);
  return g;
}

std::optional<size_t> announcement::index_of(const node_id& peer) const {
  for (size_t i = 0; i < members.size(); ++i)
    if (members[i].peer == peer)
      return i;
  return std::nullopt;
}

std::string make_group_id(std::string_view key, const std::vector<declaration>& members) {
  std::string material(key);
  for (const auto& m : members)
    material += m.peer.raw();
  return std::string(node_id::of_key(material).raw());
}

bool plausible_deadline(const declaration& d, double now, const matchmaking_settings& settings) {
  return d.deadline >= now - settings.announce_grace
         && d.deadline <= now + settings.matchmaking_time + settings.announce_grace;
}

decision decide(const declaration& self, const std::vector<declaration>& all_declared,
                const std::vector<announcement>& announced, double now,
                const matchmaking_settings& settings) {
  decision out;
  auto is_excluded = [&](const node_id& peer) {
    return std::find(settings.excluded.begin(), settings.excluded.end(), peer)
           != settings.excluded.end();
  };
  // Only declarations with a plausible deadline take part, and only those of
  // peers not excluded count for groups: everything below sees no other.
  std::vector<declaration> plausible, declared;
  for (const auto& d : all_declared) {
    if (d.peer != self.peer && !plausible_deadline(d, now, settings))
      continue;
    plausible.push_back(d);
    if (!is_excluded(d.peer))
      declared.push_back(d);
  }
  // An announcement counts only if its members all declared themselves (with
  // the deadlines they declared) and its leader comes first among them: a
  // peer cannot draft others into a group they did not ask for.
  auto credible_among = [&](const announcement& a, const std::vector<declaration>& among) {
    auto declared_as = [&](const declaration& m) {
      if (m.peer == self.peer)
        return m.deadline == self.deadline;
      return std::any_of(among.begin(), among.end(), [&](const declaration& d) {
        return d.peer == m.peer && d.deadline == m.deadline;
      });
    };
    if (a.members.empty() || !std::all_of(a.members.begin(), a.members.end(), declared_as))
      return false;
    return std::all_of(a.members.begin() + 1, a.members.end(),
                       [&](const declaration& m) { return before(a.members.front(), m); });
  };
  // A group with an excluded member is never credible.
  auto credible = [&](const announcement& a) { return credible_among(a, declared); };
  // An announcement that lists us settles it; if several do (leaders that
  // saw different snapshots), the earliest leader's wins everywhere.
  const announcement* mine = nullptr;
  for (const auto& a : announced)
    if (credible(a) && a.index_of(self.peer) &&
        (mine == nullptr || before(a.members.front(), mine->members.front())))
      mine = &a;
  if (mine != nullptr) {
    out.what = step::joined;
    out.group = *mine;
    return out;
  }
  // Our chunk of the (deadline, id) order; we are always in it, even if our
  // own declaration has not reached the DHT yet.
  std::vector<declaration> all = declared;
  if (std::none_of(all.begin(), all.end(), [&](const declaration& d) { return d.peer == self.peer; }))
    all.push_back(self);
  std::sort(all.begin(), all.end(), before);
  all.erase(std::unique(all.begin(), all.end(),
                        [](const declaration& a, const declaration& b) { return a.peer == b.peer; }),
            all.end());
  size_t target = std::max<size_t>(1, settings.target_group_size);
  size_t position = 0;
  while (all[position].peer != self.peer)
    ++position;
  size_t chunk_begin = position / target * target;
  size_t chunk_end = std::min(all.size(), chunk_begin + target);
  std::vector<declaration> chunk(all.begin() + static_cast<long>(chunk_begin),
                                 all.begin() + static_cast<long>(chunk_end));
  const auto& leader = chunk.front();
  if (leader.peer == self.peer) {
    if (chunk.size() < target && now < self.deadline)
      return out; // keep gathering
    if (chunk.size() < settings.min_group_size) {
      out.what = step::failed;
      out.why = "only " + std::to_string(chunk.size()) + " peer(s) by the deadline, " +
                std::to_string(settings.min_group_size) + " needed";
      return out;
    }
    out.what = step::announce;
    out.group.members = chunk;
    return out;
  }
  // A follower: did our leader announce a group without us, or one with a
  // peer we dropped? (Only our leader's word ends our wait: an excluded peer
  // cannot fail us by announcing groups of its own.)
  for (const auto& a : announced) {
    if (a.members.empty() || a.members.front().peer != leader.peer)
      continue;
    if (credible(a)) {
      out.what = step::failed;
      out.why = "the leader's group formed without this peer";
      return out;
    }
    auto dropped = std::find_if(a.members.begin(), a.members.end(),
                                [&](const declaration& m) { return is_excluded(m.peer); });
    if (dropped != a.members.end() && credible_among(a, plausible)) {
      out.what = step::failed;
      out.why = "the leader's group lists peer " + dropped->peer.to_hex() + ", which this peer dropped";
      return out;
    }
  }
  if (now > leader.deadline + settings.announce_grace) {
    out.what = step::failed;
    out.why = "the leader never announced a group";
  }
  return out;
}

std::string encode(const declaration& d) {
  capnp::MallocMessageBuilder message;
  write(message.initRoot<schema::AveragerDeclaration>(), d);
  return to_bytes(message);
}

caf::expected<declaration> decode_declaration(std::string_view bytes) {
  return capnp_io::read<schema::AveragerDeclaration>(
    bytes, max_message_bytes, "declaration",
    [](schema::AveragerDeclaration::Reader r) { return read(r); });
}

std::string encode(const announcement& a) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::GroupAnnouncement>();
  root.setGroupId(as_data(a.group_id));
  auto list = root.initMembers(static_cast<unsigned>(a.members.size()));
  for (unsigned i = 0; i < list.size(); ++i)
    write(list[i], a.members[i]);
  return to_bytes(message);
}

caf::expected<announcement> decode_announcement(std::string_view bytes) {
  return capnp_io::read<schema::GroupAnnouncement>(
    bytes, max_message_bytes, "announcement",
    [](schema::GroupAnnouncement::Reader r) -> caf::expected<announcement> {
      announcement a;
      if (r.getGroupId().size() != 20)
        return bad("announcement: group id must be 20 bytes");
      if (r.getMembers().size() == 0 || r.getMembers().size() > max_members)
        return bad("announcement: bad member count");
      a.group_id = std::string(view(r.getGroupId()));
      for (auto m : r.getMembers()) {
        auto d = read(m);
        if (!d)
          return d.error();
        if (a.index_of(d->peer))
          return bad("announcement: a peer is listed twice");
        a.members.push_back(std::move(*d));
      }
      return a;
    });
}

} // namespace ttt::averaging
