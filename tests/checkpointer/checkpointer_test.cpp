// The checkpointer: its pure core (names, retention, codecs), the store on a
// real RocksDB in a temporary directory (keep the newest N, metadata round
// trip, a corrupted or incomplete checkpoint skipped for the next older one,
// the index surviving a reopen), and the actor shell.
#define BOOST_TEST_MODULE checkpointer
#include <boost/test/unit_test.hpp>

#include "actors/checkpointer/checkpointer.hpp"
#include "actors/checkpointer/checkpoint_store.hpp"
#include "actors/common/describe.hpp"
#include "tests/common/process.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace ttt;
using namespace ttt::checkpoint;
namespace fs = std::filesystem;

namespace {

/// A state whose bytes depend on the epoch (so checksums differ).
std::vector<state_file> state_of(uint64_t epoch) {
  std::string weights(4096 + epoch, '\0');
  for (size_t i = 0; i < weights.size(); ++i)
    weights[i] = static_cast<char>((i * 31 + epoch * 7) & 0xff);
  return {{"model.safetensors", weights}, {"trainer_state.json", "{\"step\": " + std::to_string(epoch) + "}\n"}};
}

checkpoint_meta meta_of(uint64_t epoch) {
  checkpoint_meta m;
  m.epoch = epoch;
  m.samples = 100 + epoch;
  m.loss = 1.0 / static_cast<double>(epoch + 1);
  m.time = 1.7e9 + static_cast<double>(epoch);
  return m;
}

std::unique_ptr<storage::database> open_db(const std::string& dir) {
  auto db = storage::database::open(dir);
  if (!db)
    throw std::runtime_error(describe(db.error()));
  return std::move(*db);
}

void flip_a_byte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(100);
  char c = 0;
  f.read(&c, 1);
  f.seekp(100);
  c = static_cast<char>(c ^ 0x5a);
  f.write(&c, 1);
}

} // namespace

BOOST_AUTO_TEST_CASE(names_sort_by_epoch_and_retention_keeps_the_newest) {
  BOOST_TEST(directory_name(7) == "epoch-00000007");
  BOOST_TEST(directory_name(123456789) == "epoch-123456789");
  BOOST_TEST(record_key(255) < record_key(256));
  BOOST_TEST(record_key(1) < record_key(uint64_t{1} << 40));
  BOOST_TEST(!due(0, 1));
  BOOST_TEST(due(1, 1));
  BOOST_TEST(!due(3, 2));
  BOOST_TEST(due(4, 2));
  BOOST_TEST(!due(5, 0));
  BOOST_TEST((to_remove({5, 1, 4, 2, 3}, 3) == std::vector<uint64_t>{1, 2}));
  BOOST_TEST(to_remove({1, 2}, 3).empty());
  BOOST_TEST(to_remove({1, 2, 3, 4}, 0).empty());
  auto order = newest_first({meta_of(2), meta_of(9), meta_of(4)});
  BOOST_TEST(order[0].epoch == 9u);
  BOOST_TEST(order[2].epoch == 2u);
}

BOOST_AUTO_TEST_CASE(records_and_state_bundles_round_trip) {
  auto m = meta_of(12);
  m.path = "/tmp/x/epoch-00000012";
  m.files = describe_files(state_of(12));
  auto back = decode_checkpoint_meta(encode(m));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->epoch == 12u);
  BOOST_TEST(back->samples == 112u);
  BOOST_TEST(back->loss == m.loss);
  BOOST_TEST(back->time == m.time);
  BOOST_TEST(back->path == m.path);
  BOOST_TEST((back->files == m.files));

  training_state s{5, state_of(5)};
  auto bundle = decode_training_state(encode(s));
  BOOST_REQUIRE(bundle);
  BOOST_TEST(bundle->epoch == 5u);
  BOOST_REQUIRE(bundle->files.size() == 2u);
  BOOST_TEST(mismatch(describe_files(s.files), bundle->files).empty());
  // A peer's bundle naming a path outside the checkpoint directory is refused.
  training_state evil{5, {{"../../etc/passwd", "x"}}};
  BOOST_TEST(!decode_training_state(encode(evil)));
  BOOST_TEST(!decode_training_state(std::string(16, 'x')));
  BOOST_TEST(!decode_training_state(encode(s), 64)); // over the size limit
}

BOOST_AUTO_TEST_CASE(keeps_the_last_n_and_records_metadata_in_rocksdb) {
  test::temp_dir tmp;
  auto root = tmp.path() + "/checkpoints";
  {
    auto db = open_db(tmp.path() + "/db");
    checkpoint_store store(db.get(), root, 3);
    for (uint64_t e = 1; e <= 5; ++e) {
      auto saved = store.save(meta_of(e), state_of(e));
      BOOST_REQUIRE_MESSAGE(saved, (saved ? std::string() : describe(saved.error())));
      BOOST_TEST(saved->path == root + "/" + directory_name(e));
    }
    auto all = store.list();
    BOOST_REQUIRE(all);
    BOOST_REQUIRE(all->size() == 3u);
    BOOST_TEST((*all)[0].epoch == 3u);
    BOOST_TEST((*all)[2].epoch == 5u);
    BOOST_TEST(!fs::exists(root + "/" + directory_name(1)));
    BOOST_TEST(!fs::exists(root + "/" + directory_name(2)));
    BOOST_TEST(fs::exists(root + "/" + directory_name(3) + "/model.safetensors"));
    BOOST_TEST(!fs::exists(root + "/" + directory_name(5) + "/model.safetensors.tmp"));
    BOOST_REQUIRE(!(db->flush()));
  }
  // The index survives a reopen, with every field as written.
  auto db = open_db(tmp.path() + "/db");
  checkpoint_store store(db.get(), root, 3);
  auto all = store.list();
  BOOST_REQUIRE(all);
  BOOST_REQUIRE(all->size() == 3u);
  const auto& newest = all->back();
  BOOST_TEST(newest.epoch == 5u);
  BOOST_TEST(newest.samples == 105u);
  BOOST_TEST(newest.loss == meta_of(5).loss);
  BOOST_TEST(newest.time == meta_of(5).time);
  BOOST_TEST(newest.path == root + "/" + directory_name(5));
  BOOST_TEST((newest.files == describe_files(state_of(5))));
  auto latest = store.latest_valid();
  BOOST_REQUIRE(latest.found);
  BOOST_TEST(latest.meta.epoch == 5u);
  BOOST_TEST(mismatch(describe_files(state_of(5)), latest.files).empty());
}

BOOST_AUTO_TEST_CASE(a_corrupted_or_incomplete_checkpoint_is_skipped_for_the_next_older) {
  test::temp_dir tmp;
  auto root = tmp.path() + "/checkpoints";
  auto db = open_db(tmp.path() + "/db");
  std::vector<std::string> logged;
  checkpoint_store store(db.get(), root, 0, [&](const std::string& l) { logged.push_back(l); });
  for (uint64_t e = 1; e <= 4; ++e)
    BOOST_REQUIRE(store.save(meta_of(e), state_of(e)));
  flip_a_byte(root + "/" + directory_name(4) + "/model.safetensors");
  fs::remove(root + "/" + directory_name(3) + "/trainer_state.json");
  std::ofstream(root + "/" + directory_name(2) + "/model.safetensors", std::ios::app) << "more";
  auto latest = store.latest_valid();
  BOOST_REQUIRE(latest.found);
  BOOST_TEST(latest.meta.epoch == 1u);
  BOOST_TEST(mismatch(describe_files(state_of(1)), latest.files).empty());
  BOOST_REQUIRE(logged.size() == 3u);
  BOOST_TEST(logged[0].find("checksum mismatch") != std::string::npos);
  BOOST_TEST(logged[1].find("missing file") != std::string::npos);
  BOOST_TEST(logged[2].find("bytes") != std::string::npos);
  // The last one gone too: a fresh start, not a crash.
  fs::remove_all(root + "/" + directory_name(1));
  BOOST_TEST(!store.latest_valid().found);
}

BOOST_AUTO_TEST_CASE(what_a_save_cut_short_left_behind_is_removed) {
  test::temp_dir tmp;
  auto root = tmp.path() + "/checkpoints";
  auto db = open_db(tmp.path() + "/db");
  checkpoint_store store(db.get(), root, 0);
  BOOST_REQUIRE(store.save(meta_of(1), state_of(1)));
  // Files of epoch 2 written, the process killed before its record was put.
  BOOST_REQUIRE(!save_state(root + "/" + directory_name(2), state_of(2)));
  std::ofstream(root + "/" + directory_name(1) + "/model.safetensors.tmp") << "half";
  std::ofstream(root + "/notes.txt") << "not ours";
  BOOST_TEST(store.remove_unindexed() == 2u);
  BOOST_TEST(!fs::exists(root + "/" + directory_name(2)));
  BOOST_TEST(!fs::exists(root + "/" + directory_name(1) + "/model.safetensors.tmp"));
  BOOST_TEST(fs::exists(root + "/notes.txt"));
  auto latest = store.latest_valid();
  BOOST_REQUIRE(latest.found);
  BOOST_TEST(latest.meta.epoch == 1u);
}

BOOST_AUTO_TEST_CASE(files_are_replaced_atomically) {
  test::temp_dir tmp;
  auto path = tmp.path() + "/file.bin";
  BOOST_REQUIRE(!(write_file_atomically(path, "first")));
  BOOST_REQUIRE(!(write_file_atomically(path, "second")));
  BOOST_TEST(!fs::exists(path + ".tmp"));
  auto files = load_state(tmp.path());
  BOOST_REQUIRE(files);
  BOOST_REQUIRE(files->size() == 1u);
  BOOST_TEST((*files)[0].bytes == "second");
  BOOST_TEST(static_cast<bool>(save_state(tmp.path() + "/d", {{"../escape", "x"}})));
}

BOOST_AUTO_TEST_CASE(the_actor_writes_due_checkpoints_and_returns_the_newest_valid) {
  test::temp_dir tmp;
  auto db = open_db(tmp.path() + "/db");
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ttt>();
  caf::actor_system sys(cfg);
  checkpointer_config cc;
  cc.db = db.get();
  cc.root = tmp.path() + "/checkpoints";
  cc.every = 2;
  cc.keep = 2;
  cc.clock = [] { return 1.7e9; };
  auto cp = spawn_checkpointer(sys, cc);
  caf::scoped_actor self{sys};
  std::vector<bool> written;
  for (uint64_t e = 1; e <= 6; ++e) {
    checkpoint_request req{training_state{e, state_of(e)}, 10, 0.5};
    self->request(cp, std::chrono::seconds(10), ckpt_save_atom_v, req)
      .receive([&](bool w) { written.push_back(w); },
               [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  }
  BOOST_TEST((written == std::vector<bool>{false, true, false, true, false, true}));
  self->request(cp, std::chrono::seconds(10), ckpt_load_atom_v)
    .receive(
      [&](loaded_checkpoint& latest) {
        BOOST_REQUIRE(latest.found);
        BOOST_TEST(latest.meta.epoch == 6u);
        BOOST_TEST(latest.meta.samples == 10u);
        BOOST_TEST(mismatch(describe_files(state_of(6)), latest.files).empty());
      },
      [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(!fs::exists(cc.root + "/" + directory_name(2)));
  BOOST_TEST(fs::exists(cc.root + "/" + directory_name(4)));
  self->send_exit(cp, caf::exit_reason::user_shutdown);
}
