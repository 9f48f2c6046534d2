#include "actors/seeder/fetch_plan.hpp"

#include "actors/common/identity.hpp"

#include <caf/sec.hpp>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace ttt::seeder {

namespace {

caf::error plan_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, "data: " + std::move(what));
}

/// A 64-bit rank from BLAKE2b of the parts (each length-prefixed, so that
/// no two lists of parts hash alike).
uint64_t rank_of(std::initializer_list<std::string_view> parts) {
  init_crypto();
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 8);
  for (auto part : parts) {
    unsigned char length[8];
    for (int i = 0; i < 8; ++i)
      length[i] = static_cast<unsigned char>(static_cast<uint64_t>(part.size()) >> (56 - 8 * i));
    crypto_generichash_update(&state, length, sizeof(length));
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
  }
  unsigned char out[8];
  crypto_generichash_final(&state, out, sizeof(out));
  uint64_t rank = 0;
  for (auto b : out)
    rank = (rank << 8) | b;
  return rank;
}

std::string megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", static_cast<double>(bytes) / 1e6);
  return text;
}

} // namespace

offer merge_listings(const std::vector<shard_listing>& listings) {
  // name -> (size, digest) -> the seeders that list it so
  std::map<std::string, std::map<std::pair<uint64_t, std::string>, std::vector<source>>> contents;
  std::set<node_id> seen;
  for (const auto& listing : listings) {
    if (!seen.insert(listing.peer).second)
      continue;
    for (const auto& f : listing.files)
      contents[f.name][{f.size, f.digest}].push_back({listing.peer, listing.address()});
  }
  offer out;
  for (auto& [name, versions] : contents) {
    std::vector<std::pair<size_t, const std::pair<uint64_t, std::string>*>> counts;
    for (const auto& [content, sources] : versions)
      counts.emplace_back(sources.size(), &content);
    std::sort(counts.begin(), counts.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    if (counts.size() > 1 && counts[0].first == counts[1].first) {
      out.disputed.push_back({name, counts[0].first, counts.size()});
      continue;
    }
    const auto& content = *counts[0].second;
    out.files.push_back({{name, content.first, content.second}, std::move(versions[content])});
  }
  return out;
}

file_kind kind_of(std::string_view name) {
  auto shard = [name](std::string_view prefix) {
    return name.substr(0, prefix.size()) == prefix && name.size() >= 6 &&
           name.substr(name.size() - 6) == ".shard";
  };
  if (shard("train-"))
    return file_kind::training;
  if (shard("valid-"))
    return file_kind::validation;
  return file_kind::support;
}

caf::expected<fetch_plan> plan_fetch(const offer& offered, uint64_t max_bytes,
                                     std::string_view picker) {
  for (const auto& d : offered.disputed)
    if (kind_of(d.name) != file_kind::training)
      return plan_error(
          "the seeders disagree on '" + d.name + "' (" + std::to_string(d.contents) +
          " different contents, none listed by more seeders than another): refusing to take it");
  if (offered.files.empty())
    return plan_error("the seeders offer no files");
  fetch_plan plan;
  std::vector<std::pair<uint64_t, const offered_file*>> training;
  for (const auto& f : offered.files) {
    if (kind_of(f.entry.name) == file_kind::training) {
      training.emplace_back(rank_of({"ttt-data-pick", picker, f.entry.name}), &f);
    } else {
      plan.files.push_back(f);
      plan.bytes += f.entry.size;
    }
  }
  plan.training_offered = training.size();
  std::sort(training.begin(), training.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->entry.name < b.second->entry.name;
  });
  uint64_t smallest = UINT64_MAX;
  size_t taken = 0;
  for (const auto& [rank, f] : training) {
    smallest = std::min(smallest, f->entry.size);
    if (max_bytes != 0 && plan.bytes + f->entry.size > max_bytes)
      continue;
    plan.files.push_back(*f);
    plan.bytes += f->entry.size;
    taken += 1;
  }
  if (!training.empty() && taken == 0)
    return plan_error("a budget of " + megabytes(max_bytes) +
                      " MB holds no training shard: the other files take " + megabytes(plan.bytes) +
                      " MB and the smallest shard is " + megabytes(smallest) + " MB");
  std::sort(plan.files.begin(), plan.files.end(), [](const offered_file& a, const offered_file& b) {
    return a.entry.name < b.entry.name;
  });
  for (auto& f : plan.files)
    std::sort(f.sources.begin(), f.sources.end(), [&](const source& a, const source& b) {
      return rank_of({"ttt-data-source", picker, f.entry.name, a.peer.raw()}) <
             rank_of({"ttt-data-source", picker, f.entry.name, b.peer.raw()});
    });
  return plan;
}

std::string progress_line(const fetch_progress& progress) {
  char text[160];
  std::snprintf(text, sizeof(text), "data: %zu/%zu files, %s of %s MB, %.1f MB/s",
                progress.files_done, progress.files_total, megabytes(progress.bytes_done).c_str(),
                megabytes(progress.bytes_total).c_str(), progress.bytes_per_second / 1e6);
  return text;
}

} // namespace ttt::seeder
