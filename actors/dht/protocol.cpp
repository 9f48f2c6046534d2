#include "actors/dht/protocol.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/dht.capnp.h"

#include <caf/sec.hpp>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

namespace ttt::dht {

namespace {

using limits = protocol_limits;
using capnp_io::as_data;
using capnp_io::to_bytes;

std::string_view view(capnp::Data::Reader data) {
  return capnp_io::as_view(data);
}

std::string_view view(capnp::Text::Reader text) {
  return std::string_view(text.cStr(), text.size());
}

void write_peer(schema::NodeInfo::Builder b, const peer_info& p) {
  b.setId(as_data(p.id.raw()));
  b.setHost(p.host);
  b.setPort(p.port);
  b.setPublicKey(as_data(p.public_key));
}

caf::expected<peer_info> read_peer(schema::NodeInfo::Reader r) {
  auto id = node_id::from_bytes(view(r.getId()));
  if (!id)
    return protocol_error("peer id must be 20 bytes");
  if (r.getPublicKey().size() != 32)
    return protocol_error("peer public key must be 32 bytes");
  if (r.getHost().size() > limits::max_host_bytes)
    return protocol_error("peer host name too long");
  peer_info p;
  p.id = *id;
  p.host = std::string(view(r.getHost()));
  p.port = r.getPort();
  p.public_key = std::string(view(r.getPublicKey()));
  return p;
}

void write_record(schema::Record::Builder b, const dht_record& rec) {
  b.setKey(as_data(rec.key));
  b.setSubkey(as_data(rec.subkey));
  b.setHasSubkey(rec.has_subkey);
  b.setValue(as_data(rec.value));
  b.setExpiration(rec.expiration);
  b.setSignature(as_data(rec.signature));
}

caf::expected<dht_record> read_record(schema::Record::Reader r) {
  if (r.getKey().size() == 0)
    return protocol_error("record has an empty key");
  if (r.getKey().size() > limits::max_key_bytes)
    return protocol_error("record key exceeds " + std::to_string(limits::max_key_bytes) + " bytes");
  if (r.getSubkey().size() > limits::max_subkey_bytes)
    return protocol_error("record subkey exceeds " + std::to_string(limits::max_subkey_bytes) +
                          " bytes");
  if (r.getValue().size() > limits::max_value_bytes)
    return protocol_error("record value exceeds " + std::to_string(limits::max_value_bytes) +
                          " bytes");
  if (!r.getHasSubkey() && r.getSubkey().size() != 0)
    return protocol_error("record has a subkey but hasSubkey is false");
  double exp = r.getExpiration();
  if (!(exp == exp) || exp < 0 || exp > 1e12)
    return protocol_error("record expiration is not a valid time");
  dht_record rec;
  rec.key = std::string(view(r.getKey()));
  rec.subkey = std::string(view(r.getSubkey()));
  rec.has_subkey = r.getHasSubkey();
  rec.value = std::string(view(r.getValue()));
  rec.expiration = exp;
  rec.signature = std::string(view(r.getSignature()));
  return rec;
}

} // namespace

caf::error protocol_error(std::string what) {
  return capnp_io::invalid(std::move(what));
}

std::string encode(const dht_request& request) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::DhtRequest>();
  write_peer(root.initSender(), request.sender);
  root.setClientMode(request.client_mode);
  switch (request.kind) {
    case request_kind::ping:
      root.setPing();
      break;
    case request_kind::store: {
      auto store = root.initStore();
      store.setInCache(request.in_cache);
      auto list = store.initRecords(static_cast<unsigned>(request.records.size()));
      for (unsigned i = 0; i < list.size(); ++i)
        write_record(list[i], request.records[i]);
      break;
    }
    case request_kind::find: {
      auto list = root.initFind().initKeyIds(static_cast<unsigned>(request.key_ids.size()));
      for (unsigned i = 0; i < list.size(); ++i)
        list.set(i, as_data(request.key_ids[i].raw()));
      break;
    }
  }
  return to_bytes(message);
}

caf::expected<dht_request> decode_request(std::string_view bytes) {
  return capnp_io::read<schema::DhtRequest>(
    bytes, limits::max_message_bytes, "request",
    [](schema::DhtRequest::Reader root) -> caf::expected<dht_request> {
    dht_request out;
    auto sender = read_peer(root.getSender());
    if (!sender)
      return sender.error();
    out.sender = std::move(*sender);
    out.client_mode = root.getClientMode();
    switch (root.which()) {
      case schema::DhtRequest::PING:
        out.kind = request_kind::ping;
        break;
      case schema::DhtRequest::STORE: {
        out.kind = request_kind::store;
        auto store = root.getStore();
        out.in_cache = store.getInCache();
        auto records = store.getRecords();
        if (records.size() > limits::max_records_per_message)
          return protocol_error("store of " + std::to_string(records.size()) +
                                " records exceeds the limit of " +
                                std::to_string(limits::max_records_per_message));
        for (auto r : records) {
          auto rec = read_record(r);
          if (!rec)
            return rec.error();
          out.records.push_back(std::move(*rec));
        }
        break;
      }
      case schema::DhtRequest::FIND: {
        out.kind = request_kind::find;
        auto ids = root.getFind().getKeyIds();
        if (ids.size() > limits::max_ids_per_find)
          return protocol_error("find of " + std::to_string(ids.size()) +
                                " ids exceeds the limit of " +
                                std::to_string(limits::max_ids_per_find));
        for (auto raw : ids) {
          auto id = node_id::from_bytes(view(raw));
          if (!id)
            return protocol_error("find: key id must be 20 bytes");
          out.key_ids.push_back(*id);
        }
        break;
      }
      default:
        return protocol_error("unknown request kind");
    }
    return out;
  });
}

std::string encode(const dht_response& response) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::DhtResponse>();
  write_peer(root.initResponder(), response.responder);
  if (!response.error.empty()) {
    root.setError(response.error);
    return to_bytes(message);
  }
  switch (response.kind) {
    case request_kind::ping:
      root.setPing();
      break;
    case request_kind::store: {
      auto list = root.initStore(static_cast<unsigned>(response.stored.size()));
      for (unsigned i = 0; i < list.size(); ++i) {
        list[i].setAccepted(response.stored[i].accepted);
        list[i].setError(response.stored[i].error);
      }
      break;
    }
    case request_kind::find: {
      auto list = root.initFind(static_cast<unsigned>(response.found.size()));
      for (unsigned i = 0; i < list.size(); ++i) {
        const auto& f = response.found[i];
        auto recs = list[i].initRecords(static_cast<unsigned>(f.records.size()));
        for (unsigned j = 0; j < recs.size(); ++j)
          write_record(recs[j], f.records[j]);
        auto nodes = list[i].initNearest(static_cast<unsigned>(f.nearest.size()));
        for (unsigned j = 0; j < nodes.size(); ++j)
          write_peer(nodes[j], f.nearest[j]);
      }
      break;
    }
  }
  return to_bytes(message);
}

caf::expected<dht_response> decode_response(std::string_view bytes) {
  return capnp_io::read<schema::DhtResponse>(
    bytes, limits::max_message_bytes, "response",
    [](schema::DhtResponse::Reader root) -> caf::expected<dht_response> {
    dht_response out;
    auto responder = read_peer(root.getResponder());
    if (!responder)
      return responder.error();
    out.responder = std::move(*responder);
    switch (root.which()) {
      case schema::DhtResponse::ERROR:
        out.error = std::string(view(root.getError()));
        if (out.error.empty())
          out.error = "unspecified error";
        break;
      case schema::DhtResponse::PING:
        out.kind = request_kind::ping;
        break;
      case schema::DhtResponse::STORE:
        out.kind = request_kind::store;
        if (root.getStore().size() > limits::max_records_per_message)
          return protocol_error("too many store results");
        for (auto r : root.getStore())
          out.stored.push_back(store_result{r.getAccepted(), std::string(view(r.getError()))});
        break;
      case schema::DhtResponse::FIND:
        out.kind = request_kind::find;
        if (root.getFind().size() > limits::max_ids_per_find)
          return protocol_error("too many find results");
        for (auto f : root.getFind()) {
          find_result result;
          if (f.getRecords().size() > limits::max_records_per_message ||
              f.getNearest().size() > limits::max_nodes_per_result)
            return protocol_error("find result exceeds its limits");
          for (auto r : f.getRecords()) {
            auto rec = read_record(r);
            if (!rec)
              return rec.error();
            result.records.push_back(std::move(*rec));
          }
          for (auto n : f.getNearest()) {
            auto p = read_peer(n);
            if (!p)
              return p.error();
            result.nearest.push_back(std::move(*p));
          }
          out.found.push_back(std::move(result));
        }
        break;
      default:
        return protocol_error("unknown response kind");
    }
    return out;
  });
}

std::string encode(const dht_record& record) {
  capnp::MallocMessageBuilder message;
  write_record(message.initRoot<schema::Record>(), record);
  return to_bytes(message);
}

caf::expected<dht_record> decode_record(std::string_view bytes) {
  return capnp_io::read<schema::Record>(bytes, limits::max_message_bytes, "record",
                                        [](schema::Record::Reader r) { return read_record(r); });
}

std::string signed_bytes(const dht_record& record) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::SignedFields>();
  root.setKey(as_data(record.key));
  root.setSubkey(as_data(record.subkey));
  root.setHasSubkey(record.has_subkey);
  root.setValue(as_data(record.value));
  root.setExpiration(record.expiration);
  auto canonical = capnp::canonicalize(root.asReader());
  auto bytes = canonical.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

} // namespace ttt::dht
