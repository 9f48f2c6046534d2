// What a seeder lists and answers, without sockets: the run's data files of
// its directory (and nothing else), chunks read at their offsets, and a
// refusal for every request a hostile peer may make (an unlisted name, a
// path, a chunk too long, an offset past the end, bytes that are no request).
#define BOOST_TEST_MODULE seeder_serve
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/common/file_digest.hpp"
#include "actors/seeder/shard_server.hpp"
#include "tests/seeder/test_files.hpp"

#include <filesystem>

using namespace ttt;
using wire::transfer_limits;

namespace {

wire::data_response ask(const seeder::shard_server& server, const wire::data_request& request) {
  auto response = wire::decode_data_response(server.answer(encode(request)));
  BOOST_REQUIRE(response);
  return *response;
}

wire::data_request chunk(std::string name, uint64_t offset, uint32_t length) {
  wire::data_request r;
  r.what = wire::data_request::kind::chunk;
  r.name = std::move(name);
  r.offset = offset;
  r.length = length;
  return r;
}

/// A directory as a run's seeder holds it, with a few files it must not serve.
struct run_files {
  test::scratch_dir dir;
  std::string train = test::pseudo_random_bytes(1'300'000, 1);
  std::string valid = test::pseudo_random_bytes(4'000, 2);
  std::string tokenizer = "tokenizer bytes";

  run_files() {
    test::write_file(dir / "train-00000.shard", train);
    test::write_file(dir / "valid-00000.shard", valid);
    test::write_file(dir / "tokenizer.model", tokenizer);
    test::write_file(dir / "dalle.ini", "[model]\n");
    test::write_file(dir / "notes.txt", "not data");
    test::write_file(dir / "train-bad name.shard", "a name the wire cannot carry");
    std::filesystem::create_directories(dir / "train-sub.shard");
    std::filesystem::create_directories(dir / "db");
    test::write_file(dir / "db/train-9.shard", "in a subfolder");
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(the_digest_is_blake2b_256_of_the_whole_file) {
  test::scratch_dir dir;
  for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{(1 << 20) + 3}}) {
    auto bytes = test::pseudo_random_bytes(size, static_cast<uint32_t>(size));
    test::write_file(dir / "f", bytes);
    auto digest = ttt::file_digest(dir / "f");
    BOOST_REQUIRE(digest);
    BOOST_TEST(*digest == test::digest_of(bytes), size);
  }
  BOOST_TEST(!ttt::file_digest(dir / "missing"));
}

BOOST_AUTO_TEST_CASE(a_seeder_lists_the_run_files_of_its_directory_only) {
  run_files run;
  std::vector<std::string> skipped;
  auto files = seeder::scan_shards(run.dir.path(), skipped);
  BOOST_REQUIRE_MESSAGE(files, test::why(files));
  std::vector<std::string> names;
  for (const auto& f : *files)
    names.push_back(f.entry.name);
  std::vector<std::string> expected{"dalle.ini", "tokenizer.model", "train-00000.shard",
                                    "valid-00000.shard"};
  BOOST_TEST(names == expected, boost::test_tools::per_element());
  BOOST_TEST(skipped == std::vector<std::string>{"train-bad name.shard"},
             boost::test_tools::per_element());
  BOOST_TEST((*files)[2].entry.size == run.train.size());
  BOOST_TEST((*files)[2].entry.digest == test::digest_of(run.train));
  BOOST_TEST(!seeder::scan_shards(run.dir / "missing", skipped));
}

BOOST_AUTO_TEST_CASE(a_seeder_with_too_many_files_refuses_to_start) {
  test::scratch_dir dir;
  for (size_t i = 0; i <= transfer_limits::max_files; ++i)
    test::write_file(dir / ("train-" + std::to_string(i) + ".shard"), "x");
  std::vector<std::string> skipped;
  auto files = seeder::scan_shards(dir.path(), skipped);
  BOOST_REQUIRE(!files);
  BOOST_TEST(describe(files.error()).find("more than 300") != std::string::npos,
             describe(files.error()));
}

BOOST_AUTO_TEST_CASE(chunks_are_read_at_their_offsets_and_short_only_at_the_end) {
  run_files run;
  std::vector<std::string> skipped;
  seeder::shard_server server(*seeder::scan_shards(run.dir.path(), skipped));

  wire::data_request list;
  auto listed = ask(server, list);
  BOOST_TEST((listed.what == wire::data_response::kind::list));
  BOOST_TEST(listed.files.size() == 4u);

  auto first = ask(server, chunk("train-00000.shard", 0, transfer_limits::max_chunk_bytes));
  BOOST_REQUIRE((first.what == wire::data_response::kind::chunk));
  BOOST_TEST((first.chunk == run.train.substr(0, transfer_limits::max_chunk_bytes)));
  auto middle = ask(server, chunk("train-00000.shard", 777'777, 1000));
  BOOST_TEST((middle.chunk == run.train.substr(777'777, 1000)));
  auto last = ask(
      server, chunk("train-00000.shard", run.train.size() - 10, transfer_limits::max_chunk_bytes));
  BOOST_TEST((last.chunk == run.train.substr(run.train.size() - 10)));
  auto at_end = ask(server, chunk("train-00000.shard", run.train.size(), 100));
  BOOST_TEST((at_end.what == wire::data_response::kind::chunk));
  BOOST_TEST(at_end.chunk.empty());
}

BOOST_AUTO_TEST_CASE(a_seeder_refuses_what_it_does_not_list_and_chunks_out_of_bounds) {
  run_files run;
  std::vector<std::string> skipped;
  seeder::shard_server server(*seeder::scan_shards(run.dir.path(), skipped));
  auto refused = [&](const std::string& request, const std::string& says) {
    auto response = wire::decode_data_response(server.answer(request));
    BOOST_REQUIRE(response);
    BOOST_TEST((response->what == wire::data_response::kind::error), says);
    BOOST_TEST(response->error.find(says) != std::string::npos, response->error);
  };
  // Files in the directory that are not listed, and paths out of it.
  refused(encode(chunk("notes.txt", 0, 10)), "not a file this seeder serves");
  refused(encode(chunk("train-9.shard", 0, 10)), "not a file this seeder serves");
  refused(encode(chunk("..", 0, 10)), "not a file name");
  refused(
      encode(chunk("../" + std::filesystem::path(run.dir.path()).filename().string() + "/notes.txt",
                   0, 10)),
      "not a file name");
  refused(encode(chunk("db/train-9.shard", 0, 10)), "not a file name");
  // Out of bounds.
  refused(encode(chunk("train-00000.shard", 0, transfer_limits::max_chunk_bytes + 1)),
          "bytes (1 to");
  refused(encode(chunk("train-00000.shard", run.train.size() + 1, 10)), "past the end");
  refused(encode(chunk("train-00000.shard", UINT64_MAX, 10)), "past the end");
  // Not a request at all.
  refused("garbage!", "data request");
  refused(std::string(transfer_limits::max_request_bytes + 8, '\0'), "exceeds");
}

BOOST_AUTO_TEST_CASE(the_tamper_seam_changes_only_what_is_sent) {
  run_files run;
  std::vector<std::string> skipped;
  size_t calls = 0;
  seeder::shard_server server(*seeder::scan_shards(run.dir.path(), skipped),
                              [&](const std::string& name, uint64_t offset, std::string& bytes) {
                                calls += 1;
                                if (name == "tokenizer.model" && offset == 0)
                                  bytes[0] ^= 1;
                              });
  auto sent = ask(server, chunk("tokenizer.model", 0, 100));
  BOOST_TEST(calls == 1u);
  BOOST_TEST(sent.chunk != run.tokenizer);
  BOOST_TEST(test::read_file(run.dir / "tokenizer.model") == run.tokenizer);
}
