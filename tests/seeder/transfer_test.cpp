// The data-transfer codecs as a hostile peer meets them: names that are
// paths or too long, too many entries, wrong digests, chunk requests out of
// bounds, listings in the DHT that speak for another peer; and the worst
// listing a seeder may publish still fits a DHT value.
#define BOOST_TEST_MODULE seeder_transfer
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/dht/protocol.hpp"
#include "actors/dht/validator.hpp"
#include "actors/seeder/listing.hpp"
#include "actors/wire/transfer.hpp"
#include "tests/seeder/test_files.hpp"

using namespace ttt;
using wire::shard_entry;
using wire::transfer_limits;

namespace {

shard_entry entry(std::string name, uint64_t size = 10) {
  return {std::move(name), size, std::string(32, 'd')};
}

std::vector<shard_entry> many(size_t count, size_t name_bytes) {
  std::vector<shard_entry> files;
  for (size_t i = 0; i < count; ++i) {
    auto number = std::to_string(i);
    files.push_back(entry(std::string(name_bytes - number.size(), 'n') + number,
                          transfer_limits::max_file_bytes));
  }
  return files;
}

/// What a peer would receive: a list response carrying `files` as they are.
caf::expected<wire::data_response> received_listing(const std::vector<shard_entry>& files) {
  wire::data_response response;
  response.what = wire::data_response::kind::list;
  response.files = files;
  return wire::decode_data_response(encode(response));
}

} // namespace

BOOST_AUTO_TEST_CASE(file_names_are_plain_names_never_paths) {
  for (const char* good : {"train-00000.shard", "tokenizer.model", "a", "x_y-z.1.ini"})
    BOOST_TEST(wire::valid_file_name(good), good);
  for (std::string bad :
       {"", ".", "..", ".hidden", "../etc/passwd", "a/b", "/abs", "a b", "a\\b", "ä.shard"})
    BOOST_TEST(!wire::valid_file_name(bad), bad);
  BOOST_TEST(wire::valid_file_name(std::string(128, 'a')));
  BOOST_TEST(!wire::valid_file_name(std::string(129, 'a')));
  BOOST_TEST(!wire::valid_file_name(std::string("a\0b", 3)));
}

BOOST_AUTO_TEST_CASE(a_listing_round_trips_within_its_bounds) {
  std::vector<shard_entry> files{entry("train-0.shard", 7), entry("valid-0.shard", 0),
                                 entry("tokenizer.model")};
  auto got = received_listing(files);
  BOOST_REQUIRE_MESSAGE(got, test::why(got));
  BOOST_TEST((got->what == wire::data_response::kind::list));
  BOOST_TEST((got->files == files));
  auto full = received_listing(many(transfer_limits::max_files, transfer_limits::max_name_bytes));
  BOOST_REQUIRE_MESSAGE(full, test::why(full));
  BOOST_TEST(full->files.size() == transfer_limits::max_files);
}

BOOST_AUTO_TEST_CASE(hostile_listings_are_refused_whole) {
  struct hostile {
    const char* what;
    std::vector<shard_entry> files;
    const char* says;
  };
  auto too_long = entry(std::string(transfer_limits::max_name_bytes + 1, 'a'));
  auto big = entry("train-0.shard", transfer_limits::max_file_bytes + 1);
  auto short_digest = entry("train-0.shard");
  short_digest.digest.resize(31);
  std::vector<hostile> cases{
      {"one entry too many", many(transfer_limits::max_files + 1, 8), "exceeds the limit"},
      {"an overlong name", {too_long}, "longer than"},
      {"a parent directory", {entry("..")}, "not a file name"},
      {"a path", {entry("../../.ssh/authorized_keys")}, "not a file name"},
      {"a hidden file", {entry(".bashrc")}, "not a file name"},
      {"a name with a NUL", {entry(std::string("a.ini\0../x", 10))}, "not a file name"},
      {"a duplicate", {entry("a.ini"), entry("a.ini")}, "twice"},
      {"a file over 16 GiB", {big}, "16 GiB"},
      {"a short digest", {short_digest}, "32 bytes"},
  };
  for (const auto& c : cases) {
    auto got = received_listing(c.files);
    BOOST_TEST(!got, c.what);
    if (!got)
      BOOST_TEST(describe(got.error()).find(c.says) != std::string::npos,
                 c.what << ": " << describe(got.error()));
    BOOST_TEST(static_cast<bool>(wire::check_listing(c.files)), c.what);
  }
}

BOOST_AUTO_TEST_CASE(chunk_requests_are_bounded) {
  wire::data_request req;
  req.what = wire::data_request::kind::chunk;
  req.name = "train-0.shard";
  req.offset = 12345;
  req.length = transfer_limits::max_chunk_bytes;
  auto got = wire::decode_data_request(encode(req));
  BOOST_REQUIRE_MESSAGE(got, test::why(got));
  BOOST_TEST(got->name == req.name);
  BOOST_TEST(got->offset == req.offset);
  BOOST_TEST(got->length == req.length);

  auto refused = [](wire::data_request r) { return !wire::decode_data_request(encode(r)); };
  auto longer = req;
  longer.length = transfer_limits::max_chunk_bytes + 1;
  BOOST_TEST(refused(longer));
  auto empty = req;
  empty.length = 0;
  BOOST_TEST(refused(empty));
  for (const char* name : {"..", "../x.shard", "a/b", ""}) {
    auto path = req;
    path.name = name;
    BOOST_TEST(refused(path), name);
  }
  // A request is small: padding it past its bound is refused before it is read.
  BOOST_TEST(!wire::decode_data_request(std::string(transfer_limits::max_request_bytes + 8, '\0')));
  BOOST_TEST(!wire::decode_data_request("not capnp"));
  BOOST_TEST(
      !wire::decode_data_response(std::string(transfer_limits::max_response_bytes + 8, '\0')));
}

BOOST_AUTO_TEST_CASE(error_responses_are_short_and_printable) {
  auto got =
      wire::decode_data_response(wire::data_error_response(std::string(1000, 'x') + "\x1b[2J"));
  BOOST_REQUIRE(got);
  BOOST_TEST((got->what == wire::data_response::kind::error));
  BOOST_TEST(got->error.size() <= transfer_limits::max_error_bytes);
  auto hostile = wire::decode_data_response(wire::data_error_response("\x1b[2Jcleared"));
  BOOST_REQUIRE(hostile);
  BOOST_TEST(hostile->error == "?[2Jcleared");
}

BOOST_AUTO_TEST_CASE(the_largest_listing_fits_one_dht_value_and_passes_the_validator) {
  seeder::shard_listing listing;
  listing.peer = identity::generate().id();
  listing.host = std::string(255, 'h');
  listing.port = 31234;
  listing.files = many(transfer_limits::max_files, transfer_limits::max_name_bytes);
  auto bytes = encode(listing);
  BOOST_TEST(bytes.size() <= dht::protocol_limits::max_value_bytes);
  auto back = seeder::decode_listing(bytes);
  BOOST_REQUIRE_MESSAGE(back, test::why(back));
  BOOST_TEST((back->files == listing.files));

  auto self = identity::generate();
  listing.peer = self.id();
  auto now = 1.7e9;
  auto rec = seeder::listing_record(self, "run", listing, now + 600);
  BOOST_TEST(!dht::default_validator().validate(rec, now));
  // A plain value under the key, or junk in an owned entry, is refused.
  auto plain = rec;
  plain.has_subkey = false;
  plain.subkey.clear();
  BOOST_TEST(static_cast<bool>(dht::default_validator().validate(plain, now)));
  auto junk = seeder::listing_record(self, "run", listing, now + 600);
  junk.value = "junk";
  dht::sign_record(junk, self);
  BOOST_TEST(static_cast<bool>(dht::default_validator().validate(junk, now)));
}

BOOST_AUTO_TEST_CASE(a_listing_in_the_dht_speaks_only_for_its_signer) {
  auto honest = identity::generate();
  auto liar = identity::generate();
  seeder::shard_listing listing{honest.id(), "127.0.0.1", 4000, {entry("train-0.shard")}};
  auto good = seeder::listing_record(honest, "run", listing, 2e9);
  // The liar signs a listing that names the honest seeder (its address, its files).
  auto forged = seeder::listing_record(liar, "run", listing, 2e9);
  // A record whose signature does not verify.
  auto tampered = good;
  tampered.value = encode(seeder::shard_listing{honest.id(), "127.0.0.1", 4001, listing.files});
  // An unreachable one.
  auto nowhere = seeder::listing_record(
      liar, "run", seeder::shard_listing{liar.id(), "", 0, listing.files}, 2e9);
  auto read = seeder::read_listings({good, forged, tampered, nowhere});
  BOOST_REQUIRE(read.size() == 1u);
  BOOST_TEST((read[0].peer == honest.id()));
  BOOST_TEST(read[0].address() == "127.0.0.1:4000");
}
