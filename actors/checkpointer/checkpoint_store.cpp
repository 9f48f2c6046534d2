#include "actors/checkpointer/checkpoint_store.hpp"

#include "actors/common/describe.hpp"

#include <caf/sec.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ttt::checkpoint {

namespace {

caf::error io_error(const std::string& what) {
  return caf::make_error(caf::sec::runtime_error, what);
}

caf::error errno_error(const std::string& what) {
  return io_error(what + ": " + std::strerror(errno));
}

caf::error fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0)
    return errno_error("cannot open " + path + " to sync it");
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0)
    return errno_error("cannot fsync " + path);
  return {};
}

} // namespace

caf::error write_file_atomically(const std::string& path, std::string_view bytes) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno_error("cannot create " + tmp);
  size_t written = 0;
  while (written < bytes.size()) {
    auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      auto err = errno_error("cannot write " + tmp);
      ::close(fd);
      return err;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto err = errno_error("cannot fsync " + tmp);
    ::close(fd);
    return err;
  }
  if (::close(fd) != 0)
    return errno_error("cannot close " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return errno_error("cannot rename " + tmp + " to " + path);
  auto parent = fs::path(path).parent_path().string();
  return fsync_path(parent.empty() ? "." : parent, true);
}

caf::error save_state(const std::string& dir, const std::vector<state_file>& files) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return io_error("cannot create " + dir + ": " + ec.message());
  for (const auto& f : files) {
    if (!valid_file_name(f.name))
      return io_error("state file name '" + f.name + "' is not a plain file name");
    if (auto err = write_file_atomically(dir + "/" + f.name, f.bytes))
      return err;
  }
  return {};
}

caf::expected<std::vector<state_file>> load_state(const std::string& dir,
                                                  const std::vector<std::string>& names) {
  std::vector<std::string> wanted = names;
  std::error_code ec;
  if (wanted.empty()) {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && valid_file_name(e.path().filename().string()) &&
          e.path().extension() != ".tmp")
        wanted.push_back(e.path().filename().string());
    if (ec)
      return io_error("cannot list " + dir + ": " + ec.message());
    std::sort(wanted.begin(), wanted.end());
  }
  std::vector<state_file> out;
  for (const auto& name : wanted) {
    auto path = dir + "/" + name;
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return io_error("missing file " + path);
    std::stringstream s;
    s << in.rdbuf();
    out.push_back({name, s.str()});
  }
  return out;
}

checkpoint_store::checkpoint_store(storage::database* db, std::string root, size_t keep,
                                   std::function<void(const std::string&)> log)
  : db_(db), root_(std::move(root)), keep_(keep), log_(std::move(log)) {}

caf::expected<checkpoint_meta> checkpoint_store::save(checkpoint_meta meta,
                                                      const std::vector<state_file>& files) {
  if (files.empty())
    return io_error("nothing to checkpoint: the model exports no state");
  meta.path = (fs::path(root_) / directory_name(meta.epoch)).string();
  meta.files = describe_files(files);
  if (auto err = save_state(meta.path, files))
    return err;
  if (auto err = fsync_path(root_, true))
    return err;
  if (auto err = db_->put(storage::column::checkpoints, record_key(meta.epoch), encode(meta)))
    return err;
  auto all = list();
  if (all) {
    std::vector<uint64_t> epochs;
    for (const auto& m : *all)
      epochs.push_back(m.epoch);
    for (auto epoch : to_remove(epochs, keep_))
      if (auto err = remove(epoch))
        log("cannot remove checkpoint of epoch " + std::to_string(epoch) + ": " + describe(err));
  }
  return meta;
}

caf::expected<std::vector<checkpoint_meta>> checkpoint_store::list() const {
  std::vector<checkpoint_meta> out;
  auto err = db_->for_each(storage::column::checkpoints, [&](std::string_view key, std::string_view value) {
    auto m = decode_checkpoint_meta(value);
    if (!m)
      log("checkpoint index: skipping an undecodable record: " + describe(m.error()));
    else if (key != record_key(m->epoch))
      log("checkpoint index: skipping a record filed under another epoch");
    else
      out.push_back(std::move(*m));
    return true;
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::vector<state_file>> checkpoint_store::read(const checkpoint_meta& meta) const {
  std::vector<std::string> names;
  for (const auto& f : meta.files)
    names.push_back(f.name);
  if (names.empty())
    return io_error("the record lists no files");
  auto files = load_state(meta.path, names);
  if (!files)
    return files.error();
  if (auto why = mismatch(meta.files, *files); !why.empty())
    return io_error(why);
  return files;
}

loaded_checkpoint checkpoint_store::latest_valid() const {
  loaded_checkpoint out;
  auto all = list();
  if (!all) {
    log("cannot read the checkpoint index: " + describe(all.error()));
    return out;
  }
  for (auto& meta : newest_first(std::move(*all))) {
    auto files = read(meta);
    if (!files) {
      log("checkpoint " + meta.path + " is not valid (" + describe(files.error()) +
          "): trying an older one");
      continue;
    }
    out.found = true;
    out.meta = std::move(meta);
    out.files = std::move(*files);
    return out;
  }
  return out;
}

caf::error checkpoint_store::remove(uint64_t epoch) {
  auto key = record_key(epoch);
  auto value = db_->get(storage::column::checkpoints, key);
  if (!value)
    return value.error();
  std::string path = (fs::path(root_) / directory_name(epoch)).string();
  if (*value)
    if (auto m = decode_checkpoint_meta(**value); m && !m->path.empty())
      path = m->path;
  if (auto err = db_->erase(storage::column::checkpoints, key))
    return err;
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec)
    return io_error("cannot remove " + path + ": " + ec.message());
  return {};
}

size_t checkpoint_store::remove_unindexed() {
  auto all = list();
  // An empty index may be a database that was lost or replaced, not a
  // crash: then the directories are the only copy left, and they stay.
  if (!all || all->empty())
    return 0;
  std::set<std::string> indexed;
  for (const auto& m : *all)
    indexed.insert(fs::path(m.path).filename().string());
  // Collected first, removed after: no directory changes under an iterator.
  std::vector<fs::path> orphans, temporaries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("epoch-", 0) != 0 || !e.is_directory())
      continue;
    if (!indexed.count(name)) {
      orphans.push_back(e.path());
      continue;
    }
    std::error_code inner;
    for (const auto& f : fs::directory_iterator(e.path(), inner))
      if (f.path().extension() == ".tmp")
        temporaries.push_back(f.path());
  }
  size_t removed = 0;
  for (const auto& p : orphans) {
    log("removing " + p.string() + ": no checkpoint record names it (a save cut short)");
    std::error_code rm;
    fs::remove_all(p, rm);
    removed += rm ? 0 : 1;
  }
  for (const auto& p : temporaries) {
    std::error_code rm;
    removed += fs::remove(p, rm) ? 1 : 0;
  }
  return removed;
}

} // namespace ttt::checkpoint
