// The joiner's side without a network: which content a name stands for when
// seeders disagree, which files a budget takes (the same ones again for the
// same peer), and the download through a fake reader: resumed from a .part,
// a corrupt copy deleted and fetched from the next seeder, a file already
// there skipped, a seeder that never serves a good copy named in the error.
#define BOOST_TEST_MODULE seeder_fetch
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/seeder/fetch.hpp"
#include "tests/seeder/test_files.hpp"

#include <filesystem>
#include <map>
#include <set>

using namespace ttt;
using seeder::shard_entry;

namespace {

node_id peer(uint8_t n) {
  node_id id;
  id.bytes[0] = n;
  return id;
}

shard_entry entry(const std::string& name, const std::string& bytes) {
  return {name, bytes.size(), test::digest_of(bytes)};
}

seeder::shard_listing listing(uint8_t n, std::vector<shard_entry> files) {
  return {peer(n), "127.0.0." + std::to_string(n), 4000, std::move(files)};
}

std::set<std::string> names_of(const seeder::fetch_plan& plan) {
  std::set<std::string> names;
  for (const auto& f : plan.files)
    names.insert(f.entry.name);
  return names;
}

/// Seeders as a map from peer to its files' bytes; `corrupt` flips a byte of
/// what the named seeder sends for one file; counts what was read.
struct fake_swarm {
  std::map<node_id, std::map<std::string, std::string>> files;
  std::map<std::pair<node_id, std::string>, size_t>
      corrupt_reads; ///< how many more reads to corrupt
  std::set<node_id> down;
  std::vector<std::pair<node_id, seeder::byte_range>> reads;

  seeder::chunk_reader reader() {
    return [this](const seeder::source& from, const std::string& name,
                  const std::vector<seeder::byte_range>& ranges) {
      std::vector<caf::expected<std::string>> out;
      for (const auto& r : ranges) {
        reads.emplace_back(from.peer, r);
        if (down.count(from.peer)) {
          out.emplace_back(caf::make_error(caf::sec::runtime_error, "connection refused"));
          continue;
        }
        const auto& bytes = files.at(from.peer).at(name);
        auto chunk = bytes.substr(r.offset, r.length);
        auto& bad = corrupt_reads[{from.peer, name}];
        if (bad > 0 && !chunk.empty()) {
          chunk[0] ^= 0x40;
          bad -= 1;
        }
        out.emplace_back(std::move(chunk));
      }
      return out;
    };
  }

  uint64_t bytes_read_from(const node_id& p) const {
    uint64_t total = 0;
    for (const auto& [who, r] : reads)
      total += who == p ? r.length : 0;
    return total;
  }
};

seeder::download_options options_in(const std::string& dir) {
  seeder::download_options o;
  o.dir = dir;
  o.chunk_bytes = 1000;
  o.window = 3;
  return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_content_most_seeders_list_wins_and_a_tie_is_refused) {
  auto good = entry("train-0.shard", "good");
  auto bad = entry("train-0.shard", "evil");
  auto tied_a = entry("valid-0.shard", "one");
  auto tied_b = entry("valid-0.shard", "two");
  auto offered = seeder::merge_listings(
      {listing(1, {good, tied_a}), listing(2, {good, tied_b}), listing(3, {bad}),
       listing(3, {bad}) /* a second copy of one seeder counts once */});
  BOOST_REQUIRE(offered.files.size() == 1u);
  BOOST_TEST(offered.files[0].entry.digest == good.digest);
  BOOST_TEST(offered.files[0].sources.size() == 2u);
  BOOST_REQUIRE(offered.disputed.size() == 1u);
  BOOST_TEST(offered.disputed[0].name == "valid-0.shard");
  // A disputed support file or validation shard stops the fetch; a disputed
  // training shard is only left out.
  auto plan = seeder::plan_fetch(offered, 0, "me");
  BOOST_REQUIRE(!plan);
  BOOST_TEST(describe(plan.error()).find("valid-0.shard") != std::string::npos,
             describe(plan.error()));
  auto only_training = seeder::merge_listings(
      {listing(1, {good, entry("train-1.shard", "x")}), listing(2, {entry("train-1.shard", "y")})});
  auto partial = seeder::plan_fetch(only_training, 0, "me");
  BOOST_REQUIRE(partial);
  BOOST_TEST(names_of(*partial) == std::set<std::string>{"train-0.shard"});
}

BOOST_AUTO_TEST_CASE(a_budget_takes_every_support_file_and_the_training_shards_that_fit) {
  std::vector<shard_entry> files{entry("tokenizer.model", std::string(100, 't')),
                                 entry("codebook.safetensors", std::string(300, 'c')),
                                 entry("dalle.ini", "[model]"),
                                 entry("valid-0.shard", std::string(600, 'v'))};
  for (int i = 0; i < 20; ++i)
    files.push_back(entry("train-" + std::to_string(i) + ".shard",
                          std::string(1000, static_cast<char>('a' + i))));
  auto offered = seeder::merge_listings({listing(1, files), listing(2, files)});
  uint64_t support = 100 + 300 + 7 + 600;

  auto all = seeder::plan_fetch(offered, 0, "me");
  BOOST_REQUIRE(all);
  BOOST_TEST(all->files.size() == 24u);
  BOOST_TEST(all->bytes == support + 20 * 1000);
  BOOST_TEST(all->training_offered == 20u);

  auto some = seeder::plan_fetch(offered, support + 5500, "me");
  BOOST_REQUIRE(some);
  BOOST_TEST(some->bytes <= support + 5500);
  BOOST_TEST(some->files.size() == 4u + 5u);
  for (const char* name : {"tokenizer.model", "codebook.safetensors", "dalle.ini", "valid-0.shard"})
    BOOST_TEST(names_of(*some).count(name) == 1u, name);
  // The same peer picks the same shards; another peer, others.
  BOOST_TEST(names_of(*seeder::plan_fetch(offered, support + 5500, "me")) == names_of(*some));
  BOOST_TEST(names_of(*seeder::plan_fetch(offered, support + 5500, "someone else")) !=
             names_of(*some));
  // Sources are ranked per picker: not every joiner starts with the same seeder.
  std::set<node_id> first_choices;
  for (const auto& f : all->files)
    first_choices.insert(f.sources.front().peer);
  BOOST_TEST(first_choices.size() == 2u);

  auto none = seeder::plan_fetch(offered, support + 999, "me");
  BOOST_REQUIRE(!none);
  BOOST_TEST(describe(none.error()).find("holds no training shard") != std::string::npos,
             describe(none.error()));
  BOOST_TEST(!seeder::plan_fetch(seeder::offer{}, 0, "me"));
}

BOOST_AUTO_TEST_CASE(the_progress_line_reads_as_the_issue_says) {
  seeder::fetch_progress p{3, 10, 12'500'000, 40'000'000, 8'100'000};
  BOOST_TEST(seeder::progress_line(p) == "data: 3/10 files, 12.5 of 40.0 MB, 8.1 MB/s");
}

BOOST_AUTO_TEST_CASE(a_download_verifies_every_file_and_skips_what_is_there) {
  test::scratch_dir dir;
  fake_swarm swarm;
  auto train = test::pseudo_random_bytes(5'500, 1);
  auto tokenizer = test::pseudo_random_bytes(10, 2);
  auto empty = std::string();
  swarm.files[peer(1)] = {
      {"train-0.shard", train}, {"tokenizer.model", tokenizer}, {"valid-0.shard", empty}};
  auto offered = seeder::merge_listings(
      {listing(1, {entry("train-0.shard", train), entry("tokenizer.model", tokenizer),
                   entry("valid-0.shard", empty)})});
  auto plan = seeder::plan_fetch(offered, 0, "me");
  BOOST_REQUIRE(plan);
  std::vector<seeder::fetch_progress> reported;
  auto options = options_in(dir / "out");
  options.progress = [&](const seeder::fetch_progress& p) { reported.push_back(p); };
  auto report = seeder::download(*plan, swarm.reader(), options);
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->fetched == 3u);
  BOOST_TEST(report->corrupt == 0u);
  BOOST_TEST(report->bytes_transferred == train.size() + tokenizer.size());
  BOOST_TEST(test::read_file(dir / "out/train-0.shard") == train);
  BOOST_TEST(test::read_file(dir / "out/tokenizer.model") == tokenizer);
  BOOST_TEST(std::filesystem::exists(dir / "out/valid-0.shard"));
  BOOST_TEST(!std::filesystem::exists(dir / "out/train-0.shard.part"));
  BOOST_REQUIRE(!reported.empty());
  BOOST_TEST(reported.back().files_done == 3u);
  BOOST_TEST(reported.back().bytes_done == plan->bytes);

  // Again: everything is there and verified, nothing is read; a file that
  // changed on disk is fetched again.
  swarm.reads.clear();
  auto again = seeder::download(*plan, swarm.reader(), options);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->fetched == 0u);
  BOOST_TEST(swarm.reads.empty());
  test::write_file(dir / "out/tokenizer.model", "changed");
  auto repaired = seeder::download(*plan, swarm.reader(), options);
  BOOST_REQUIRE(repaired);
  BOOST_TEST(repaired->fetched == 1u);
  BOOST_TEST(test::read_file(dir / "out/tokenizer.model") == tokenizer);
}

BOOST_AUTO_TEST_CASE(a_part_file_is_resumed_not_restarted) {
  test::scratch_dir dir;
  fake_swarm swarm;
  auto train = test::pseudo_random_bytes(10'000, 3);
  swarm.files[peer(1)] = {{"train-0.shard", train}};
  auto plan = seeder::plan_fetch(
      seeder::merge_listings({listing(1, {entry("train-0.shard", train)})}), 0, "me");
  BOOST_REQUIRE(plan);
  std::filesystem::create_directories(dir / "out");
  test::write_file(dir / "out/train-0.shard.part", train.substr(0, 5'000));
  auto report = seeder::download(*plan, swarm.reader(), options_in(dir / "out"));
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->bytes_transferred == 5'000u);
  BOOST_TEST(swarm.reads.front().second.offset == 5'000u);
  BOOST_TEST(test::read_file(dir / "out/train-0.shard") == train);
}

BOOST_AUTO_TEST_CASE(a_corrupt_copy_is_fetched_again_from_the_next_seeder) {
  test::scratch_dir dir;
  fake_swarm swarm;
  auto train = test::pseudo_random_bytes(4'500, 4);
  swarm.files[peer(1)] = {{"train-0.shard", train}};
  swarm.files[peer(2)] = {{"train-0.shard", train}};
  auto plan =
      seeder::plan_fetch(seeder::merge_listings({listing(1, {entry("train-0.shard", train)}),
                                                 listing(2, {entry("train-0.shard", train)})}),
                         0, "me");
  BOOST_REQUIRE(plan);
  auto first = plan->files[0].sources[0].peer;
  auto second = plan->files[0].sources[1].peer;
  swarm.corrupt_reads[{first, "train-0.shard"}] = 1;
  std::vector<std::string> lines;
  auto options = options_in(dir / "out");
  options.log = [&](const std::string& line) { lines.push_back(line); };
  auto report = seeder::download(*plan, swarm.reader(), options);
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->corrupt == 1u);
  BOOST_TEST(report->bytes_transferred == 2 * train.size());
  BOOST_TEST(swarm.bytes_read_from(first) == train.size());
  BOOST_TEST(swarm.bytes_read_from(second) == train.size());
  BOOST_TEST(test::read_file(dir / "out/train-0.shard") == train);
  BOOST_REQUIRE(!lines.empty());
  BOOST_TEST(lines[0].find("does not match its digest") != std::string::npos, lines[0]);
}

BOOST_AUTO_TEST_CASE(a_seeder_that_stops_midway_is_resumed_from_another) {
  test::scratch_dir dir;
  fake_swarm swarm;
  auto train = test::pseudo_random_bytes(6'000, 5);
  swarm.files[peer(1)] = {{"train-0.shard", train}};
  swarm.files[peer(2)] = {{"train-0.shard", train}};
  auto plan =
      seeder::plan_fetch(seeder::merge_listings({listing(1, {entry("train-0.shard", train)}),
                                                 listing(2, {entry("train-0.shard", train)})}),
                         0, "me");
  BOOST_REQUIRE(plan);
  auto first = plan->files[0].sources[0].peer;
  // The first seeder answers the first batch (3 chunks), then goes down.
  auto inner = swarm.reader();
  size_t batches = 0;
  auto reader = [&](const seeder::source& from, const std::string& name,
                    const std::vector<seeder::byte_range>& r) {
    if (from.peer == first && batches++ == 1)
      swarm.down.insert(first);
    return inner(from, name, r);
  };
  auto report = seeder::download(*plan, reader, options_in(dir / "out"));
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->bytes_transferred == train.size());
  BOOST_TEST(report->corrupt == 0u);
  BOOST_TEST(test::read_file(dir / "out/train-0.shard") == train);
}

BOOST_AUTO_TEST_CASE(a_file_without_a_good_copy_fails_after_three_tries_naming_it_and_its_seeders) {
  test::scratch_dir dir;
  fake_swarm swarm;
  auto train = test::pseudo_random_bytes(2'000, 6);
  swarm.files[peer(1)] = {{"train-0.shard", train}};
  swarm.corrupt_reads[{peer(1), "train-0.shard"}] = 100;
  auto plan = seeder::plan_fetch(
      seeder::merge_listings({listing(1, {entry("train-0.shard", train)})}), 0, "me");
  BOOST_REQUIRE(plan);
  auto report = seeder::download(*plan, swarm.reader(), options_in(dir / "out"));
  BOOST_REQUIRE(!report);
  auto why = describe(report.error());
  BOOST_TEST(why.find("'train-0.shard' after 3 tries") != std::string::npos, why);
  BOOST_TEST(why.find(peer(1).to_hex().substr(0, 12) + "@127.0.0.1:4000") != std::string::npos,
             why);
  BOOST_TEST(swarm.bytes_read_from(peer(1)) == 3 * train.size());
  BOOST_TEST(!std::filesystem::exists(dir / "out/train-0.shard"));
  BOOST_TEST(!std::filesystem::exists(dir / "out/train-0.shard.part"));
}
