// Codecs: every codec's round-trip error stays within its bound, its bytes on
// the wire are exactly as documented, and decoding refuses malformed segments
// and non-finite values.
#define BOOST_TEST_MODULE averager_compression
#include <boost/test/unit_test.hpp>

#include "actors/averager/compression.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <vector>

using namespace ttt::averaging;

namespace ttt::averaging {
std::ostream& operator<<(std::ostream& out, codec c) {
  return out << codec_name(c);
}
} // namespace ttt::averaging

namespace {

const size_t lengths[] = {0, 1, 7, 1000, 100003};
const codec all_codecs[] = {codec::none, codec::fp16, codec::scaled_fp16, codec::uniform_8bit,
                            codec::quantile_8bit, codec::blockwise_8bit};

std::vector<float> normal_values(size_t n, unsigned seed, float mean = 0.5f, float stddev = 2.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<float> v(n);
  for (auto& x : v)
    x = dist(rng);
  return v;
}

std::vector<float> round_trip(codec c, const std::vector<float>& in, size_t* bytes = nullptr) {
  std::string encoded;
  encode(c, in, encoded);
  if (bytes)
    *bytes = encoded.size();
  std::vector<float> out(in.size());
  std::string_view view = encoded;
  auto err = decode(view, out);
  BOOST_REQUIRE_MESSAGE(!err, codec_name(c) << ": " << to_string(err));
  BOOST_REQUIRE(view.empty());
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(none_is_lossless) {
  for (size_t n : lengths) {
    auto in = normal_values(n, 1);
    auto out = round_trip(codec::none, in);
    BOOST_TEST(std::memcmp(in.data(), out.data(), n * sizeof(float)) == 0);
  }
}

BOOST_AUTO_TEST_CASE(fp16_relative_error_bound) {
  for (size_t n : lengths) {
    auto in = normal_values(n, 2);
    auto out = round_trip(codec::fp16, in);
    for (size_t i = 0; i < n; ++i) // half: 11 significant bits; subnormal step 2^-24
      BOOST_REQUIRE_LE(std::fabs(out[i] - in[i]), std::fabs(in[i]) * 0x1p-11f + 0x1p-25f);
  }
  // Out-of-range values clamp to the largest half instead of becoming infinite.
  auto out = round_trip(codec::fp16, {1e6f, -1e9f, 65504.f, 1e-9f});
  BOOST_TEST(out[0] == 65504.f);
  BOOST_TEST(out[1] == -65504.f);
  BOOST_TEST(out[2] == 65504.f);
  BOOST_TEST(std::fabs(out[3]) <= 0x1p-24f);
}

BOOST_AUTO_TEST_CASE(scaled_fp16_error_bound_relative_to_spread) {
  for (size_t n : lengths) {
    // A large offset that plain fp16 would lose most precision on.
    auto in = normal_values(n, 3, 3000.f, 0.01f);
    auto out = round_trip(codec::scaled_fp16, in);
    double mean = 0;
    for (float v : in)
      mean += v;
    mean = n ? mean / n : 0;
    for (size_t i = 0; i < n; ++i) {
      double bound = std::fabs(in[i] - mean) * 0x1p-10 + 0.01 * 0x1p-20 + 4e-7 * std::fabs(in[i]);
      BOOST_REQUIRE_LE(std::fabs(out[i] - in[i]), bound);
    }
  }
}

BOOST_AUTO_TEST_CASE(uniform_8bit_error_at_most_half_a_step) {
  for (size_t n : lengths) {
    auto in = normal_values(n, 4);
    auto out = round_trip(codec::uniform_8bit, in);
    if (n == 0)
      continue;
    auto [lo, hi] = std::minmax_element(in.begin(), in.end());
    float step = (*hi - *lo) / 255.f;
    for (size_t i = 0; i < n; ++i)
      BOOST_REQUIRE_LE(std::fabs(out[i] - in[i]), step / 2 * 1.001f + 1e-6f * std::fabs(in[i]));
  }
}

BOOST_AUTO_TEST_CASE(quantile_8bit_error_within_bucket_width) {
  for (size_t n : lengths) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> in(n);
    for (auto& x : in)
      x = dist(rng);
    auto out = round_trip(codec::quantile_8bit, in);
    // Uniform data: 256 equally populated buckets are each about 2/256 wide;
    // a value decodes to its bucket's mean, so within one (sampled) bucket width.
    double abs_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      BOOST_REQUIRE_LE(std::fabs(out[i] - in[i]), 3 * 2.f / 256);
      abs_sum += std::fabs(out[i] - in[i]);
    }
    if (n >= 1000)
      BOOST_TEST(abs_sum / n < 2.f / 256 / 2); // mean error below half a bucket
  }
  // A constant vector is exact.
  auto out = round_trip(codec::quantile_8bit, std::vector<float>(100, 1.25f));
  BOOST_TEST(out[99] == 1.25f);
}

BOOST_AUTO_TEST_CASE(blockwise_8bit_error_per_block_absmax) {
  for (size_t n : lengths) {
    auto in = normal_values(n, 6);
    if (n > 5000)
      in[5000] = 1000.f; // an outlier only costs precision in its own block
    auto out = round_trip(codec::blockwise_8bit, in);
    for (size_t b = 0; b * blockwise_block_size < n; ++b) {
      size_t first = b * blockwise_block_size, last = std::min(n, first + blockwise_block_size);
      float absmax = 0;
      for (size_t i = first; i < last; ++i)
        absmax = std::max(absmax, std::fabs(in[i]));
      for (size_t i = first; i < last; ++i)
        BOOST_REQUIRE_LE(std::fabs(out[i] - in[i]), absmax / 254 * 1.001f + 1e-7f);
    }
  }
}

BOOST_AUTO_TEST_CASE(bytes_on_the_wire) {
  const size_t n = 100003;
  auto in = normal_values(n, 7);
  for (codec c : all_codecs) {
    size_t bytes = 0;
    round_trip(c, in, &bytes);
    BOOST_TEST(bytes == encoded_size(c, n));
    BOOST_TEST_MESSAGE(codec_name(c) << ": " << n << " floats -> " << bytes << " bytes ("
                                     << double(bytes) / n << " bytes/value)");
  }
  BOOST_TEST(encoded_size(codec::none, n) == 5 + 4 * n);
  BOOST_TEST(encoded_size(codec::fp16, n) == 5 + 2 * n);
  BOOST_TEST(encoded_size(codec::scaled_fp16, n) == 5 + 8 + 2 * n);
  BOOST_TEST(encoded_size(codec::uniform_8bit, n) == 5 + 8 + n);
  BOOST_TEST(encoded_size(codec::quantile_8bit, n) == 5 + 1024 + n);
  BOOST_TEST(encoded_size(codec::blockwise_8bit, n) == 5 + 4 * 25 + n);
  // 8-bit codecs: at least 3.9x fewer bytes than float32 at this size.
  for (codec c : {codec::uniform_8bit, codec::quantile_8bit, codec::blockwise_8bit})
    BOOST_TEST(encoded_size(codec::none, n) > 3.9 * encoded_size(c, n));
}

BOOST_AUTO_TEST_CASE(adaptive_choice_by_tensor_size) {
  auto choice = codec_choice::adaptive(codec::fp16, codec::blockwise_8bit, 65537);
  BOOST_TEST(choice.for_tensor(65536) == codec::fp16);
  BOOST_TEST(choice.for_tensor(65537) == codec::blockwise_8bit);
  BOOST_TEST(codec_choice::fixed(codec::none).for_tensor(1) == codec::none);
  BOOST_TEST(parse_codec("8bit").value() == codec::blockwise_8bit);
  BOOST_TEST(!parse_codec("zip"));
  for (codec c : all_codecs)
    BOOST_TEST(parse_codec(codec_name(c)).value() == c);
}

BOOST_AUTO_TEST_CASE(decode_refuses_bad_segments) {
  std::vector<float> out(4);
  auto refuses = [&](const std::string& bytes) {
    std::string_view view = bytes;
    return static_cast<bool>(decode(view, out));
  };
  std::string good;
  encode(codec::none, std::vector<float>{1, 2, 3, 4}, good);
  BOOST_TEST(!refuses(good));
  BOOST_TEST(refuses(good.substr(0, good.size() - 1)));     // truncated
  BOOST_TEST(refuses(good.substr(0, 3)));                   // truncated header
  std::string wrong_codec = good;
  wrong_codec[0] = 42;
  BOOST_TEST(refuses(wrong_codec));
  std::string three;
  encode(codec::none, std::vector<float>{1, 2, 3}, three);
  BOOST_TEST(refuses(three));                               // wrong element count
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::string with_bad;
    encode(codec::none, std::vector<float>{1, bad, 3, 4}, with_bad);
    BOOST_TEST(refuses(with_bad));
  }
  std::string half_inf;
  encode(codec::fp16, std::vector<float>{1, 2, 3, 4}, half_inf);
  half_inf[5] = 0;
  half_inf[6] = static_cast<char>(0x7c); // +inf as a half
  BOOST_TEST(refuses(half_inf));
  std::string scale_overflow;
  encode(codec::blockwise_8bit, std::vector<float>{1, -1, 1, -1}, scale_overflow);
  float huge = std::numeric_limits<float>::infinity();
  std::memcpy(&scale_overflow[5], &huge, 4);
  BOOST_TEST(refuses(scale_overflow));
}
