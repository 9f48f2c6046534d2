#include "actors/checkpointer/checkpoint_core.hpp"

#include "actors/common/capnp_io.hpp"
#include "actors/common/node_id.hpp"
#include "schema/checkpoint.capnp.h"

#include <algorithm>
#include <cstdio>

#include <sodium.h>

namespace ttt::checkpoint {

std::string checksum(std::string_view bytes) {
  unsigned char out[32];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size(), nullptr, 0);
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

std::string to_hex(std::string_view bytes) {
  return ttt::to_hex(bytes);
}

std::vector<file_meta> describe_files(const std::vector<state_file>& files) {
  std::vector<file_meta> out;
  for (const auto& f : files)
    out.push_back({f.name, f.bytes.size(), checksum(f.bytes)});
  return out;
}

std::string mismatch(const std::vector<file_meta>& expected, const std::vector<state_file>& files) {
  if (expected.empty())
    return "the record lists no files";
  for (const auto& e : expected) {
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const state_file& f) { return f.name == e.name; });
    if (it == files.end())
      return "missing file " + e.name;
    if (it->bytes.size() != e.size)
      return e.name + " has " + std::to_string(it->bytes.size()) + " bytes, the record says " +
             std::to_string(e.size);
    if (checksum(it->bytes) != e.checksum)
      return e.name + ": checksum mismatch";
  }
  return {};
}

bool valid_file_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.front() != '.' &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string directory_name(uint64_t epoch) {
  char name[40];
  std::snprintf(name, sizeof(name), "epoch-%08llu", static_cast<unsigned long long>(epoch));
  return name;
}

std::string record_key(uint64_t epoch) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, epoch >>= 8)
    key[static_cast<size_t>(i)] = static_cast<char>(epoch & 0xff);
  return key;
}

bool due(uint64_t completed, uint64_t every) {
  return every != 0 && completed != 0 && completed % every == 0;
}

std::vector<uint64_t> to_remove(std::vector<uint64_t> epochs, size_t keep) {
  if (keep == 0 || epochs.size() <= keep)
    return {};
  std::sort(epochs.begin(), epochs.end());
  epochs.erase(std::unique(epochs.begin(), epochs.end()), epochs.end());
  if (epochs.size() <= keep)
    return {};
  epochs.resize(epochs.size() - keep);
  return epochs;
}

std::vector<checkpoint_meta> newest_first(std::vector<checkpoint_meta> all) {
  std::stable_sort(all.begin(), all.end(), [](const checkpoint_meta& x, const checkpoint_meta& y) {
    return x.epoch > y.epoch;
  });
  return all;
}

std::string encode(const checkpoint_meta& m) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::CheckpointRecord>();
  root.setEpoch(m.epoch);
  root.setSamples(m.samples);
  root.setLoss(m.loss);
  root.setTime(m.time);
  root.setPath(m.path);
  auto files = root.initFiles(static_cast<unsigned>(m.files.size()));
  for (size_t i = 0; i < m.files.size(); ++i) {
    files[i].setName(m.files[i].name);
    files[i].setSize(m.files[i].size);
    files[i].setChecksum(capnp_io::as_data(m.files[i].checksum));
  }
  return capnp_io::to_bytes(message);
}

caf::expected<checkpoint_meta> decode_checkpoint_meta(std::string_view bytes) {
  return capnp_io::read<schema::CheckpointRecord>(
    bytes, 1 << 20, "checkpoint record",
    [](schema::CheckpointRecord::Reader r) -> caf::expected<checkpoint_meta> {
      checkpoint_meta m;
      m.epoch = r.getEpoch();
      m.samples = r.getSamples();
      m.loss = r.getLoss();
      m.time = r.getTime();
      m.path = r.getPath().cStr();
      for (auto f : r.getFiles()) {
        if (!valid_file_name(f.getName().cStr()))
          return capnp_io::invalid("checkpoint record: bad file name");
        if (f.getChecksum().size() != 32)
          return capnp_io::invalid("checkpoint record: checksum must be 32 bytes");
        m.files.push_back({f.getName().cStr(), f.getSize(),
                           std::string(capnp_io::as_view(f.getChecksum()))});
      }
      return m;
    });
}

std::string encode(const training_state& s) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::TrainingState>();
  root.setEpoch(s.epoch);
  auto files = root.initFiles(static_cast<unsigned>(s.files.size()));
  for (size_t i = 0; i < s.files.size(); ++i) {
    files[i].setName(s.files[i].name);
    files[i].setData(capnp_io::as_data(s.files[i].bytes));
  }
  return capnp_io::to_bytes(message);
}

caf::expected<training_state> decode_training_state(std::string_view bytes, uint64_t max_bytes) {
  return capnp_io::read<schema::TrainingState>(
    bytes, max_bytes, "training state",
    [](schema::TrainingState::Reader r) -> caf::expected<training_state> {
      training_state s;
      s.epoch = r.getEpoch();
      for (auto f : r.getFiles()) {
        std::string name = f.getName().cStr();
        if (!valid_file_name(name))
          return capnp_io::invalid("training state: bad file name");
        for (const auto& other : s.files)
          if (other.name == name)
            return capnp_io::invalid("training state: file " + name + " twice");
        s.files.push_back({std::move(name), std::string(capnp_io::as_view(f.getData()))});
      }
      if (s.files.empty())
        return capnp_io::invalid("training state holds no files");
      return s;
    });
}

} // namespace ttt::checkpoint
