#include "model/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
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

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> items;
  std::stringstream in(value);
  std::string item;
  while (std::getline(in, item, ','))
    items.push_back(trim(item));
  return items;
}

// dalle-pytorch cycles attn_types and shared ids over the depth; the 2021 run
// ended the cycle with a different last layer, written here as "a, b, ..., z".
std::optional<std::vector<std::string>> expand(const std::vector<std::string>& items, int64_t depth) {
  auto dots = std::find(items.begin(), items.end(), "...");
  std::vector<std::string> head(items.begin(), dots);
  std::vector<std::string> tail;
  if (dots != items.end())
    tail.assign(dots + 1, items.end());
  if (head.empty() || static_cast<int64_t>(tail.size()) > depth)
    return std::nullopt;
  for (auto& s : head)
    if (s.empty())
      return std::nullopt;
  std::vector<std::string> out;
  int64_t cycled = depth - static_cast<int64_t>(tail.size());
  for (int64_t i = 0; i < cycled; ++i)
    out.push_back(head[i % head.size()]);
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

std::string compact(const std::vector<std::string>& per_layer) {
  // Finds the shortest cycle that explains all layers but the last few.
  auto join = [](auto b, auto e) {
    std::string s;
    for (auto it = b; it != e; ++it)
      s += (s.empty() ? "" : ", ") + *it;
    return s;
  };
  size_t n = per_layer.size();
  for (size_t tail = 0; tail <= 1 && tail < n; ++tail) {
    size_t body = n - tail;
    for (size_t period = 1; period < body; ++period) {
      bool cycles = true;
      for (size_t i = period; i < body && cycles; ++i)
        cycles = per_layer[i] == per_layer[i % period];
      if (!cycles)
        continue;
      if (tail == 0)
        return join(per_layer.begin(), per_layer.begin() + period);
      return join(per_layer.begin(), per_layer.begin() + period) + ", ..., " + join(per_layer.begin() + body, per_layer.end());
    }
  }
  return join(per_layer.begin(), per_layer.end());
}

} // namespace

result<config_file> parse_config(const std::string& text, const std::string& origin) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::map<std::string, int> lines_of;
  std::stringstream in(text);
  std::string line, section;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    auto hash = line.find_first_of("#;");
    if (hash != std::string::npos)
      line = line.substr(0, hash);
    line = trim(line);
    if (line.empty())
      continue;
    if (line.front() == '[') {
      if (line.back() != ']')
        return failure{origin + ":" + std::to_string(line_no) + ": malformed section header"};
      section = trim(line.substr(1, line.size() - 2));
      if (section != "model" && section != "train")
        return failure{origin + ":" + std::to_string(line_no) + ": unknown section [" + section + "]"};
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos || section.empty())
      return failure{origin + ":" + std::to_string(line_no) +
                     ": expected 'key = value' inside [model] or [train]"};
    std::string key = trim(line.substr(0, eq));
    sections[section][key] = trim(line.substr(eq + 1));
    lines_of[section + "." + key] = line_no;
  }

  config_file cfg;
  auto& m = cfg.model;
  std::string error;
  std::set<std::string> known;
  auto where = [&](const std::string& sec, const std::string& key) {
    auto it = lines_of.find(sec + "." + key);
    return origin + (it == lines_of.end() ? "" : ":" + std::to_string(it->second)) + ": " + key;
  };
  auto get = [&](const std::string& sec, const std::string& key, bool required) -> std::optional<std::string> {
    known.insert(sec + "." + key);
    auto s = sections[sec].find(key);
    if (s == sections[sec].end()) {
      if (required && error.empty())
        error = origin + ": [" + sec + "] lacks '" + key + "'";
      return std::nullopt;
    }
    return s->second;
  };
  auto integer = [&](const std::string& sec, const std::string& key, int64_t& out, bool required) {
    auto v = get(sec, key, required);
    if (!v)
      return;
    try {
      size_t used = 0;
      long long x = std::stoll(*v, &used);
      if (used != v->size())
        throw std::invalid_argument("trailing");
      out = x;
    } catch (const std::exception&) {
      if (error.empty())
        error = where(sec, key) + " expects an integer, got '" + *v + "'";
    }
  };
  auto real = [&](const std::string& sec, const std::string& key, double& out) {
    auto v = get(sec, key, false);
    if (!v)
      return;
    try {
      size_t used = 0;
      double x = std::stod(*v, &used);
      if (used != v->size())
        throw std::invalid_argument("trailing");
      out = x;
    } catch (const std::exception&) {
      if (error.empty())
        error = where(sec, key) + " expects a number, got '" + *v + "'";
    }
  };
  auto boolean = [&](const std::string& sec, const std::string& key, bool& out) {
    auto v = get(sec, key, false);
    if (!v)
      return;
    if (*v == "true" || *v == "True" || *v == "1")
      out = true;
    else if (*v == "false" || *v == "False" || *v == "0")
      out = false;
    else if (error.empty())
      error = where(sec, key) + " expects true or false, got '" + *v + "'";
  };

  integer("model", "dim", m.dim, true);
  integer("model", "depth", m.depth, true);
  integer("model", "heads", m.heads, true);
  integer("model", "dim_head", m.dim_head, true);
  integer("model", "text_seq_len", m.text_seq_len, true);
  integer("model", "num_text_tokens", m.num_text_tokens, true);
  integer("model", "image_fmap_size", m.image_fmap_size, true);
  integer("model", "num_image_tokens", m.num_image_tokens, true);
  integer("model", "ff_mult", m.ff_mult, false);
  integer("model", "conv_kernel_size", m.conv_kernel_size, false);
  integer("model", "conv_dilation", m.conv_dilation, false);
  real("model", "loss_img_weight", m.loss_img_weight);
  boolean("model", "rotary_emb", m.rotary_emb);
  boolean("model", "reversible", m.reversible);
  boolean("model", "shift_tokens", m.shift_tokens);
  boolean("model", "share_input_output_emb", m.share_input_output_emb);
  double attn_dropout = 0, ff_dropout = 0;
  real("model", "attn_dropout", attn_dropout);
  real("model", "ff_dropout", ff_dropout);
  if (!error.empty())
    return failure{error};

  for (auto [key, ptr] : {std::pair{"dim", &m.dim}, {"depth", &m.depth}, {"heads", &m.heads},
                          {"dim_head", &m.dim_head}, {"text_seq_len", &m.text_seq_len},
                          {"num_text_tokens", &m.num_text_tokens}, {"image_fmap_size", &m.image_fmap_size},
                          {"num_image_tokens", &m.num_image_tokens}, {"ff_mult", &m.ff_mult}})
    if (*ptr <= 0)
      return failure{where("model", key) + " must be positive"};
  if (m.conv_kernel_size % 2 == 0 || m.conv_kernel_size < 1 || m.conv_dilation < 1)
    return failure{where("model", "conv_kernel_size") + " must be odd and the dilation positive"};
  if (!m.rotary_emb)
    return failure{where("model", "rotary_emb") + ": only rotary_emb = true is implemented (the 2021 run's)"};
  if (!m.share_input_output_emb)
    return failure{where("model", "share_input_output_emb") +
                   ": only share_input_output_emb = true is implemented (the 2021 run's)"};
  if (attn_dropout != 0 || ff_dropout != 0)
    return failure{where("model", "attn_dropout") + ": dropout is not implemented (the 2021 run used none)"};
  if (m.dim_head / 3 / 2 < 1)
    return failure{where("model", "dim_head") + " must be at least 6 for rotary embeddings"};

  auto list = [&](const std::string& key, const std::string& fallback, std::vector<std::string>& out) {
    auto v = get("model", key, false);
    auto items = split_list(v ? *v : fallback);
    auto expanded = expand(items, m.depth);
    if (!expanded) {
      if (error.empty())
        error = where("model", key) + ": cannot make " + std::to_string(m.depth) + " layers of '" +
                (v ? *v : fallback) + "'";
      return;
    }
    out = *expanded;
  };
  std::string all_layers;
  for (int64_t i = 0; i < m.depth; ++i)
    all_layers += (i ? "," : "") + std::to_string(i);
  list("attn_types", "full", m.attn_types);
  list("shared_attn_ids", all_layers, m.shared_attn_ids);
  list("shared_ff_ids", all_layers, m.shared_ff_ids);
  if (!error.empty())
    return failure{error};
  std::map<std::string, std::string> type_of_id;
  for (int64_t i = 0; i < m.depth; ++i) {
    const auto& t = m.attn_types[i];
    if (t != "full" && t != "axial_row" && t != "axial_col" && t != "conv_like")
      return failure{where("model", "attn_types") + ": unknown attention type '" + t +
                     "' (full, axial_row, axial_col, conv_like)"};
    auto [it, fresh] = type_of_id.emplace(m.shared_attn_ids[i], t);
    if (!fresh && it->second != t)
      return failure{where("model", "shared_attn_ids") + ": layer " + std::to_string(i) + " shares attention id '" +
                     it->first + "' with a layer of another type (" + it->second + " vs " + t + ")"};
  }

  auto& t = cfg.train;
  real("train", "learning_rate", t.learning_rate);
  real("train", "beta1", t.beta1);
  real("train", "beta2", t.beta2);
  real("train", "eps", t.eps);
  real("train", "weight_decay", t.weight_decay);
  real("train", "clamp_value", t.clamp_value);
  real("train", "max_grad_norm", t.max_grad_norm);
  integer("train", "warmup_steps", t.warmup_steps, false);
  integer("train", "total_steps", t.total_steps, false);
  integer("train", "target_batch_size", t.target_batch_size, false);
  integer("train", "micro_batch_size", t.micro_batch_size, false);
  integer("train", "checkpoint_every", t.checkpoint_every, false);
  integer("train", "eval_every", t.eval_every, false);
  integer("train", "eval_samples", t.eval_samples, false);
  if (!error.empty())
    return failure{error};
  if (t.target_batch_size < 1 || t.micro_batch_size < 1 || t.total_steps < 1 || t.warmup_steps < 0)
    return failure{origin + ": [train] batch sizes and total_steps must be positive"};

  for (auto& [sec, kv] : sections)
    for (auto& [key, value] : kv)
      if (!known.count(sec + "." + key))
        return failure{where(sec, key) + ": unknown key in [" + sec + "]"};

  auto slash = origin.find_last_of('/');
  std::string stem = slash == std::string::npos ? origin : origin.substr(slash + 1);
  auto dot = stem.rfind(".ini");
  m.name = dot == std::string::npos ? stem : stem.substr(0, dot);
  return cfg;
}

result<config_file> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return failure{"cannot read config file '" + path + "'"};
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

std::string describe(const dalle_config& m) {
  std::ostringstream out;
  out << "name = " << m.name << "\n"
      << "dim = " << m.dim << "\n"
      << "depth = " << m.depth << "\n"
      << "heads = " << m.heads << "\n"
      << "dim_head = " << m.dim_head << "\n"
      << "text_seq_len = " << m.text_seq_len << "\n"
      << "num_text_tokens = " << m.num_text_tokens << "\n"
      << "image_fmap_size = " << m.image_fmap_size << "\n"
      << "num_image_tokens = " << m.num_image_tokens << "\n"
      << "attn_types = " << compact(m.attn_types) << "\n"
      << "shared_attn_ids = " << compact(m.shared_attn_ids) << "\n"
      << "shared_ff_ids = " << compact(m.shared_ff_ids) << "\n"
      << "rotary_emb = " << (m.rotary_emb ? "true" : "false") << "\n"
      << "reversible = " << (m.reversible ? "true" : "false") << "\n"
      << "shift_tokens = " << (m.shift_tokens ? "true" : "false") << "\n"
      << "share_input_output_emb = " << (m.share_input_output_emb ? "true" : "false") << "\n"
      << "loss_img_weight = " << m.loss_img_weight << "\n"
      << "ff_mult = " << m.ff_mult << "\n"
      << "sequence length = " << m.seq_len() << " (text " << m.text_seq_len << " + image " << m.image_seq_len()
      << ")\n"
      << "vocabulary = " << m.total_tokens() << "\n";
  return out.str();
}

int64_t parameter_count(const dalle_config& m) {
  int64_t inner = m.heads * m.dim_head;
  int64_t attn = 3 * inner * m.dim + inner * m.dim + m.dim;
  int64_t hidden = m.dim * m.ff_mult;
  int64_t ff = m.dim * hidden * 2 + hidden * 2 + hidden * m.dim + m.dim;
  // LayerScale and PreNorm belong to each layer; only the wrapped attention
  // and feed-forward are shared by id.
  int64_t per_layer = 2 * (m.dim + 2 * m.dim);
  std::set<std::string> attn_ids(m.shared_attn_ids.begin(), m.shared_attn_ids.end());
  std::set<std::string> ff_ids(m.shared_ff_ids.begin(), m.shared_ff_ids.end());
  int64_t logits = 2 * m.dim + m.total_tokens() * m.dim + m.total_tokens();
  return m.depth * per_layer + static_cast<int64_t>(attn_ids.size()) * attn +
         static_cast<int64_t>(ff_ids.size()) * ff + logits;
}

} // namespace ttt::model
