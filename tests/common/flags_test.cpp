#define BOOST_TEST_MODULE flags
#include <boost/test/unit_test.hpp>

#include "apps/flags.hpp"

using ttt::apps::flag_parser;

namespace {
flag_parser make_parser() {
  return flag_parser("ttt x [options] KEY",
                     {{"ttl", "SECONDS", "time to live"},
                      {"latest", "", "switch"},
                      {"initial-peer", "HOST:PORT", "peer", true}},
                     1, 1);
}
} // namespace

BOOST_AUTO_TEST_CASE(parses_values_switches_and_repeats) {
  auto p = make_parser();
  BOOST_REQUIRE(p.parse({"--ttl", "30", "k", "--latest", "--initial-peer", "a:1",
                         "--initial-peer=b:2"}));
  BOOST_TEST(*p.integer("ttl", 0) == 30);
  BOOST_TEST(p.has("latest"));
  BOOST_TEST(p.values("initial-peer").size() == 2u);
  BOOST_TEST(p.values("initial-peer")[1] == "b:2");
  BOOST_TEST(p.positional().at(0) == "k");
}

BOOST_AUTO_TEST_CASE(refuses_unknown_flags_missing_values_and_bad_numbers) {
  auto p1 = make_parser();
  BOOST_TEST(!p1.parse({"--nope", "k"}));
  BOOST_TEST(p1.error().find("unknown flag --nope") != std::string::npos);
  auto p2 = make_parser();
  BOOST_TEST(!p2.parse({"k", "--ttl"}));
  BOOST_TEST(p2.error().find("needs a value") != std::string::npos);
  auto p3 = make_parser();
  BOOST_REQUIRE(p3.parse({"k", "--ttl", "12x"}));
  BOOST_TEST(!p3.integer("ttl", 0).has_value());
  BOOST_TEST(p3.error().find("expects an integer") != std::string::npos);
  auto p4 = make_parser();
  BOOST_TEST(!p4.parse({}));
  auto p5 = make_parser();
  BOOST_TEST(!p5.parse({"a", "b"}));
  auto p6 = make_parser();
  BOOST_TEST(!p6.parse({"k", "--ttl", "1", "--ttl", "2"}));
}

BOOST_AUTO_TEST_CASE(help_lists_every_flag) {
  auto p = make_parser();
  BOOST_TEST(!p.parse({"--help"}));
  BOOST_TEST(p.help_requested());
  auto text = p.help();
  BOOST_TEST(text.find("--initial-peer HOST:PORT") != std::string::npos);
  BOOST_TEST(text.find("--latest") != std::string::npos);
}
