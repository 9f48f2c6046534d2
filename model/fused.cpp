#include "model/fused.hpp"

#include "model/kernels.hpp"

#ifdef TTT_WITH_KERNELS
#include <c10/cuda/CUDAStream.h>
#endif

#include <stdexcept>
#include <string>

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

void* current_stream(const torch::Tensor& x) {
  return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
}

void check(int code, const char* what) {
  if (code != 0)
    throw std::runtime_error(std::string(what) + ": " + kernels::error_string(code));
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

} // namespace

bool kernels_compiled() {
#ifdef TTT_WITH_KERNELS
  return true;
#else
  return false;
#endif
}

bool fused_supported(const torch::Tensor& x) {
  return kernels_compiled() && x.is_cuda() &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16);
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
  return {};
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
