#include "actors/seeder/fetch.hpp"

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/common/file_digest.hpp"
#include "actors/seeder/listing.hpp"

#include <caf/sec.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace ttt::seeder {

namespace fs = std::filesystem;

namespace {

constexpr auto lookup_timeout = std::chrono::seconds(60);

caf::error fetch_error(std::string what) {
  return caf::make_error(caf::sec::runtime_error, "data: " + std::move(what));
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string short_id(const node_id& peer) {
  return peer.to_hex().substr(0, 12);
}

/// The progress of one download, reported at most once per interval.
class progress_meter {
public:
  progress_meter(const download_options& options, size_t files, uint64_t bytes)
      : options_(options), clock_(options.clock ? options.clock : steady_seconds) {
    state_.files_total = files;
    state_.bytes_total = bytes;
    started_ = last_ = clock_();
  }

  /// A file complete: its bytes count whole.
  void file_done(uint64_t size) {
    state_.files_done += 1;
    done_bytes_ += size;
    current_ = 0;
    tick(false);
  }
  /// How much of the file in hand is on disk.
  void partial(uint64_t bytes) {
    current_ = bytes;
    tick(false);
  }
  void received(uint64_t bytes) { transferred_ += bytes; }
  void finish() { tick(true); }

private:
  void tick(bool force) {
    auto now = clock_();
    if (!options_.progress || (!force && now - last_ < options_.progress_interval))
      return;
    last_ = now;
    state_.bytes_done = done_bytes_ + current_;
    state_.bytes_per_second =
        now > started_ ? static_cast<double>(transferred_) / (now - started_) : 0;
    options_.progress(state_);
  }

  const download_options& options_;
  std::function<double()> clock_;
  fetch_progress state_;
  uint64_t done_bytes_ = 0;
  uint64_t current_ = 0;
  uint64_t transferred_ = 0;
  double started_ = 0;
  double last_ = 0;
};

/// Writes all of `bytes` at `offset`; an error names the file.
caf::error write_at(int fd, const std::string& path, const std::string& bytes, uint64_t offset) {
  size_t put = 0;
  while (put < bytes.size()) {
    auto n = ::pwrite(fd, bytes.data() + put, bytes.size() - put, static_cast<off_t>(offset + put));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fetch_error("cannot write " + path + ": " + std::strerror(errno));
    put += static_cast<size_t>(n);
  }
  return caf::none;
}

/// How one try of one file went.
struct try_outcome {
  bool complete = false;    ///< NAME.part holds the whole file (its digest is checked next)
  std::string seeder_fault; ///< why the seeder's answers stopped it; empty when complete
};

/// Fetches what NAME.part lacks from `from`. Local failures (the disk)
/// are errors; a seeder's are reported in the outcome.
caf::expected<try_outcome> fetch_rest(const offered_file& file, const source& from,
                                      const std::string& part, const chunk_reader& read,
                                      const download_options& options, progress_meter& meter,
                                      download_report& report) {
  const auto size = file.entry.size;
  std::error_code ec;
  uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
  if (ec)
    return fetch_error("cannot read " + part + ": " + ec.message());
  if (have > size) {
    fs::remove(part, ec);
    have = 0;
  }
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return fetch_error("cannot open " + part + ": " + std::strerror(errno));
  meter.partial(have);
  try_outcome outcome;
  while (have < size && outcome.seeder_fault.empty()) {
    std::vector<byte_range> ranges;
    for (uint64_t at = have; ranges.size() < options.window && at < size;) {
      auto length = static_cast<uint32_t>(std::min<uint64_t>(options.chunk_bytes, size - at));
      ranges.push_back({at, length});
      at += length;
    }
    auto answers = read(from, file.entry.name, ranges);
    for (size_t i = 0; i < ranges.size() && outcome.seeder_fault.empty(); ++i) {
      if (i >= answers.size()) {
        outcome.seeder_fault = "no answer";
      } else if (!answers[i]) {
        outcome.seeder_fault = describe(answers[i].error());
      } else if (answers[i]->size() != ranges[i].length) {
        outcome.seeder_fault = "it sent " + std::to_string(answers[i]->size()) +
                               " bytes for a chunk of " + std::to_string(ranges[i].length);
      } else {
        if (auto err = write_at(fd, part, *answers[i], ranges[i].offset)) {
          ::close(fd);
          return err;
        }
        have += ranges[i].length;
        report.bytes_transferred += ranges[i].length;
        meter.received(ranges[i].length);
        meter.partial(have);
      }
    }
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced)
    return fetch_error("cannot write " + part + ": " + std::strerror(errno));
  outcome.complete = have == size;
  return outcome;
}

} // namespace

caf::expected<download_report> download(const fetch_plan& plan, const chunk_reader& read,
                                        const download_options& options) {
  auto log = [&options](const std::string& line) {
    if (options.log)
      options.log(line);
  };
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec)
    return fetch_error("cannot create " + options.dir + ": " + ec.message());
  download_report report;
  report.files = plan.files.size();
  report.bytes = plan.bytes;
  progress_meter meter(options, plan.files.size(), plan.bytes);
  for (const auto& file : plan.files) {
    const auto& name = file.entry.name;
    auto final_path = (fs::path(options.dir) / name).string();
    auto part = final_path + ".part";
    if (fs::exists(final_path, ec)) {
      auto digest = fs::file_size(final_path, ec) == file.entry.size
                        ? file_digest(final_path)
                        : caf::expected<std::string>(std::string());
      if (digest && *digest == file.entry.digest) {
        meter.file_done(file.entry.size);
        continue;
      }
      log("data: " + final_path + " is not the file the seeders list: fetching it again");
    }
    if (file.sources.empty())
      return fetch_error("no seeder serves '" + name + "'");
    std::vector<std::string> tried;
    bool done = false;
    for (size_t attempt = 0; attempt < options.max_tries && !done; ++attempt) {
      const auto& from = file.sources[attempt % file.sources.size()];
      auto outcome = fetch_rest(file, from, part, read, options, meter, report);
      if (!outcome)
        return outcome.error();
      if (!outcome->complete) {
        tried.push_back(short_id(from.peer) + "@" + from.address + ": " + outcome->seeder_fault);
        log("data: '" + name + "' from " + short_id(from.peer) + "@" + from.address + " stopped (" +
            outcome->seeder_fault + "); the next try resumes it");
        continue;
      }
      auto digest = file_digest(part);
      if (!digest)
        return digest.error();
      if (*digest != file.entry.digest) {
        // Which of its bytes are wrong is unknown (a resumed part holds
        // bytes of earlier tries): the whole copy goes.
        fs::remove(part, ec);
        report.corrupt += 1;
        tried.push_back(short_id(from.peer) + "@" + from.address +
                        ": the copy does not match its digest");
        log("data: '" + name + "' from " + short_id(from.peer) + "@" + from.address +
            " does not match its digest: fetching it again" +
            (file.sources.size() > 1 ? " from another seeder" : ""));
        meter.partial(0);
        continue;
      }
      fs::rename(part, final_path, ec);
      if (ec)
        return fetch_error("cannot rename " + part + " to " + final_path + ": " + ec.message());
      done = true;
    }
    if (!done) {
      std::string why;
      for (const auto& t : tried)
        why += (why.empty() ? "" : "; ") + t;
      return fetch_error("cannot fetch '" + name + "' after " + std::to_string(options.max_tries) +
                         " tries (" + why + ")");
    }
    report.fetched += 1;
    meter.file_done(file.entry.size);
  }
  meter.finish();
  return report;
}

chunk_reader wire_reader(caf::scoped_actor& self, const caf::actor& wire, caf::timespan timeout) {
  return [&self, wire, timeout](const source& from, const std::string& name,
                                const std::vector<byte_range>& ranges) {
    using handle = decltype(self->request(wire, timeout, data_call_atom_v, std::string(),
                                          std::string(), std::string()));
    std::vector<handle> pending;
    pending.reserve(ranges.size());
    for (const auto& r : ranges) {
      wire::data_request request;
      request.what = wire::data_request::kind::chunk;
      request.name = name;
      request.offset = r.offset;
      request.length = r.length;
      pending.push_back(self->request(wire, timeout, data_call_atom_v, from.address,
                                      std::string(from.peer.raw()), encode(request)));
    }
    std::vector<caf::expected<std::string>> answers;
    for (auto& h : pending)
      h.receive(
          [&](std::string&, std::string& body) {
            auto response = wire::decode_data_response(body);
            if (!response)
              answers.emplace_back(response.error());
            else if (response->what == wire::data_response::kind::chunk)
              answers.emplace_back(std::move(response->chunk));
            else if (response->what == wire::data_response::kind::error)
              answers.emplace_back(fetch_error("the seeder refused: " + response->error));
            else
              answers.emplace_back(
                  fetch_error("the seeder answered a chunk request with a listing"));
          },
          [&](caf::error& err) { answers.emplace_back(err); });
    return answers;
  };
}

caf::expected<download_report> fetch_shards(caf::scoped_actor& self, const dht::dht_actor& dht,
                                            const caf::actor& wire, const fetch_options& options) {
  auto log = [&options](const std::string& line) {
    if (options.download.log)
      options.download.log(line);
  };
  dht::dht_records records;
  caf::error failure;
  self->request(dht, lookup_timeout, dht_get_atom_v, shards_key(options.run_id), true)
      .receive([&](dht::dht_records& found) { records = std::move(found); },
               [&](caf::error& err) { failure = err; });
  if (failure)
    return fetch_error("cannot read the run's listings (" + shards_key(options.run_id) +
                       "): " + describe(failure));
  auto listings = read_listings(records);
  if (listings.empty())
    return fetch_error("no seeder of run '" + options.run_id + "' is listed in the DHT (" +
                       shards_key(options.run_id) + ")");
  auto offered = merge_listings(listings);
  for (const auto& d : offered.disputed)
    log("data: the seeders disagree on '" + d.name + "': not taking it");
  auto plan = plan_fetch(offered, options.max_bytes, options.picker);
  if (!plan)
    return plan.error();
  char size[32];
  std::snprintf(size, sizeof(size), "%.1f MB", static_cast<double>(plan->bytes) / 1e6);
  size_t training = 0;
  for (const auto& f : plan->files)
    training += kind_of(f.entry.name) == file_kind::training ? 1 : 0;
  log("data: " + std::to_string(listings.size()) +
      (listings.size() == 1 ? " seeder offers " : " seeders offer ") +
      std::to_string(offered.files.size()) + " files; taking " +
      std::to_string(plan->files.size()) + " (" + size + ", " + std::to_string(training) + " of " +
      std::to_string(plan->training_offered) + " training shards) into " + options.download.dir);
  return download(*plan, wire_reader(self, wire, options.call_timeout), options.download);
}

} // namespace ttt::seeder
