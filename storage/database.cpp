#include "storage/database.hpp"

#include <caf/sec.hpp>

#include <cstdint> // RocksDB 7.8's headers use uint64_t without including it
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <vector>

namespace ttt::storage {

namespace {

constexpr column all_columns[] = {column::dht_records, column::routing, column::checkpoints,
                                  column::metrics_history, column::contributions};

caf::error to_error(const rocksdb::Status& status, const std::string& what) {
  return caf::make_error(caf::sec::runtime_error, "rocksdb: " + what + ": " + status.ToString());
}

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

} // namespace

const char* to_string(column c) {
  switch (c) {
    case column::dht_records:
      return "dht_records";
    case column::routing:
      return "routing";
    case column::checkpoints:
      return "checkpoints";
    case column::metrics_history:
      return "metrics_history";
    case column::contributions:
      return "contributions";
  }
  return "?";
}

struct database::impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles; // [0] is RocksDB's default family

  rocksdb::ColumnFamilyHandle* handle(column c) const {
    return handles[1 + static_cast<size_t>(c)];
  }

  ~impl() {
    for (auto* h : handles)
      if (db && h != nullptr)
        db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    if (db)
      db->Close().PermitUncheckedError();
  }
};

database::database(std::string dir, std::unique_ptr<impl> impl)
  : dir_(std::move(dir)), impl_(std::move(impl)) {
}

database::~database() = default;

caf::expected<std::unique_ptr<database>> database::open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 1; // many peers share a 2-core machine in tests
  options.keep_log_file_num = 2;
  options.max_open_files = 64;

  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options));
  for (auto c : all_columns)
    families.emplace_back(to_string(c), rocksdb::ColumnFamilyOptions(options));

  auto state = std::make_unique<impl>();
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(rocksdb::DBOptions(options), dir, families, &state->handles, &raw);
  if (!status.ok())
    return to_error(status, "cannot open " + dir);
  state->db.reset(raw);
  return std::unique_ptr<database>(new database(dir, std::move(state)));
}

caf::error database::put(column c, std::string_view key, std::string_view value) {
  auto status = impl_->db->Put(rocksdb::WriteOptions(), impl_->handle(c), slice(key), slice(value));
  if (!status.ok())
    return to_error(status, std::string("put into ") + to_string(c));
  return caf::none;
}

caf::error database::erase(column c, std::string_view key) {
  auto status = impl_->db->Delete(rocksdb::WriteOptions(), impl_->handle(c), slice(key));
  if (!status.ok())
    return to_error(status, std::string("delete from ") + to_string(c));
  return caf::none;
}

caf::expected<std::optional<std::string>> database::get(column c, std::string_view key) {
  std::string value;
  auto status = impl_->db->Get(rocksdb::ReadOptions(), impl_->handle(c), slice(key), &value);
  if (status.IsNotFound())
    return std::optional<std::string>{};
  if (!status.ok())
    return to_error(status, std::string("get from ") + to_string(c));
  return std::optional<std::string>{std::move(value)};
}

caf::error database::for_each(
  column c, const std::function<bool(std::string_view key, std::string_view value)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->handle(c)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto k = it->key();
    auto v = it->value();
    if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())))
      break;
  }
  auto status = it->status();
  if (!status.ok())
    return to_error(status, std::string("iterate ") + to_string(c));
  return caf::none;
}

caf::error database::flush() {
  auto status = impl_->db->FlushWAL(true);
  if (!status.ok())
    return to_error(status, "flush");
  return caf::none;
}

} // namespace ttt::storage
