#include "actors/averager/compression.hpp"

#include <caf/sec.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

// Encoded bytes are little-endian; ttt targets little-endian hosts only, so
// floats and counts are copied with memcpy.

namespace ttt::averaging {

namespace {

constexpr size_t quantile_levels = 256;
constexpr size_t quantile_sample_limit = 65536; // boundaries from a strided sample: O(n) encode

caf::error bad_segment(std::string text) {
  return caf::make_error(caf::sec::invalid_argument, "averaging codec: " + std::move(text));
}

/// Rounds x (|x| < 2^22) to the nearest integer, ties to even, without a
/// libm call or a branch (baseline x86-64 has no rounding instruction; this
/// runs once per value): adding 1.5 * 2^23 leaves the integer in the low
/// mantissa bits.
inline int32_t round_to_int(float x) {
  float shifted = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return bits - 0x4b400000;
}

template <class T>
char* put(char* out, const T& x) {
  std::memcpy(out, &x, sizeof(T));
  return out + sizeof(T);
}

template <class T>
T get_at(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

/// Round-to-nearest-even float -> IEEE half; finite values beyond the half
/// range clamp to +-65504 (never infinity, which a receiver would refuse).
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs_bits = x & 0x7fffffffu;
  if (abs_bits > 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7e00u); // NaN stays NaN: the receiver refuses it
  if (abs_bits >= 0x477ff000u)                    // rounds to >= 65520: clamp to the largest half
    return static_cast<uint16_t>(sign | 0x7bffu);
  if (abs_bits < 0x38800000u) { // below 2^-14: a subnormal half (or zero)
    float a;
    std::memcpy(&a, &abs_bits, 4);
    auto m = static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)); // units of 2^-24
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mantissa_odd = (abs_bits >> 13) & 1u;
  abs_bits += 0xc8000fffu + mantissa_odd; // rebias the exponent by -112, round to nearest even
  return static_cast<uint16_t>(sign | (abs_bits >> 13));
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    float v = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exponent == 31)
    bits = sign | 0x7f800000u | (mantissa << 13);
  else
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void encode_fp16(caf::span<const float> values, float shift, float inv_scale, char* p) {
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t h = float_to_half((values[i] - shift) * inv_scale);
    std::memcpy(p + 2 * i, &h, 2);
  }
}

void decode_fp16(const char* p, float shift, float scale, caf::span<float> out) {
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = half_to_float(get_at<uint16_t>(p + 2 * i)) * scale + shift;
}

void encode_scaled_fp16(caf::span<const float> values, char* p) {
  double sum = 0;
  for (float v : values)
    sum += v;
  double mean = values.empty() ? 0.0 : sum / static_cast<double>(values.size());
  double squares = 0;
  for (float v : values)
    squares += (v - mean) * (v - mean);
  double std_dev = values.empty() ? 0.0 : std::sqrt(squares / static_cast<double>(values.size()));
  auto shift = static_cast<float>(mean);
  float scale = std_dev > 0 ? static_cast<float>(std_dev) : 1.0f;
  p = put(p, shift);
  p = put(p, scale);
  encode_fp16(values, shift, 1.0f / scale, p);
}

void encode_uniform_8bit(caf::span<const float> values, char* p) {
  float lo = 0, hi = 0;
  if (!values.empty()) {
    auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
    lo = *min_it;
    hi = *max_it;
  }
  float step = (hi - lo) / 255.0f;
  p = put(p, lo);
  p = put(p, step);
  float inv_step = step > 0 ? 1.0f / step : 0.0f;
  auto* codes = reinterpret_cast<uint8_t*>(p);
  for (size_t i = 0; i < values.size(); ++i) {
    float q = std::min(std::max((values[i] - lo) * inv_step, 0.0f), 255.0f);
    codes[i] = static_cast<uint8_t>(round_to_int(q));
  }
}

void encode_quantile_8bit(caf::span<const float> values, char* p) {
  size_t n = values.size();
  std::vector<float> sample;
  size_t sample_size = std::min(n, quantile_sample_limit);
  sample.reserve(sample_size);
  for (size_t i = 0; i < sample_size; ++i)
    sample.push_back(values[i * n / sample_size]);
  std::sort(sample.begin(), sample.end());
  // 255 boundaries split the sample into 256 equally populated buckets.
  std::array<float, quantile_levels - 1> bounds{};
  for (size_t k = 1; k < quantile_levels; ++k)
    bounds[k - 1] = sample.empty() ? 0.0f : sample[k * sample_size / quantile_levels];
  std::array<double, quantile_levels> sums{};
  std::array<uint64_t, quantile_levels> counts{};
  auto* codes = reinterpret_cast<uint8_t*>(p + quantile_levels * sizeof(float));
  for (size_t i = 0; i < n; ++i) {
    float v = values[i];
    // Branch-free binary search over the 255 boundaries: first bound > v.
    size_t bucket = 0;
    for (size_t half = 128; half > 0; half /= 2)
      bucket += (bucket + half - 1 < bounds.size() && bounds[bucket + half - 1] <= v) ? half : 0;
    codes[i] = static_cast<uint8_t>(bucket);
    sums[bucket] += v;
    counts[bucket] += 1;
  }
  for (size_t k = 0; k < quantile_levels; ++k) {
    float level = counts[k] ? static_cast<float>(sums[k] / static_cast<double>(counts[k]))
                            : (k == 0 ? bounds[0] : bounds[k - 1]);
    std::memcpy(p + k * sizeof(float), &level, sizeof(float));
  }
}

/// The largest |x| of finite values: on the bits with the sign cleared,
/// unsigned order is numeric order, and an integer max vectorizes.
float absmax_of(const float* __restrict in, size_t n) {
  uint32_t largest = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, in + i, sizeof(bits));
    bits &= 0x7fffffffu;
    largest = bits > largest ? bits : largest;
  }
  float out;
  std::memcpy(&out, &largest, sizeof(out));
  return out;
}

/// |in[i] * inv| <= 127 (+ rounding) by the choice of inv: no clamp needed.
void quantize_block(const float* __restrict in, int8_t* __restrict out, size_t n, float inv) {
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<int8_t>(round_to_int(in[i] * inv));
}

void encode_blockwise_8bit(caf::span<const float> values, char* p) {
  size_t n = values.size();
  size_t blocks = (n + blockwise_block_size - 1) / blockwise_block_size;
  auto* codes = reinterpret_cast<int8_t*>(p + blocks * sizeof(float));
  for (size_t b = 0; b < blocks; ++b) {
    size_t first = b * blockwise_block_size;
    size_t count = std::min(n, first + blockwise_block_size) - first;
    float absmax = absmax_of(values.data() + first, count);
    std::memcpy(p + b * sizeof(float), &absmax, sizeof(float));
    float inv = absmax > 0 ? 127.0f / absmax : 0.0f;
    quantize_block(values.data() + first, codes + first, count, inv);
  }
}

} // namespace

caf::expected<codec> parse_codec(std::string_view name) {
  if (name == "none")
    return codec::none;
  if (name == "fp16")
    return codec::fp16;
  if (name == "scaled_fp16")
    return codec::scaled_fp16;
  if (name == "uniform8")
    return codec::uniform_8bit;
  if (name == "quantile8")
    return codec::quantile_8bit;
  if (name == "blockwise8" || name == "8bit")
    return codec::blockwise_8bit;
  return caf::make_error(caf::sec::invalid_argument,
                         "unknown codec '" + std::string(name)
                           + "' (none, fp16, scaled_fp16, uniform8, quantile8, blockwise8, 8bit)");
}

const char* codec_name(codec c) {
  switch (c) {
    case codec::none: return "none";
    case codec::fp16: return "fp16";
    case codec::scaled_fp16: return "scaled_fp16";
    case codec::uniform_8bit: return "uniform8";
    case codec::quantile_8bit: return "quantile8";
    case codec::blockwise_8bit: return "blockwise8";
  }
  return "?";
}

size_t encoded_size(codec c, size_t elements) {
  size_t payload = 0;
  switch (c) {
    case codec::none: payload = 4 * elements; break;
    case codec::fp16: payload = 2 * elements; break;
    case codec::scaled_fp16: payload = 8 + 2 * elements; break;
    case codec::uniform_8bit: payload = 8 + elements; break;
    case codec::quantile_8bit: payload = quantile_levels * sizeof(float) + elements; break;
    case codec::blockwise_8bit:
      payload = sizeof(float) * ((elements + blockwise_block_size - 1) / blockwise_block_size) + elements;
      break;
  }
  return segment_header_size + payload;
}

char* encode_to(codec c, caf::span<const float> values, char* out) {
  out[0] = static_cast<char>(c);
  char* p = put(out + 1, static_cast<uint32_t>(values.size()));
  switch (c) {
    case codec::none: std::memcpy(p, values.data(), values.size() * sizeof(float)); break;
    case codec::fp16: encode_fp16(values, 0.0f, 1.0f, p); break;
    case codec::scaled_fp16: encode_scaled_fp16(values, p); break;
    case codec::uniform_8bit: encode_uniform_8bit(values, p); break;
    case codec::quantile_8bit: encode_quantile_8bit(values, p); break;
    case codec::blockwise_8bit: encode_blockwise_8bit(values, p); break;
  }
  return out + encoded_size(c, values.size());
}

void encode(codec c, caf::span<const float> values, std::string& out) {
  size_t at = out.size();
  out.resize(at + encoded_size(c, values.size()));
  encode_to(c, values, &out[at]);
}

caf::error decode(std::string_view& bytes, caf::span<float> out) {
  if (bytes.size() < segment_header_size)
    return bad_segment("truncated segment header");
  auto raw_codec = static_cast<uint8_t>(bytes[0]);
  if (raw_codec > static_cast<uint8_t>(codec::blockwise_8bit))
    return bad_segment("unknown codec id " + std::to_string(raw_codec));
  auto c = static_cast<codec>(raw_codec);
  auto count = get_at<uint32_t>(bytes.data() + 1);
  if (count != out.size())
    return bad_segment("segment holds " + std::to_string(count) + " values, expected "
                       + std::to_string(out.size()));
  size_t total = encoded_size(c, count);
  if (bytes.size() < total)
    return bad_segment("truncated payload");
  const char* p = bytes.data() + segment_header_size;
  size_t n = out.size();
  switch (c) {
    case codec::none: std::memcpy(out.data(), p, n * sizeof(float)); break;
    case codec::fp16: decode_fp16(p, 0.0f, 1.0f, out); break;
    case codec::scaled_fp16:
      decode_fp16(p + 8, get_at<float>(p), get_at<float>(p + 4), out);
      break;
    case codec::uniform_8bit: {
      auto lo = get_at<float>(p);
      auto step = get_at<float>(p + 4);
      auto* codes = reinterpret_cast<const uint8_t*>(p + 8);
      for (size_t i = 0; i < n; ++i)
        out[i] = lo + static_cast<float>(codes[i]) * step;
      break;
    }
    case codec::quantile_8bit: {
      std::array<float, quantile_levels> table;
      std::memcpy(table.data(), p, sizeof(table));
      auto* codes = reinterpret_cast<const uint8_t*>(p + sizeof(table));
      for (size_t i = 0; i < n; ++i)
        out[i] = table[codes[i]];
      break;
    }
    case codec::blockwise_8bit: {
      size_t blocks = (n + blockwise_block_size - 1) / blockwise_block_size;
      auto* codes = reinterpret_cast<const int8_t*>(p + blocks * sizeof(float));
      for (size_t b = 0; b < blocks; ++b) {
        float scale = get_at<float>(p + b * sizeof(float)) / 127.0f;
        size_t last = std::min(n, (b + 1) * blockwise_block_size);
        for (size_t i = b * blockwise_block_size; i < last; ++i)
          out[i] = static_cast<float>(codes[i]) * scale;
      }
      break;
    }
  }
  // One check after decoding covers every way to smuggle in a non-finite
  // value: raw NaN/Inf, half infinities, or scales that overflow.
  uint32_t non_finite = 0; // branch-free over the exponent bits, so it vectorizes
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &out[i], sizeof(bits));
    non_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (non_finite)
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(out[i]))
        return bad_segment("non-finite value at element " + std::to_string(i));
  bytes.remove_prefix(total);
  return caf::none;
}

} // namespace ttt::averaging
