#include "model/dalle.hpp"

#include "model/device.hpp"
#include "model/fused.hpp"

#include <cmath>
#include <limits>
#include <set>

namespace ttt::model {

namespace {

// dalle-pytorch's max_neg_value: -finfo(dtype).max of the masked tensor's own
// type (bf16 under autocast cannot hold float's).
double lowest(const torch::Tensor& t) {
  switch (t.scalar_type()) {
  case torch::kBFloat16:
    return -static_cast<double>(std::numeric_limits<c10::BFloat16>::max());
  case torch::kHalf:
    return -static_cast<double>(std::numeric_limits<c10::Half>::max());
  case torch::kDouble:
    return -std::numeric_limits<double>::max();
  default:
    return -std::numeric_limits<float>::max();
  }
}

// The reversible stack as one autograd node: forward keeps no activations,
// backward rebuilds each layer's input from its output (x2 = y2 - g(y1),
// x1 = y1 - f(x2)) and differentiates one layer at a time, so a training
// step holds one layer's activations instead of all of them.
struct reversible_function : torch::autograd::Function<reversible_function> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               at::TensorList params, int64_t model_address) {
    auto* model = reinterpret_cast<dalle_impl*>(model_address);
    // Contiguous halves: every residual add and LayerNorm then runs on plain memory.
    auto halves = x.chunk(2, -1);
    auto x1 = halves[0].contiguous(), x2 = halves[1].contiguous();
    for (size_t i = 0; i < model->layers().size(); ++i) {
      x1 = x1 + model->block_f(i, x2);
      x2 = x2 + model->block_g(i, x1);
    }
    auto y = torch::cat({x1, x2}, -1);
    ctx->saved_data["model"] = model_address;
    ctx->saved_data["params"] = static_cast<int64_t>(params.size());
    ctx->save_for_backward({y});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto* model = reinterpret_cast<dalle_impl*>(ctx->saved_data["model"].toInt());
    auto num_params = static_cast<size_t>(ctx->saved_data["params"].toInt());
    auto y = ctx->get_saved_variables()[0];
    auto ys = y.chunk(2, -1);
    auto dys = grad_out[0].chunk(2, -1);
    torch::Tensor y1 = ys[0].contiguous(), y2 = ys[1].contiguous(), dy1 = dys[0].contiguous(),
                  dy2 = dys[1].contiguous();
    std::vector<torch::Tensor> param_grads(num_params);
    auto accumulate = [&](const std::vector<torch::Tensor>& params, const torch::autograd::variable_list& grads) {
      for (size_t k = 0; k < params.size(); ++k) {
        if (!grads[k + 1].defined())
          continue;
        auto& slot = param_grads[model->stack_parameter_index(params[k])];
        slot = slot.defined() ? slot + grads[k + 1] : grads[k + 1];
      }
    };
    for (size_t i = model->layers().size(); i-- > 0;) {
      torch::Tensor x1, x2, dx1, dx2;
      {
        torch::AutoGradMode enable(true);
        auto y1_leaf = y1.detach().requires_grad_(true);
        auto gy1 = model->block_g(i, y1_leaf);
        auto params = model->block_g_parameters(i);
        std::vector<torch::Tensor> inputs{y1_leaf};
        inputs.insert(inputs.end(), params.begin(), params.end());
        auto grads = torch::autograd::grad({gy1}, inputs, {dy2}, false, false, true);
        x2 = y2 - gy1.detach();
        dx1 = dy1 + grads[0];
        accumulate(params, grads);
      }
      {
        torch::AutoGradMode enable(true);
        auto x2_leaf = x2.detach().requires_grad_(true);
        auto fx2 = model->block_f(i, x2_leaf);
        auto params = model->block_f_parameters(i);
        std::vector<torch::Tensor> inputs{x2_leaf};
        inputs.insert(inputs.end(), params.begin(), params.end());
        auto grads = torch::autograd::grad({fx2}, inputs, {dx1}, false, false, true);
        x1 = y1 - fx2.detach();
        dx2 = dy2 + grads[0];
        accumulate(params, grads);
      }
      y1 = x1;
      y2 = x2;
      dy1 = dx1;
      dy2 = dx2;
    }
    torch::autograd::variable_list out;
    out.push_back(torch::cat({dy1, dy2}, -1));
    out.insert(out.end(), param_grads.begin(), param_grads.end());
    out.emplace_back(); // the model address
    return out;
  }
};

// Token shift (MODEL.md) is a linear map that only moves channel groups
// between positions, so it is written as slice copies into one new tensor (one
// pass over memory instead of a chain of pads and concatenations), and its
// backward is the adjoint map, the same copies the other way. Positions:
// [0, text_len) text (bos included), then the image grid row by row, possibly
// short of its last cells.
struct shift_geometry {
  int64_t text_len, side;
  int64_t half(int64_t d) const { return (d + 1) / 2; }
  int64_t quarter(int64_t d) const { return (d + 3) / 4; }
};

using torch::indexing::None;
using torch::indexing::Slice;

void shift_into(torch::Tensor& out, const torch::Tensor& x, const shift_geometry& g) {
  int64_t n = x.size(1), d = x.size(2), half = g.half(d), q = g.quarter(d);
  int64_t text_n = std::min(n, g.text_len), k = n - text_n;
  out.index({Slice(), Slice(0, 1), Slice(0, half)}).zero_();
  out.index({Slice(), Slice(1, text_n), Slice(0, half)}).copy_(x.index({Slice(), Slice(0, text_n - 1), Slice(0, half)}));
  out.index({Slice(), Slice(0, text_n), Slice(half, None)}).copy_(x.index({Slice(), Slice(0, text_n), Slice(half, None)}));
  if (k <= 0)
    return;
  int64_t t = g.text_len, s = g.side;
  // From the row above: a shift by one row; the first row gets zeros.
  out.index({Slice(), Slice(t, t + std::min(s, k)), Slice(0, q)}).zero_();
  if (k > s)
    out.index({Slice(), Slice(t + s, n), Slice(0, q)}).copy_(x.index({Slice(), Slice(t, n - s), Slice(0, q)}));
  // From the left: a shift by one position, then zeros in the first column.
  out.index({Slice(), Slice(t + 1, n), Slice(q, 2 * q)}).copy_(x.index({Slice(), Slice(t, n - 1), Slice(q, 2 * q)}));
  out.index({Slice(), Slice(t, n, s), Slice(q, 2 * q)}).zero_();
  out.index({Slice(), Slice(t, n), Slice(2 * q, None)}).copy_(x.index({Slice(), Slice(t, n), Slice(2 * q, None)}));
}

void shift_adjoint_into(torch::Tensor& out, const torch::Tensor& grad, const shift_geometry& g) {
  int64_t n = grad.size(1), d = grad.size(2), half = g.half(d), q = g.quarter(d);
  int64_t text_n = std::min(n, g.text_len), k = n - text_n;
  out.index({Slice(), Slice(0, text_n - 1), Slice(0, half)}).copy_(grad.index({Slice(), Slice(1, text_n), Slice(0, half)}));
  out.index({Slice(), Slice(text_n - 1, text_n), Slice(0, half)}).zero_();
  out.index({Slice(), Slice(0, text_n), Slice(half, None)}).copy_(grad.index({Slice(), Slice(0, text_n), Slice(half, None)}));
  if (k <= 0)
    return;
  int64_t t = g.text_len, s = g.side;
  if (k > s)
    out.index({Slice(), Slice(t, n - s), Slice(0, q)}).copy_(grad.index({Slice(), Slice(t + s, n), Slice(0, q)}));
  out.index({Slice(), Slice(std::max(t, n - s), n), Slice(0, q)}).zero_();
  // A cell's left part went to its right neighbour, except in the last column.
  out.index({Slice(), Slice(t, n - 1), Slice(q, 2 * q)}).copy_(grad.index({Slice(), Slice(t + 1, n), Slice(q, 2 * q)}));
  out.index({Slice(), Slice(t + s - 1, n, s), Slice(q, 2 * q)}).zero_();
  out.index({Slice(), Slice(n - 1, n), Slice(q, 2 * q)}).zero_();
  out.index({Slice(), Slice(t, n), Slice(2 * q, None)}).copy_(grad.index({Slice(), Slice(t, n), Slice(2 * q, None)}));
}

struct token_shift_function : torch::autograd::Function<token_shift_function> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t text_len,
                               int64_t side, int64_t out_type, bool kernels) {
    ctx->saved_data["text_len"] = text_len;
    ctx->saved_data["side"] = side;
    ctx->saved_data["kernels"] = kernels;
    ctx->saved_data["in_type"] = static_cast<int64_t>(x.scalar_type());
    auto out = torch::empty(x.sizes(), x.options().dtype(static_cast<c10::ScalarType>(out_type)));
    if (!kernels || !fused_token_shift(out, x, text_len, side, false)) // one kernel on a GPU
      shift_into(out, x, {text_len, side});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    shift_geometry g{ctx->saved_data["text_len"].toInt(), ctx->saved_data["side"].toInt()};
    auto type = static_cast<c10::ScalarType>(ctx->saved_data["in_type"].toInt());
    auto grad = grads[0];
    auto out = torch::empty(grad.sizes(), grad.options().dtype(type));
    if (!ctx->saved_data["kernels"].toBool() || !fused_token_shift(out, grad, g.text_len, g.side, true))
      shift_adjoint_into(out, grad, g);
    return {out, {}, {}, {}, {}};
  }
};

} // namespace

torch::Tensor project(const torch::Tensor& x, const torch::nn::Linear& linear) {
  // at::linear, the op Python's nn.Linear calls: the bias is added in the
  // matmul (and cast with it under autocast). libtorch's C++ Linear adds it
  // afterwards, in a kernel of its own over the whole output.
  return torch::linear(x, linear->weight, linear->bias);
}

torch::Tensor scaled_linear(const torch::Tensor& x, const torch::nn::Linear& linear, const torch::Tensor& scale) {
  // LayerScale folded into the projection: (W·x + b)·s = (s·W)·x + s·b, so
  // the [B, n, dim] product with s and its backward never run.
  auto s = scale.reshape({-1});
  return torch::linear(x, linear->weight * s.unsqueeze(1), linear->bias * s);
}

namespace {

int64_t total_positions(const dalle_config& c) { return c.text_len() + c.image_seq_len(); }

double layer_scale_init(int64_t depth_1based) {
  if (depth_1based <= 18)
    return 0.1;
  if (depth_1based <= 24)
    return 1e-5;
  return 1e-6;
}

} // namespace

attention_impl::attention_impl(int64_t dim, int64_t heads, int64_t dim_head) {
  to_qkv = register_module("to_qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * heads * dim_head).bias(false)));
  to_out = register_module("to_out", torch::nn::Linear(heads * dim_head, dim));
}

feed_forward_impl::feed_forward_impl(int64_t dim, int64_t mult) {
  net0 = register_module("net0", torch::nn::Linear(dim, dim * mult * 2));
  net3 = register_module("net3", torch::nn::Linear(dim * mult, dim));
}

torch::Tensor feed_forward_impl::forward(const torch::Tensor& x, const torch::Tensor& scale, bool kernels) {
  auto h = project(x, net0);
  if (kernels && fused_supported(h)) // one kernel each way, h the only activation kept
    return scaled_linear(fused_geglu(h), net3, scale);
  auto halves = h.chunk(2, -1);
  return scaled_linear(halves[0] * torch::gelu(halves[1]), net3, scale);
}

layer_impl::layer_impl(int64_t dim, int64_t depth_1based) {
  double init = layer_scale_init(depth_1based);
  scale_f = register_parameter("scale_f", torch::full({1, 1, dim}, init));
  scale_g = register_parameter("scale_g", torch::full({1, 1, dim}, init));
  norm_f = register_module("norm_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
  norm_g = register_module("norm_g", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
}

dalle_impl::dalle_impl(const dalle_config& config) : config_(config) {
  const auto& c = config_;
  std::map<std::string, size_t> attn_ids, ff_ids;
  for (int64_t i = 0; i < c.depth; ++i) {
    auto [a, new_attn] = attn_ids.emplace(c.shared_attn_ids[i], attns_.size());
    if (new_attn)
      attns_.push_back(register_module("attn" + std::to_string(attns_.size()),
                                       attention(c.dim, c.heads, c.dim_head)));
    attn_index_.push_back(a->second);
    auto [f, new_ff] = ff_ids.emplace(c.shared_ff_ids[i], ffs_.size());
    if (new_ff)
      ffs_.push_back(register_module("ff" + std::to_string(ffs_.size()), feed_forward(c.dim, c.ff_mult)));
    ff_index_.push_back(f->second);
    layers_.push_back(register_module("layer" + std::to_string(i), layer(c.dim, i + 1)));
  }
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(1e-5)));
  to_logits_ = register_module("to_logits", torch::nn::Linear(c.dim, c.total_tokens()));

  // Rotary angles exactly as dalle-pytorch builds `transformer.pos_emb`
  // (rotary_embedding_torch, float32 throughout).
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  int64_t rot = c.dim_head / 3, m = rot / 2;
  auto lang = 1.0 / torch::pow(10000.0, torch::arange(0, rot, 2, f32).slice(0, 0, m) / static_cast<double>(rot));
  auto pixel = torch::linspace(1.0, 10.0 / 2, m, f32) * M_PI;
  auto angles = [](const torch::Tensor& t, const torch::Tensor& freqs) {
    return (t.unsqueeze(-1) * freqs).repeat_interleave(2, -1);
  };
  int64_t text_len = c.text_len(), h = c.image_fmap_size, img = c.image_seq_len();
  auto text_lang = angles(torch::arange(text_len, f32), lang);
  auto img_lang = angles(torch::full({img}, 8192.0, f32), lang);
  auto axis = angles(torch::linspace(-1.0, 1.0, h, f32), pixel); // [h, 2m]
  auto img_axial = torch::cat({axis.unsqueeze(1).expand({h, h, 2 * m}), axis.unsqueeze(0).expand({h, h, 2 * m})}, -1)
                       .reshape({img, 4 * m});
  auto text_axis = angles(torch::full({text_len}, -10.0, f32), pixel);
  auto text_axial = torch::cat({text_axis, text_axis}, -1);
  auto freqs = torch::cat({torch::cat({text_lang, img_lang}, 0), torch::cat({text_axial, img_axial}, 0)}, -1);
  pos_emb_ = register_buffer("pos_emb", freqs.unsqueeze(0));
  // Buffers move with the module to its device (Module::to keeps their identity).
  // As wide as a head: past the rotated dims cos is 1 and sin 0, so one
  // multiply-add rotates a whole head with no slicing.
  int64_t rest = c.dim_head - 6 * m;
  rot_cos_ = register_buffer("rot_cos", torch::cat({freqs.cos(), torch::ones({total_positions(c), rest}, f32)}, -1));
  // sin signed for the pair swap: (x0, x1) → (x0·cos − x1·sin, x1·cos + x0·sin).
  auto sign = torch::tensor({-1.0f, 1.0f}).repeat({c.dim_head / 2});
  rot_sin_ = register_buffer("rot_sin",
                             torch::cat({freqs.sin(), torch::zeros({total_positions(c), rest}, f32)}, -1) * sign);

  // One mask per attention type over the padded sequence (seq_len + 1
  // positions, as dalle-pytorch pads); slices of it serve shorter inputs.
  int64_t total = c.seq_len() + 1;
  int64_t half_window = (c.conv_kernel_size - 1) / 2;
  for (const auto& type : std::set<std::string>(c.attn_types.begin(), c.attn_types.end())) {
    auto blocked = torch::ones({total, total}, torch::kBool);
    auto acc = blocked.accessor<bool, 2>();
    for (int64_t q = 0; q < total; ++q) {
      for (int64_t k = 0; k <= q; ++k) {
        bool allowed;
        if (q < text_len || k < text_len || type == "full") {
          allowed = true; // causal text, and every image query sees all text
        } else {
          int64_t qi = q - text_len, ki = k - text_len;
          int64_t qr = qi / h, qc = qi % h, kr = ki / h, kc = ki % h;
          if (type == "axial_row")
            allowed = kr == qr;
          else if (type == "axial_col")
            allowed = kc == qc;
          else { // conv_like: the causal part of a kernel×kernel window
            int64_t dr = kr - qr, dc = kc - qc, d = c.conv_dilation;
            allowed = dr % d == 0 && dc % d == 0 && std::abs(dr / d) <= half_window && std::abs(dc / d) <= half_window;
          }
        }
        acc[q][k] = !allowed;
      }
    }
    blocked_by_type_[type] = register_buffer("blocked_" + type, blocked);
  }
  // What a cell of an axial line sees: all text, then the line's cells up to itself.
  auto line = torch::ones({h, text_len + h}, torch::kBool);
  line.slice(1, text_len).copy_(torch::ones({h, h}, torch::kBool).tril());
  line_allowed_ = register_buffer("line_allowed", line);

  std::set<const void*> seen;
  auto add = [&](const torch::Tensor& p) {
    if (seen.insert(p.unsafeGetTensorImpl()).second) {
      stack_param_index_[p.unsafeGetTensorImpl()] = stack_params_.size();
      stack_params_.push_back(p);
    }
  };
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (const auto& p : block_f_parameters(i))
      add(p);
    for (const auto& p : block_g_parameters(i))
      add(p);
  }
}

size_t dalle_impl::stack_parameter_index(const torch::Tensor& p) const {
  return stack_param_index_.at(p.unsafeGetTensorImpl());
}

std::vector<torch::Tensor> dalle_impl::block_f_parameters(size_t i) const {
  const auto& l = layers_[i];
  const auto& a = attns_[attn_index_[i]];
  return {l->scale_f, l->norm_f->weight, l->norm_f->bias, a->to_qkv->weight, a->to_out->weight, a->to_out->bias};
}

std::vector<torch::Tensor> dalle_impl::block_g_parameters(size_t i) const {
  const auto& l = layers_[i];
  const auto& f = ffs_[ff_index_[i]];
  return {l->scale_g, l->norm_g->weight, l->norm_g->bias, f->net0->weight, f->net0->bias, f->net3->weight, f->net3->bias};
}

torch::Tensor dalle_impl::blocked(size_t layer, int64_t n) const {
  return blocked_by_type_.at(config_.attn_types[layer]).slice(0, 0, n).slice(1, 0, n);
}

torch::Tensor dalle_impl::prepare_text(const torch::Tensor& text) const {
  const auto& c = config_;
  // Each padding position gets its own id, then <bos> = 0 goes in front.
  auto padding_ids = torch::arange(c.text_seq_len, text.options()) + c.num_text_tokens;
  auto ids = torch::where(text == 0, padding_ids.unsqueeze(0).expand_as(text), text);
  return torch::constant_pad_nd(ids, {1, 0}, 0);
}

torch::Tensor dalle_impl::embed(const torch::Tensor& text, const torch::Tensor& image) const {
  auto ids = prepare_text(text);
  if (image.defined() && image.size(1) > 0)
    ids = torch::cat({ids, image + config_.total_text_tokens()}, 1);
  if (ids.size(1) > config_.seq_len())
    ids = ids.slice(1, 0, config_.seq_len());
  // Input embeddings are rows of the output layer's weight (tied).
  return torch::embedding(to_logits_->weight, ids);
}

torch::Tensor dalle_impl::rotate(const torch::Tensor& t, int64_t begin, int64_t n, int64_t position_dim) const {
  // Interleaved pairs (x0, x1) rotate to (x0·cos − x1·sin, x1·cos + x0·sin):
  // t·cos + swap(t)·sin with the sign folded into the sin buffer. On a GPU
  // with ttt's kernels, one pass instead of the flip and the broadcast
  // multiplies.
  if (position_dim == 1 && fast_paths_.kernels && fused_supported(t))
    return fused_rotary(t, rot_cos_, rot_sin_, begin);
  std::vector<int64_t> shape(static_cast<size_t>(t.dim()), 1);
  shape[static_cast<size_t>(position_dim)] = n;
  shape.back() = t.size(-1);
  auto cos = rot_cos_.slice(0, begin, begin + n).view(shape), sin = rot_sin_.slice(0, begin, begin + n).view(shape);
  if (t.scalar_type() != cos.scalar_type()) { // bf16 under autocast: stay in it
    cos = cos.to(t.scalar_type());
    sin = sin.to(t.scalar_type());
  }
  auto swapped = t.unflatten(-1, {t.size(-1) / 2, 2}).flip(-1).flatten(-2);
  return t * cos + swapped * sin;
}

torch::Tensor dalle_impl::shift(const torch::Tensor& x) const {
  // Under autocast on a GPU the shifted copy is made in bf16 at once: the
  // projection that reads it would cast it anyway.
  auto out_type = x.is_cuda() && autocast_active() ? torch::kBFloat16 : x.scalar_type();
  return token_shift_function::apply(x, config_.text_len(), config_.image_fmap_size, static_cast<int64_t>(out_type),
                                     fast_paths_.kernels);
}

torch::Tensor dalle_impl::attend(size_t layer, const torch::Tensor& x) {
  const auto& c = config_;
  auto a = attns_[attn_index_[layer]];
  int64_t b = x.size(0), n = x.size(1);
  // q, k and v of every head rotated in one go, in the projection's own
  // layout [B, n, 3·H, Dh].
  auto qkv = rotate(project(x, a->to_qkv).view({b, n, 3 * c.heads, c.dim_head}), 0, n, 1);
  double scale = std::pow(static_cast<double>(c.dim_head), -0.5);
  auto out = structured_attention(layer, qkv, scale); // [B, n, H, Dh]
  if (!out.defined()) {
    // unbind's backward is one stack (select's would be three zero-filled copies).
    auto parts = qkv.unflatten(2, {3, c.heads}).unbind(2);
    auto q = parts[0].transpose(1, 2), k = parts[1].transpose(1, 2), v = parts[2].transpose(1, 2); // [B, H, n, Dh]
#ifdef TTT_WITH_CUDA
    if (x.is_cuda()) {
      out = fused_attention(layer, q, k, v, scale);
    } else
#endif
    {
      out = explicit_attention(layer, q, k, v, scale);
    }
    out = out.transpose(1, 2);
  }
  return scaled_linear(out.reshape({b, n, c.heads * c.dim_head}), a->to_out, layers_[layer]->scale_f);
}

torch::Tensor dalle_impl::structured_attention(size_t layer, const torch::Tensor& qkv, double scale) const {
  // Axial layers by their structure: the text causally, each image query
  // against all text and its own line (fused.hpp) — the n×n scores the mask
  // would discard never computed. On a GPU through flash attention (where
  // this libtorch and GPU have it); on the CPU with explicit parts, which pays
  // from 16×16 grids on (dalle-small's step 1.2–1.3× faster; on dalle-tiny's
  // 8×8 the one masked n×n product is 5–8% faster).
  const auto& c = config_;
  const auto& type = c.attn_types[layer];
  int64_t t = c.text_len(), cells = qkv.size(1) - t;
  if (!fast_paths_.structured_attention || (type != "axial_row" && type != "axial_col") || cells <= 0)
    return {};
  bool by_column = type == "axial_col";
  if (qkv.is_cuda()) {
    auto dtype = autocast_active() ? torch::kBFloat16 : qkv.scalar_type();
    return axial_attention(qkv.to(dtype), c.heads, t, c.image_fmap_size, by_column, scale, fast_paths_.kernels);
  }
  if (!cpu_attention_by_structure(c))
    return {};
  return host::axial_attention(qkv, c.heads, t, c.image_fmap_size, by_column, scale);
}

torch::Tensor dalle_impl::explicit_attention(size_t layer, const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& v, double scale) const {
  auto dots = torch::matmul(q * scale, k.transpose(-1, -2));
  dots = dots.masked_fill(blocked(layer, q.size(2)), lowest(dots));
  return torch::matmul(torch::softmax(dots, -1), v);
}

#ifdef TTT_WITH_CUDA
namespace {
// Text and image outputs [B, H, ·, Dh] joined along the positions, laid out
// [B, n, H, Dh] in memory: the output projection's reshape is then a view,
// not a second copy.
torch::Tensor join_positions(const torch::Tensor& text, const torch::Tensor& image) {
  return torch::cat({text.transpose(1, 2), image.transpose(1, 2)}, 1).transpose(1, 2);
}
} // namespace

torch::Tensor dalle_impl::fused_attention(size_t layer, torch::Tensor q, torch::Tensor k, torch::Tensor v,
                                          double scale) const {
  const auto& c = config_;
  auto dtype = autocast_active() ? torch::kBFloat16 : q.scalar_type();
  q = q.to(dtype);
  k = k.to(dtype);
  v = v.to(dtype);
  const auto& type = c.attn_types[layer];
  int64_t b = q.size(0), h = q.size(1), n = q.size(2), dh = q.size(3);
  int64_t t = c.text_len(), side = c.image_fmap_size, cells = n - t;
  if ((type != "axial_row" && type != "axial_col") || cells <= 0) {
    // libtorch's fused kernel for an arbitrary mask (memory-efficient
    // attention): every query sees at least itself, so no row is all masked.
    return at::scaled_dot_product_attention(q, k, v, blocked(layer, n).logical_not(), 0.0, false, scale);
  }
  // Axial attention per line (where structured_attention's merged flash
  // parts are off or unavailable): text queries see earlier text (causal),
  // an image query sees all text and the earlier cells of its line (row or
  // column), as one small attention per line over text + line keys, the text
  // keys copied to each line. The grid is padded to full; the padding cell
  // is the last of its line, seen only by its own (discarded) query.
  // split's backward is one concatenation (slice's, a zero-filled copy each).
  auto qs = q.split_with_sizes({t, cells}, 2), ks = k.split_with_sizes({t, cells}, 2),
       vs = v.split_with_sizes({t, cells}, 2);
  auto text = at::scaled_dot_product_attention(qs[0], ks[0], vs[0], {}, 0.0, true, scale);
  bool by_column = type == "axial_col";
  auto lines = [&](const torch::Tensor& image_part) { // [B, H, side lines, side cells, Dh]
    auto grid = torch::constant_pad_nd(image_part, {0, 0, 0, side * side - cells}).unflatten(2, {side, side});
    return by_column ? grid.transpose(2, 3) : grid;
  };
  auto with_text = [&](const std::vector<torch::Tensor>& parts) { // [B, H·side, t + side, Dh]
    auto shared = parts[0].unsqueeze(2).expand({b, h, side, t, dh});
    return torch::cat({shared, lines(parts[1])}, 3).flatten(1, 2);
  };
  auto image = at::scaled_dot_product_attention(lines(qs[1]).flatten(1, 2), with_text(ks), with_text(vs), line_allowed_,
                                                0.0, false, scale)
                   .unflatten(1, {h, side});
  if (by_column)
    image = image.transpose(2, 3);
  return join_positions(text, image.flatten(2, 3).slice(2, 0, cells));
}
#endif

torch::Tensor dalle_impl::block_f(size_t i, const torch::Tensor& x) {
  auto normed = layers_[i]->norm_f->forward(x);
  return attend(i, config_.shift_tokens ? shift(normed) : normed);
}

torch::Tensor dalle_impl::block_g(size_t i, const torch::Tensor& x) {
  auto normed = layers_[i]->norm_g->forward(x);
  return ffs_[ff_index_[i]]->forward(config_.shift_tokens ? shift(normed) : normed, layers_[i]->scale_g,
                                     fast_paths_.kernels);
}

torch::Tensor dalle_impl::transform(const torch::Tensor& tokens) {
  if (!config_.reversible) { // dalle-pytorch's SequentialSequence
    auto x = tokens;
    for (size_t i = 0; i < layers_.size(); ++i) {
      x = x + block_f(i, x);
      x = x + block_g(i, x);
    }
    return x;
  }
  torch::Tensor x1, x2;
  if (recompute_ && torch::GradMode::is_enabled()) {
    auto y = reversible_function::apply(torch::cat({tokens, tokens}, -1), at::TensorList(stack_params_),
                                        reinterpret_cast<int64_t>(this));
    auto halves = y.chunk(2, -1);
    x1 = halves[0];
    x2 = halves[1];
  } else {
    x1 = tokens;
    x2 = tokens;
    for (size_t i = 0; i < layers_.size(); ++i) {
      x1 = x1 + block_f(i, x2);
      x2 = x2 + block_g(i, x1);
    }
  }
  return torch::stack({x1, x2}).mean(0);
}

torch::Tensor dalle_impl::mask_logits(const torch::Tensor& logits, int64_t begin) const {
  // Positions before text_seq_len predict text ids, the rest image ids.
  int64_t n = logits.size(-2);
  auto on = torch::TensorOptions().dtype(torch::kLong).device(logits.device());
  auto position = torch::arange(begin, begin + n, on).unsqueeze(1);
  auto id = torch::arange(config_.total_tokens(), on).unsqueeze(0);
  auto text_id = id < config_.total_text_tokens();
  auto text_pos = position < config_.text_seq_len;
  auto blocked = text_pos.logical_and(text_id.logical_not()).logical_or(text_pos.logical_not().logical_and(text_id));
  return logits.masked_fill(blocked, lowest(logits));
}

torch::Tensor dalle_impl::forward(const torch::Tensor& text, const torch::Tensor& image) {
  auto out = transform(embed(text, image));
  return mask_logits(project(final_norm_->forward(out), to_logits_), 0);
}

dalle_impl::losses dalle_impl::loss(const torch::Tensor& text, const torch::Tensor& image) {
  const auto& c = config_;
  auto out = final_norm_->forward(transform(embed(text, image)));
  // Text positions may only predict text ids and image positions image ids
  // (mask_logits): the masked ids get probability 0, so a cross-entropy over
  // each part's own vocabulary is the same loss, without computing the
  // logits the mask would throw away.
  auto ce = [&](int64_t begin, int64_t end, int64_t first_id, int64_t ids, const torch::Tensor& labels) {
    const auto& w = to_logits_->weight;
    const auto& bias = to_logits_->bias;
    auto logits = torch::linear(out.slice(1, begin, end), w.slice(0, first_id, first_id + ids),
                                                bias.slice(0, first_id, first_id + ids));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, ids}), labels.reshape({-1}));
  };
  losses r;
  r.loss_text = ce(0, c.text_seq_len, 0, c.total_text_tokens(), prepare_text(text).slice(1, 1));
  r.loss_img = ce(c.text_seq_len, c.seq_len(), c.total_text_tokens(), c.num_image_tokens, image);
  r.loss = (r.loss_text + c.loss_img_weight * r.loss_img) / (c.loss_img_weight + 1);
  return r;
}

torch::Tensor dalle_impl::shift_one(const torch::Tensor& cached, int64_t t) const {
  const auto& c = config_;
  int64_t d = cached.size(2), half = (d + 1) / 2, quarter = (d + 3) / 4;
  auto current = cached.select(1, t);
  auto zeros = [&](int64_t width) { return torch::zeros({cached.size(0), width}, cached.options()); };
  torch::Tensor out;
  if (t < c.text_len()) {
    auto prev = t > 0 ? cached.select(1, t - 1).slice(1, 0, half) : zeros(half);
    out = torch::cat({prev, current.slice(1, half)}, 1);
  } else {
    int64_t i = t - c.text_len(), w = c.image_fmap_size, row = i / w, col = i % w;
    auto top = row > 0 ? cached.select(1, t - w).slice(1, 0, quarter) : zeros(quarter);
    auto left = col > 0 ? cached.select(1, t - 1).slice(1, quarter, 2 * quarter) : zeros(quarter);
    out = torch::cat({top, left, current.slice(1, 2 * quarter)}, 1);
  }
  return out.unsqueeze(1);
}

torch::Tensor dalle_impl::step(generation_cache& cache, const torch::Tensor& token_ids) {
  const auto& c = config_;
  int64_t t = cache.position, b = token_ids.size(0);
  if (cache.keys.empty()) {
    cache.keys.resize(layers_.size());
    cache.values.resize(layers_.size());
    cache.f_inputs.resize(layers_.size());
    cache.g_inputs.resize(layers_.size());
  }
  auto append = [](torch::Tensor& store, const torch::Tensor& item, int64_t dim) {
    store = store.defined() ? torch::cat({store, item}, dim) : item;
  };
  auto shifted = [&](torch::Tensor& store, const torch::Tensor& normed) {
    append(store, normed, 1);
    return c.shift_tokens ? shift_one(store, t) : normed;
  };
  auto f = [&](size_t i, const torch::Tensor& x) {
    auto a = attns_[attn_index_[i]];
    auto in = shifted(cache.f_inputs[i], layers_[i]->norm_f->forward(x));
    auto qkv = project(in, a->to_qkv).chunk(3, -1);
    auto heads = [&](const torch::Tensor& u) {
      return rotate(u.view({b, 1, c.heads, c.dim_head}).transpose(1, 2), t, 1, 2);
    };
    auto q = heads(qkv[0]) * std::pow(static_cast<double>(c.dim_head), -0.5);
    append(cache.keys[i], heads(qkv[1]), 2);
    append(cache.values[i], heads(qkv[2]), 2);
    auto dots = torch::matmul(q, cache.keys[i].transpose(-1, -2));
    dots = dots.masked_fill(blocked(i, t + 1).slice(0, t, t + 1), lowest(dots));
    auto out = torch::matmul(torch::softmax(dots, -1), cache.values[i]);
    return scaled_linear(out.transpose(1, 2).reshape({b, 1, c.heads * c.dim_head}), a->to_out, layers_[i]->scale_f);
  };
  auto g = [&](size_t i, const torch::Tensor& x) {
    auto in = shifted(cache.g_inputs[i], layers_[i]->norm_g->forward(x));
    return ffs_[ff_index_[i]]->forward(in, layers_[i]->scale_g, fast_paths_.kernels);
  };
  auto x = torch::embedding(to_logits_->weight, token_ids).unsqueeze(1);
  torch::Tensor out;
  if (c.reversible) {
    auto x1 = x, x2 = x;
    for (size_t i = 0; i < layers_.size(); ++i) {
      x1 = x1 + f(i, x2);
      x2 = x2 + g(i, x1);
    }
    out = torch::stack({x1, x2}).mean(0);
  } else {
    for (size_t i = 0; i < layers_.size(); ++i) {
      x = x + f(i, x);
      x = x + g(i, x);
    }
    out = x;
  }
  auto logits = mask_logits(project(final_norm_->forward(out), to_logits_), t);
  cache.position = t + 1;
  return logits.squeeze(1);
}

std::vector<named_tensor> dalle_impl::named_tensors() const {
  const auto& c = config_;
  std::vector<named_tensor> out;
  auto block = [&](size_t i, bool f) {
    return c.reversible ? "transformer.layers.blocks." + std::to_string(i) + (f ? ".f.net." : ".g.net.")
                        : "transformer.layers.layers." + std::to_string(i) + (f ? ".0." : ".1.");
  };
  std::string inner = c.shift_tokens ? "fn.fn.fn." : "fn.fn.";
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    out.push_back({{block(i, true) + "scale"}, l->scale_f});
    out.push_back({{block(i, true) + "fn.norm.weight"}, l->norm_f->weight});
    out.push_back({{block(i, true) + "fn.norm.bias"}, l->norm_f->bias});
    out.push_back({{block(i, false) + "scale"}, l->scale_g});
    out.push_back({{block(i, false) + "fn.norm.weight"}, l->norm_g->weight});
    out.push_back({{block(i, false) + "fn.norm.bias"}, l->norm_g->bias});
  }
  for (size_t a = 0; a < attns_.size(); ++a) {
    named_tensor qkv{{}, attns_[a]->to_qkv->weight}, w{{}, attns_[a]->to_out->weight}, bias{{}, attns_[a]->to_out->bias};
    for (size_t i = 0; i < layers_.size(); ++i) {
      if (attn_index_[i] != a)
        continue;
      qkv.names.push_back(block(i, true) + inner + "to_qkv.weight");
      w.names.push_back(block(i, true) + inner + "to_out.0.weight");
      bias.names.push_back(block(i, true) + inner + "to_out.0.bias");
    }
    out.insert(out.end(), {qkv, w, bias});
  }
  for (size_t fi = 0; fi < ffs_.size(); ++fi) {
    named_tensor w0{{}, ffs_[fi]->net0->weight}, b0{{}, ffs_[fi]->net0->bias};
    named_tensor w3{{}, ffs_[fi]->net3->weight}, b3{{}, ffs_[fi]->net3->bias};
    for (size_t i = 0; i < layers_.size(); ++i) {
      if (ff_index_[i] != fi)
        continue;
      w0.names.push_back(block(i, false) + inner + "net.0.weight");
      b0.names.push_back(block(i, false) + inner + "net.0.bias");
      w3.names.push_back(block(i, false) + inner + "net.3.weight");
      b3.names.push_back(block(i, false) + inner + "net.3.bias");
    }
    out.insert(out.end(), {w0, b0, w3, b3});
  }
  out.push_back({{"to_logits.0.weight"}, final_norm_->weight});
  out.push_back({{"to_logits.0.bias"}, final_norm_->bias});
  out.push_back({{"to_logits.1.weight", "text_emb.linear.weight", "image_emb.linear.weight"}, to_logits_->weight});
  out.push_back({{"to_logits.1.bias", "text_emb.linear.bias", "image_emb.linear.bias"}, to_logits_->bias});
  out.push_back({{"transformer.pos_emb"}, pos_emb_, false});
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> dalle_impl::trainable_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& nt : named_tensors())
    if (nt.trainable)
      out.emplace_back(nt.names[0], nt.tensor);
  return out;
}

} // namespace ttt::model
