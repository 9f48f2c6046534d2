#include "model/vqgan_config.hpp"

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace ttt::model {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<int64_t>& values) {
  std::string s;
  for (auto v : values)
    s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s;
}

// GroupNorm(32, c) in every ResnetBlock and AttnBlock: each level's channels
// must split into 32 groups.
constexpr int64_t norm_groups = 32;

} // namespace

result<vqgan_config> parse_vqgan_config(const std::string& text, const std::string& origin) {
  struct entry {
    std::string value;
    int line;
  };
  std::map<std::string, entry> values;
  std::stringstream in(text);
  std::string line;
  int line_no = 0;
  bool in_section = false;
  while (std::getline(in, line)) {
    ++line_no;
    auto hash = line.find_first_of("#;");
    if (hash != std::string::npos)
      line = line.substr(0, hash);
    line = trim(line);
    if (line.empty())
      continue;
    auto at = origin + ":" + std::to_string(line_no);
    if (line.front() == '[') {
      if (line != "[vqgan]")
        return failure{at + ": unknown section " + line + " (a VQGAN config has one section, [vqgan])"};
      in_section = true;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos || !in_section)
      return failure{at + ": expected 'key = value' inside [vqgan]"};
    values[trim(line.substr(0, eq))] = {trim(line.substr(eq + 1)), line_no};
  }

  vqgan_config c;
  std::string error;
  std::set<std::string> known;
  auto where = [&](const std::string& key) {
    auto it = values.find(key);
    return origin + (it == values.end() ? "" : ":" + std::to_string(it->second.line)) + ": " + key;
  };
  auto fail_once = [&](const std::string& message) {
    if (error.empty())
      error = message;
  };
  auto get = [&](const std::string& key, bool required) -> const std::string* {
    known.insert(key);
    auto it = values.find(key);
    if (it == values.end()) {
      if (required)
        fail_once(origin + ": [vqgan] lacks '" + key + "'");
      return nullptr;
    }
    return &it->second.value;
  };
  auto integer_of = [](const std::string& s) -> std::optional<int64_t> {
    try {
      size_t used = 0;
      long long x = std::stoll(s, &used);
      if (used == s.size())
        return x;
    } catch (const std::exception&) {
    }
    return std::nullopt;
  };
  auto integer = [&](const std::string& key, int64_t& out, bool required) {
    if (auto* v = get(key, required)) {
      auto x = integer_of(*v);
      if (!x)
        fail_once(where(key) + " expects an integer, got '" + *v + "'");
      else
        out = *x;
    }
  };
  auto integers = [&](const std::string& key, std::vector<int64_t>& out, bool required) {
    auto* v = get(key, required);
    if (!v)
      return;
    out.clear();
    std::stringstream items(*v);
    std::string item;
    while (std::getline(items, item, ',')) {
      auto x = integer_of(trim(item));
      if (!x) {
        fail_once(where(key) + " expects a list of integers, got '" + *v + "'");
        return;
      }
      out.push_back(*x);
    }
  };

  if (auto* q = get("quantizer", false))
    c.quantizer = *q;
  integer("embed_dim", c.embed_dim, true);
  integer("n_embed", c.n_embed, true);
  integer("z_channels", c.z_channels, true);
  integer("resolution", c.resolution, true);
  integer("in_channels", c.in_channels, false);
  integer("out_ch", c.out_ch, false);
  integer("ch", c.ch, true);
  integers("ch_mult", c.ch_mult, true);
  integer("num_res_blocks", c.num_res_blocks, true);
  integers("attn_resolutions", c.attn_resolutions, false);
  // Accepted for taming's configs to read unchanged; they change nothing at inference.
  if (auto* d = get("dropout", false); d && error.empty()) {
    try {
      size_t used = 0;
      std::stod(*d, &used);
      if (used != d->size())
        throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      fail_once(where("dropout") + " expects a number, got '" + *d + "'");
    }
  }
  if (auto* z = get("double_z", false); z && *z != "false" && *z != "False" && *z != "0")
    fail_once(where("double_z") + ": a VQGAN's encoder has double_z = false");
  if (auto* r = get("resamp_with_conv", false); r && *r != "true" && *r != "True" && *r != "1")
    fail_once(where("resamp_with_conv") + ": only resamp_with_conv = true (taming's VQGANs) is implemented");
  if (!error.empty())
    return failure{error};
  for (const auto& [key, e] : values)
    if (!known.count(key))
      return failure{where(key) + ": unknown key in [vqgan]"};

  if (c.quantizer != "gumbel")
    return failure{where("quantizer") + ": only 'gumbel' (taming's GumbelQuantize) is implemented, got '" +
                   c.quantizer + "'"};
  for (auto [key, value] : {std::pair{"embed_dim", c.embed_dim}, {"n_embed", c.n_embed},
                            {"z_channels", c.z_channels}, {"resolution", c.resolution}, {"ch", c.ch},
                            {"num_res_blocks", c.num_res_blocks}})
    if (value <= 0)
      return failure{where(key) + " must be positive"};
  if (c.in_channels != 3 || c.out_ch != 3)
    return failure{where(c.in_channels != 3 ? "in_channels" : "out_ch") + " must be 3: ttt's images are RGB"};
  if (c.ch_mult.empty() || c.ch_mult.size() > 8)
    return failure{where("ch_mult") + " needs 1 to 8 levels"};
  for (auto m : c.ch_mult)
    if (m <= 0 || (c.ch * m) % norm_groups != 0)
      return failure{where("ch_mult") + ": every level's channels (ch · ch_mult = " + std::to_string(c.ch * m) +
                     ") must be a positive multiple of 32, GroupNorm's groups"};
  // GumbelVQ feeds quant_conv's output (embed_dim channels) to the
  // quantizer's proj, which it builds for z_channels.
  if (c.embed_dim != c.z_channels)
    return failure{where("embed_dim") + " must equal z_channels (" + std::to_string(c.z_channels) +
                   "): GumbelVQ's quantizer takes quant_conv's output as z_channels"};
  if (c.resolution % c.downsampling() != 0)
    return failure{where("resolution") + " must be a multiple of " + std::to_string(c.downsampling()) +
                   " (2^(levels − 1) for ch_mult " + join(c.ch_mult) + ")"};

  auto slash = origin.find_last_of('/');
  std::string stem = slash == std::string::npos ? origin : origin.substr(slash + 1);
  auto dot = stem.rfind(".ini");
  c.name = dot == std::string::npos ? stem : stem.substr(0, dot);
  return c;
}

result<vqgan_config> load_vqgan_config(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return failure{"cannot read VQGAN config file '" + path + "'"};
  std::stringstream text;
  text << in.rdbuf();
  return parse_vqgan_config(text.str(), path);
}

std::string describe(const vqgan_config& c) {
  std::ostringstream out;
  out << "name = " << c.name << "\n"
      << "quantizer = " << c.quantizer << "\n"
      << "embed_dim = " << c.embed_dim << "\n"
      << "n_embed = " << c.n_embed << "\n"
      << "z_channels = " << c.z_channels << "\n"
      << "resolution = " << c.resolution << "\n"
      << "ch = " << c.ch << "\n"
      << "ch_mult = " << join(c.ch_mult) << "\n"
      << "num_res_blocks = " << c.num_res_blocks << "\n"
      << "attn_resolutions = " << join(c.attn_resolutions) << "\n"
      << "codes = " << c.grid() << "x" << c.grid() << " (f = " << c.downsampling() << ") of " << c.n_embed << "\n";
  return out.str();
}

int64_t parameter_count(const vqgan_config& c) {
  auto conv = [](int64_t in, int64_t out, int64_t kernel) { return in * out * kernel * kernel + out; };
  auto norm = [](int64_t channels) { return 2 * channels; };
  auto resnet = [&](int64_t in, int64_t out) {
    return norm(in) + conv(in, out, 3) + norm(out) + conv(out, out, 3) + (in != out ? conv(in, out, 1) : 0);
  };
  auto attention = [&](int64_t channels) { return norm(channels) + 4 * conv(channels, channels, 1); };
  auto has_attention = [&](int64_t side) {
    for (auto r : c.attn_resolutions)
      if (r == side)
        return true;
    return false;
  };
  const auto levels = static_cast<int64_t>(c.ch_mult.size());

  int64_t count = conv(c.in_channels, c.ch, 3);
  int64_t block_in = c.ch, side = c.resolution;
  for (int64_t level = 0; level < levels; ++level) {
    int64_t block_out = c.ch * c.ch_mult[level];
    for (int64_t b = 0; b < c.num_res_blocks; ++b) {
      count += resnet(block_in, block_out) + (has_attention(side) ? attention(block_out) : 0);
      block_in = block_out;
    }
    if (level != levels - 1) {
      count += conv(block_in, block_in, 3);
      side /= 2;
    }
  }
  count += 2 * resnet(block_in, block_in) + attention(block_in) + norm(block_in) + conv(block_in, c.z_channels, 3);

  block_in = c.ch * c.ch_mult.back();
  count += conv(c.z_channels, block_in, 3) + 2 * resnet(block_in, block_in) + attention(block_in);
  for (int64_t level = levels - 1; level >= 0; --level) {
    int64_t block_out = c.ch * c.ch_mult[level];
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      count += resnet(block_in, block_out) + (has_attention(side) ? attention(block_out) : 0);
      block_in = block_out;
    }
    if (level != 0) {
      count += conv(block_in, block_in, 3);
      side *= 2;
    }
  }
  count += norm(block_in) + conv(block_in, c.out_ch, 3);

  count += conv(c.z_channels, c.embed_dim, 1) + conv(c.embed_dim, c.z_channels, 1); // quant_conv, post_quant_conv
  count += conv(c.z_channels, c.n_embed, 1) + c.n_embed * c.embed_dim;            // quantize.proj, quantize.embed
  return count;
}

} // namespace ttt::model
