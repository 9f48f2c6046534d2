#include "model/fused.hpp"

#include "model/kernels.hpp"

#ifdef TTT_WITH_KERNELS
#include <c10/cuda/CUDAStream.h>
#endif

#include <array>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ttt::model {

namespace {

// The rotary layout: rows of whole heads, positions cycling every n rows.
kernels::rotary_shape rotary_layout(const torch::Tensor& x, const torch::Tensor& cos, int64_t begin) {
  TORCH_CHECK(x.dim() >= 3, "rotary: expected [B, n, ...], got ", x.sizes());
  kernels::rotary_shape s;
  s.n = x.size(1);
  s.dh = cos.size(1);
  s.width = s.n == 0 || x.size(0) == 0 ? 0 : x.numel() / (x.size(0) * s.n);
  s.begin = begin;
  TORCH_CHECK(s.dh % 2 == 0 && (s.width == 0 || s.width % s.dh == 0), "rotary: rows of ", s.width,
              " values are not whole heads of ", s.dh);
  TORCH_CHECK(begin >= 0 && begin + s.n <= cos.size(0), "rotary: positions ", begin, "..", begin + s.n,
              " outside the table's ", cos.size(0));
  return s;
}

#ifdef TTT_WITH_KERNELS
kernels::element_type element_of(const torch::Tensor& x) {
  return x.scalar_type() == torch::kBFloat16 ? kernels::element_type::bf16 : kernels::element_type::f32;
}

void check(int code, const char* what) {
  if (code != 0)
    throw std::runtime_error(std::string(what) + ": " + kernels::error_string(code));
}

// libtorch's current stream on x's GPU, that GPU made current for the kernels.
void* current_stream(const torch::Tensor& x) {
  check(kernels::use_device(x.device().index()), "selecting the GPU for ttt's kernels");
  return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
}

torch::Tensor launch_rotary(const torch::Tensor& input, const torch::Tensor& cos, const torch::Tensor& sin,
                            int64_t begin, float sign) {
  auto x = input.contiguous();
  auto s = rotary_layout(x, cos, begin);
  auto y = torch::empty_like(x);
  check(kernels::rotary(element_of(x), x.data_ptr(), y.data_ptr(), cos.data_ptr<float>(), sin.data_ptr<float>(),
                        x.size(0) * s.n, s, sign, current_stream(x)),
        "rotary kernel");
  return y;
}

// Whether the kernels run on this GPU (the build carries code for Turing and
// later): one tiny launch, once, on the first use — eager, never while a CUDA
// graph is captured (graphed_step runs its first steps eagerly).
bool kernels_run(const torch::Tensor& like) {
  static const bool runs = [&] {
    auto x = torch::zeros({1, 1, 2}, like.options().dtype(torch::kFloat32));
    auto y = torch::empty_like(x), table = torch::zeros({1, 2}, x.options());
    kernels::rotary_shape s{1, 2, 2, 0};
    try {
      check(kernels::rotary(kernels::element_type::f32, x.data_ptr(), y.data_ptr(), table.data_ptr<float>(),
                            table.data_ptr<float>(), 1, s, 1.0f, current_stream(x)),
            "a first launch");
      return true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ttt: the CUDA kernels do not run on this GPU (%s); libtorch's ops do their work\n",
                   e.what());
      return false;
    }
  }();
  return runs;
}

struct rotary_function : torch::autograd::Function<rotary_function> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, int64_t begin) {
    ctx->saved_data["cos"] = cos;
    ctx->saved_data["sin"] = sin;
    ctx->saved_data["begin"] = begin;
    return launch_rotary(x, cos, sin, begin, 1.0f);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // A rotation's adjoint is the rotation back.
    return {launch_rotary(grads[0], ctx->saved_data["cos"].toTensor(), ctx->saved_data["sin"].toTensor(),
                          ctx->saved_data["begin"].toInt(), -1.0f),
            {}, {}, {}};
  }
};

struct geglu_function : torch::autograd::Function<geglu_function> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input) {
    auto h = input.contiguous();
    int64_t f = h.size(-1) / 2;
    auto sizes = h.sizes().vec();
    sizes.back() = f;
    auto y = torch::empty(sizes, h.options());
    check(kernels::geglu_forward(element_of(h), h.data_ptr(), y.data_ptr(), h.numel() / h.size(-1), f,
                                 current_stream(h)),
          "GEGLU kernel");
    ctx->save_for_backward({h});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto h = ctx->get_saved_variables()[0];
    auto dy = grads[0].to(h.scalar_type()).contiguous();
    auto dh = torch::empty_like(h);
    check(kernels::geglu_backward(element_of(h), h.data_ptr(), dy.data_ptr(), dh.data_ptr(), h.numel() / h.size(-1),
                                  h.size(-1) / 2, current_stream(h)),
          "GEGLU backward kernel");
    return {dh};
  }
};
#endif

// --- Axial attention as two attentions merged by log-sum-exp ---

// What an attention part's forward hands its backward besides the tensors
// (flash's sequence bookkeeping and random state; empty for the reference).
struct part_state {
  torch::Tensor cum_q, cum_k, seed, offset;
  int64_t max_q = 0, max_k = 0;

  void save(torch::autograd::AutogradContext* ctx, const std::string& key) const {
    ctx->saved_data[key + "cum_q"] = cum_q;
    ctx->saved_data[key + "cum_k"] = cum_k;
    ctx->saved_data[key + "seed"] = seed;
    ctx->saved_data[key + "offset"] = offset;
    ctx->saved_data[key + "max_q"] = max_q;
    ctx->saved_data[key + "max_k"] = max_k;
  }
  static part_state load(torch::autograd::AutogradContext* ctx, const std::string& key) {
    return {ctx->saved_data[key + "cum_q"].toTensor(), ctx->saved_data[key + "cum_k"].toTensor(),
            ctx->saved_data[key + "seed"].toTensor(),  ctx->saved_data[key + "offset"].toTensor(),
            ctx->saved_data[key + "max_q"].toInt(),    ctx->saved_data[key + "max_k"].toInt()};
  }
};

struct part_result {
  torch::Tensor out, lse; // [B, H, L, Dh], [B, H, L] (float32)
  part_state state;
};

// The attention the merge is built on, written out with matmuls: the
// forward returns the log-sum-exp of each query's scores; the backward takes
// an output and log-sum-exp that may be those of a larger attention this
// part belongs to, and returns this part's share of its gradients.
// float32, or float64 for float64 inputs (the tests).
torch::ScalarType compute_type(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

struct reference_ops {
  static torch::Tensor scores(const torch::Tensor& q, const torch::Tensor& k, bool causal, double scale) {
    auto s = torch::matmul(q.to(compute_type(q)), k.to(compute_type(q)).transpose(-1, -2)) * scale;
    if (causal)
      s = s.masked_fill(torch::ones({q.size(2), k.size(2)}, q.options().dtype(torch::kBool)).triu(1),
                        -std::numeric_limits<float>::infinity());
    return s;
  }
  static part_result forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal,
                             double scale) {
    auto s = scores(q, k, causal, scale);
    auto lse = s.logsumexp(-1);
    auto out = torch::matmul((s - lse.unsqueeze(-1)).exp(), v.to(s.scalar_type())).to(q.scalar_type());
    return {out, lse, {}};
  }
  static std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>
  backward(const torch::Tensor& dout, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
           const torch::Tensor& out, const torch::Tensor& lse, const part_state&, bool causal, double scale) {
    auto p = (scores(q, k, causal, scale) - lse.unsqueeze(-1)).exp();
    auto type = p.scalar_type();
    auto d_out = dout.to(type);
    auto dv = torch::matmul(p.transpose(-1, -2), d_out);
    auto dp = torch::matmul(d_out, v.to(type).transpose(-1, -2));
    auto ds = p * (dp - (d_out * out.to(type)).sum(-1, true)) * scale;
    auto dq = torch::matmul(ds, k.to(type)), dk = torch::matmul(ds.transpose(-1, -2), q.to(type));
    return {dq.to(q.scalar_type()), dk.to(k.scalar_type()), dv.to(v.scalar_type())};
  }
};

// [B, H, cells, …] in grid order ↔ [B, H·side, side, …], one line (row, or
// column) per batch entry, the grid padded to full with `pad`.
torch::Tensor to_lines(const torch::Tensor& x, int64_t side, bool by_column, double pad = 0.0) {
  auto grid = torch::constant_pad_nd(x, {0, 0, 0, side * side - x.size(2)}, pad).unflatten(2, {side, side});
  if (by_column)
    grid = grid.transpose(2, 3);
  return grid.flatten(1, 2).contiguous();
}

torch::Tensor from_lines(const torch::Tensor& y, int64_t heads, int64_t side, bool by_column, int64_t cells) {
  auto grid = y.unflatten(1, {heads, side});
  if (by_column)
    grid = grid.transpose(2, 3);
  return grid.flatten(2, 3).slice(2, 0, cells);
}

// The parts joined: output [B, H, cells, Dh] (`out_type`) and log-sum-exp
// [B, H, cells]. One kernel on a GPU with ttt's kernels (when `kernels`),
// libtorch's ops elsewhere.
std::pair<torch::Tensor, torch::Tensor> join_parts(const part_result& text, const part_result& line, int64_t heads,
                                                   int64_t side, bool by_column, int64_t cells,
                                                   torch::ScalarType out_type, bool kernels) {
#ifdef TTT_WITH_KERNELS
  if (kernels && fused_supported(text.out) && text.out.scalar_type() == out_type && line.out.scalar_type() == out_type &&
      text.lse.scalar_type() == torch::kFloat32 && line.lse.scalar_type() == torch::kFloat32) {
    auto t = text.out.stride(-1) == 1 ? text.out : text.out.contiguous();
    auto l = line.out.contiguous(), tl = text.lse.contiguous(), ll = line.lse.contiguous();
    int64_t batch = t.size(0), dh = t.size(3);
    auto out = torch::empty({batch, heads, cells, dh}, t.options());
    auto lse = torch::empty({batch, heads, cells}, tl.options());
    kernels::merge_layout<int64_t> m{heads, cells, dh, side, t.stride(0), t.stride(1), t.stride(2), by_column};
    check(kernels::merge_attention(element_of(t), t.data_ptr(), tl.data_ptr<float>(), l.data_ptr(),
                                   ll.data_ptr<float>(), out.data_ptr(), lse.data_ptr<float>(), batch, m,
                                   current_stream(t)),
          "attention merge kernel");
    return {out, lse};
  }
#else
  (void)kernels;
#endif
  auto line_out = from_lines(line.out, heads, side, by_column, cells);
  auto line_lse = from_lines(line.lse.unsqueeze(-1), heads, side, by_column, cells).squeeze(-1);
  auto lse = torch::logaddexp(text.lse, line_lse);
  auto type = compute_type(text.out);
  auto out = (text.out.to(type) * (text.lse - lse).exp().unsqueeze(-1) +
              line_out.to(type) * (line_lse - lse).exp().unsqueeze(-1))
                 .to(out_type);
  return {out, lse};
}

// q, k and v [B, H, n, Dh] as views of the projection's output [B, n, 3·H, Dh].
std::array<torch::Tensor, 3> heads_of(const torch::Tensor& qkv, int64_t heads) {
  auto parts = qkv.view({qkv.size(0), qkv.size(1), 3, heads, qkv.size(3)}).unbind(2);
  return {parts[0].transpose(1, 2), parts[1].transpose(1, 2), parts[2].transpose(1, 2)};
}

// Axial attention over the whole sequence as three attention parts: the
// text causally; the image queries against all text keys (dense); each line
// (row, or column) causally against itself. The last two are joined by
// their log-sum-exps. The backward runs each part's backward (the image
// parts' given the joined output and log-sum-exp: their share of the whole
// softmax's gradients) and writes q, k and v's gradients once, into one
// tensor of the projection's shape.
template <typename Ops>
struct axial_function : torch::autograd::Function<axial_function<Ops>> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv, int64_t heads,
                               int64_t text_len, int64_t side, bool by_column, double scale, bool kernels) {
    int64_t b = qkv.size(0), n = qkv.size(1), dh = qkv.size(3), t = text_len, cells = n - t;
    auto [q, k, v] = heads_of(qkv, heads);
    auto q_cells = q.narrow(2, t, cells), k_text = k.narrow(2, 0, t), v_text = v.narrow(2, 0, t);
    auto q_lines = to_lines(q_cells, side, by_column), k_lines = to_lines(k.narrow(2, t, cells), side, by_column),
         v_lines = to_lines(v.narrow(2, t, cells), side, by_column);
    auto text = Ops::forward(q.narrow(2, 0, t), k_text, v_text, true, scale);
    auto image_text = Ops::forward(q_cells, k_text, v_text, false, scale);
    auto line = Ops::forward(q_lines, k_lines, v_lines, true, scale);
    TORCH_CHECK(image_text.lse.dim() == 3 && image_text.lse.size(2) == cells && line.lse.dim() == 3 &&
                    line.lse.size(2) == side,
                "axial attention: a log-sum-exp of ", image_text.lse.sizes(), " for ", cells,
                " queries (expected [B, H, queries])");
    auto [image, image_lse] = join_parts(image_text, line, heads, side, by_column, cells, q.scalar_type(), kernels);
    // [B, n, H, Dh]: the output projection reads it as [B, n, H·Dh].
    auto out = torch::empty({b, n, heads, dh}, qkv.options());
    out.narrow(1, 0, t).copy_(text.out.transpose(1, 2));
    out.narrow(1, t, cells).copy_(image.transpose(1, 2));
    ctx->save_for_backward({qkv, text.out, text.lse, image, image_lse, q_lines, k_lines, v_lines});
    text.state.save(ctx, "text_");
    image_text.state.save(ctx, "image_text_");
    line.state.save(ctx, "line_");
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["text_len"] = text_len;
    ctx->saved_data["side"] = side;
    ctx->saved_data["by_column"] = by_column;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &text_out = saved[1], &text_lse = saved[2], &image = saved[3],
               &image_lse = saved[4], &q_lines = saved[5], &k_lines = saved[6], &v_lines = saved[7];
    int64_t heads = ctx->saved_data["heads"].toInt(), t = ctx->saved_data["text_len"].toInt(),
            side = ctx->saved_data["side"].toInt(), cells = qkv.size(1) - t;
    bool by_column = ctx->saved_data["by_column"].toBool();
    double scale = ctx->saved_data["scale"].toDouble();
    auto [q, k, v] = heads_of(qkv, heads);
    auto d = grads[0].to(qkv.scalar_type()).contiguous().transpose(1, 2); // [B, H, n, Dh]
    auto d_cells = d.narrow(2, t, cells);
    auto k_text = k.narrow(2, 0, t), v_text = v.narrow(2, 0, t);
    auto text = Ops::backward(d.narrow(2, 0, t), q.narrow(2, 0, t), k_text, v_text, text_out, text_lse,
                              part_state::load(ctx, "text_"), true, scale);
    auto image_text = Ops::backward(d_cells, q.narrow(2, t, cells), k_text, v_text, image, image_lse,
                                    part_state::load(ctx, "image_text_"), false, scale);
    // The padding cell's query has no gradient; its log-sum-exp is taken
    // huge so that its (unused) probabilities are 0, not overflowing.
    auto line = Ops::backward(to_lines(d_cells, side, by_column), q_lines, k_lines, v_lines,
                              to_lines(image, side, by_column),
                              to_lines(image_lse.unsqueeze(-1), side, by_column, 1e30).squeeze(-1),
                              part_state::load(ctx, "line_"), true, scale);
    auto back = [&](const torch::Tensor& g) { return from_lines(g, heads, side, by_column, cells); };
    auto dqkv = torch::empty(qkv.sizes(), qkv.options());
    auto [dq, dk, dv] = heads_of(dqkv, heads);
    // Each slice written once: a sum of two parts straight into it.
    auto sum_into = [](torch::Tensor slice, const torch::Tensor& a, const torch::Tensor& b) { at::add_out(slice, a, b); };
    dq.narrow(2, 0, t).copy_(std::get<0>(text));
    sum_into(dq.narrow(2, t, cells), std::get<0>(image_text), back(std::get<0>(line)));
    sum_into(dk.narrow(2, 0, t), std::get<1>(text), std::get<1>(image_text));
    dk.narrow(2, t, cells).copy_(back(std::get<1>(line)));
    sum_into(dv.narrow(2, 0, t), std::get<2>(text), std::get<2>(image_text));
    dv.narrow(2, t, cells).copy_(back(std::get<2>(line)));
    return {dqkv, {}, {}, {}, {}, {}, {}};
  }
};

#ifdef TTT_WITH_CUDA
// Flash's sizes are int64_t or SymInt, by libtorch version: one of these goes unused.
[[maybe_unused]] int64_t as_int(int64_t v) { return v; }
[[maybe_unused]] int64_t as_int(const c10::SymInt& v) { return v.expect_int(); }

template <typename T>
using flash_forward_result = decltype(at::_scaled_dot_product_flash_attention(
    std::declval<T>(), std::declval<T>(), std::declval<T>(), 0.0, false, false, 1.0));

// Flash attention's forward (returning its log-sum-exp) and backward, as
// PyTorch 2.x declares them. A libtorch whose signatures differ still builds:
// the merged path is then off and the per-line one serves.
template <typename T, typename = void>
struct has_flash_ops : std::false_type {};
template <typename T>
struct has_flash_ops<
    T, std::void_t<std::enable_if_t<std::tuple_size<flash_forward_result<T>>::value == 9>,
                   decltype(as_int(std::get<4>(std::declval<flash_forward_result<T>>()))),
                   decltype(at::_scaled_dot_product_flash_attention_backward(
                       std::declval<T>(), std::declval<T>(), std::declval<T>(), std::declval<T>(), std::declval<T>(),
                       std::declval<T>(), std::declval<T>(), std::declval<T>(), int64_t{}, int64_t{}, 0.0, false,
                       std::declval<T>(), std::declval<T>(), 1.0))>> : std::true_type {};

// The parts through libtorch's flash attention (T is torch::Tensor; a
// template so that the calls are only compiled where has_flash_ops holds).
template <typename T>
struct flash_ops {
  static part_result forward(const T& q, const T& k, const T& v, bool causal, double scale) {
    auto r = at::_scaled_dot_product_flash_attention(q, k, v, 0.0, causal, false, scale);
    return {std::get<0>(r), std::get<1>(r),
            part_state{std::get<2>(r), std::get<3>(r), std::get<6>(r), std::get<7>(r), as_int(std::get<4>(r)),
                       as_int(std::get<5>(r))}};
  }
  static std::tuple<T, T, T> backward(const T& dout, const T& q, const T& k, const T& v, const T& out, const T& lse,
                                      const part_state& s, bool causal, double scale) {
    return at::_scaled_dot_product_flash_attention_backward(dout, q, k, v, out, lse, s.cum_q, s.cum_k, s.max_q,
                                                            s.max_k, 0.0, causal, s.seed, s.offset, scale);
  }
};

// Whether flash attention runs here at all (a GPU before sm80 has none):
// one small call, made once, on the first use (eager, never while a CUDA
// graph is captured: graphed_step runs its first steps eagerly).
template <typename T>
bool flash_runs(const T& like) {
  static const bool runs = [&] {
    try {
      T x = torch::randn({1, 1, 8, like.size(-1)}, like.options());
      auto r = flash_ops<T>::forward(x, x, x, true, 1.0);
      return r.lse.dim() == 3 && r.lse.size(2) == 8;
    } catch (const std::exception&) {
      return false;
    }
  }();
  return runs;
}

template <typename T>
T axial_or_undefined(const T& qkv, int64_t heads, int64_t text_len, int64_t side, bool by_column, double scale,
                     bool kernels) {
  if constexpr (has_flash_ops<T>::value) {
    if (flash_runs(qkv))
      return axial_function<flash_ops<T>>::apply(qkv, heads, text_len, side, by_column, scale, kernels);
  }
  return T();
}
#endif

// qkv [B, n, 3·heads, Dh] holding text_len text positions and 1 … side² cells.
void check_axial_shape(const torch::Tensor& qkv, int64_t heads, int64_t text_len, int64_t side) {
  TORCH_CHECK(qkv.dim() == 4 && heads > 0 && qkv.size(2) == 3 * heads, "axial attention: expected q, k and v as [B, n, 3·",
              heads, ", Dh], got ", qkv.sizes());
  int64_t cells = qkv.size(1) - text_len;
  TORCH_CHECK(text_len > 0 && cells > 0 && cells <= side * side, "axial attention: ", qkv.size(1),
              " positions are not ", text_len, " text positions and 1 to ", side * side, " cells");
}

} // namespace

torch::Tensor axial_attention(const torch::Tensor& qkv, int64_t heads, int64_t text_len, int64_t side, bool by_column,
                              double scale, bool kernels) {
  check_axial_shape(qkv, heads, text_len, side);
#ifdef TTT_WITH_CUDA
  bool flash_shape = qkv.is_cuda() &&
                     (qkv.scalar_type() == torch::kBFloat16 || qkv.scalar_type() == torch::kHalf) &&
                     qkv.size(-1) % 8 == 0 && qkv.size(-1) <= 256;
  if (flash_shape)
    return axial_or_undefined<torch::Tensor>(qkv, heads, text_len, side, by_column, scale, kernels);
#else
  (void)by_column, (void)scale, (void)kernels;
#endif
  return {};
}

bool kernels_compiled() {
#ifdef TTT_WITH_KERNELS
  return true;
#else
  return false;
#endif
}

bool fused_supported(const torch::Tensor& x) {
  if (!kernels_compiled() || !x.is_cuda() ||
      (x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kBFloat16))
    return false;
#ifdef TTT_WITH_KERNELS
  return kernels_run(x);
#else
  return false;
#endif
}

torch::Tensor fused_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                           int64_t begin) {
  TORCH_CHECK(fused_supported(x), "fused rotary: needs ttt's CUDA kernels and a float or bf16 GPU tensor");
#ifdef TTT_WITH_KERNELS
  TORCH_CHECK(cos.is_contiguous() && sin.is_contiguous() && cos.scalar_type() == torch::kFloat32 &&
                  sin.scalar_type() == torch::kFloat32 && cos.device() == x.device() && sin.sizes() == cos.sizes(),
              "fused rotary: cos and sin must be contiguous float32 tables on the tensor's device");
  return rotary_function::apply(x, cos, sin, begin);
#else
  (void)cos, (void)sin, (void)begin;
  return {};
#endif
}

bool fused_token_shift(torch::Tensor& out, const torch::Tensor& x, int64_t text_len, int64_t side, bool adjoint) {
  if (!fused_supported(x) || !fused_supported(out) || !out.is_contiguous() || out.sizes() != x.sizes() ||
      x.dim() != 3 || out.device() != x.device())
    return false;
#ifdef TTT_WITH_KERNELS
  auto in = x.contiguous();
  kernels::shift_shape s{in.size(1), in.size(2), text_len, side};
  check(kernels::token_shift(element_of(in), element_of(out), in.data_ptr(), out.data_ptr(), in.size(0), s, adjoint,
                             current_stream(in)),
        "token shift kernel");
  return true;
#else
  (void)text_len, (void)side, (void)adjoint;
  return false;
#endif
}

torch::Tensor fused_geglu(const torch::Tensor& h) {
  TORCH_CHECK(fused_supported(h), "fused GEGLU: needs ttt's CUDA kernels and a float or bf16 GPU tensor");
  TORCH_CHECK(h.dim() >= 1 && h.size(-1) % 2 == 0, "fused GEGLU: the last dim must be even, got ", h.sizes());
#ifdef TTT_WITH_KERNELS
  return geglu_function::apply(h);
#else
  return {};
#endif
}

namespace host {

torch::Tensor rotary(const torch::Tensor& input, const torch::Tensor& cos, const torch::Tensor& sin, int64_t begin,
                     float sign) {
  auto x = input.to(torch::kFloat32).contiguous();
  auto s = rotary_layout(x, cos, begin);
  auto y = torch::empty_like(x);
  auto c = cos.contiguous(), sn = sin.contiguous();
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t p = 0; p < x.numel() / 2; ++p)
    kernels::rotary_pair<int64_t>(p, s.n, s.width, s.dh, s.begin, sign, c.data_ptr<float>(), sn.data_ptr<float>(),
                                  in[2 * p], in[2 * p + 1], out[2 * p], out[2 * p + 1]);
  return y;
}

torch::Tensor geglu(const torch::Tensor& input) {
  auto h = input.to(torch::kFloat32).contiguous();
  int64_t f = h.size(-1) / 2;
  auto sizes = h.sizes().vec();
  sizes.back() = f;
  auto y = torch::empty(sizes, h.options());
  const float* in = h.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t e = 0; e < y.numel(); ++e) {
    int64_t a, g;
    kernels::geglu_offsets<int64_t>(e, f, a, g);
    out[e] = in[a] * kernels::gelu(in[g]);
  }
  return y;
}

torch::Tensor token_shift(const torch::Tensor& input, int64_t text_len, int64_t side, bool adjoint) {
  auto x = input.to(torch::kFloat32).contiguous();
  auto out = torch::empty_like(x);
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  int64_t n = x.size(1), d = x.size(2);
  for (int64_t e = 0; e < x.numel(); ++e) {
    int64_t c = e % d, row = e / d, p = row % n, source;
    bool has = kernels::shift_source<int64_t>(p, c, n, d, text_len, side, adjoint, source);
    o[e] = has ? in[(row - p + source) * d + c] : 0.0f;
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> join_attention(const torch::Tensor& text_out, const torch::Tensor& text_lse,
                                                       const torch::Tensor& line_out, const torch::Tensor& line_lse,
                                                       int64_t side, bool by_column, bool element_functions) {
  int64_t heads = text_out.size(1), cells = text_out.size(2);
  if (!element_functions)
    return join_parts({text_out, text_lse, {}}, {line_out, line_lse, {}}, heads, side, by_column, cells,
                      text_out.scalar_type(), true);
  auto t = text_out.to(torch::kFloat64), tl = text_lse.to(torch::kFloat64).contiguous();
  auto l = line_out.to(torch::kFloat64).contiguous(), ll = line_lse.to(torch::kFloat64).contiguous();
  auto out = torch::empty(t.sizes(), t.options()), lse = torch::empty(tl.sizes(), tl.options());
  kernels::merge_layout<int64_t> m{heads, cells, t.size(3), side, t.stride(0), t.stride(1), t.stride(2), by_column};
  const double *tp = t.data_ptr<double>(), *tlp = tl.data_ptr<double>(), *lp = l.data_ptr<double>(),
               *llp = ll.data_ptr<double>();
  double *op = out.data_ptr<double>(), *lsep = lse.data_ptr<double>();
  for (int64_t e = 0; e < out.numel(); ++e) {
    int64_t a, al, b, bl;
    m.offsets(e, a, al, b, bl);
    double joined;
    kernels::merge_parts(tp[a], tlp[al], lp[b], llp[bl], op[e], joined);
    lsep[al] = joined;
  }
  return {out, lse};
}

torch::Tensor axial_attention(const torch::Tensor& qkv, int64_t heads, int64_t text_len, int64_t side, bool by_column,
                              double scale) {
  check_axial_shape(qkv, heads, text_len, side);
  return axial_function<reference_ops>::apply(qkv, heads, text_len, side, by_column, scale, false);
}

torch::Tensor geglu_backward(const torch::Tensor& input, const torch::Tensor& grad) {
  auto h = input.to(torch::kFloat32).contiguous();
  auto dy = grad.to(torch::kFloat32).contiguous();
  auto dh = torch::empty_like(h);
  const float* in = h.data_ptr<float>();
  const float* d = dy.data_ptr<float>();
  float* out = dh.data_ptr<float>();
  int64_t f = h.size(-1) / 2;
  for (int64_t e = 0; e < dy.numel(); ++e) {
    int64_t a, g;
    kernels::geglu_offsets<int64_t>(e, f, a, g);
    kernels::geglu_backward_element(in[a], in[g], d[e], out[a], out[g]);
  }
  return dh;
}

} // namespace host

} // namespace ttt::model
