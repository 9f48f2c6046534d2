#pragma once
// The model's fused GPU ops: ttt's own CUDA kernels (model/kernels.hpp)
// behind autograd functions. Internal to model/ (includes torch). The model
// calls them where fused_supported() says they can take a tensor and keeps
// libtorch's ops everywhere else (the CPU, builds without nvcc).

#include <torch/torch.h>

#include <cstdint>

namespace ttt::model {

/// True when this build has ttt's CUDA kernels (a CUDA libtorch and nvcc).
bool kernels_compiled();

/// True when the kernels can take `x`: a float or bf16 tensor on a GPU, in a
/// build that has them.
bool fused_supported(const torch::Tensor& x);

/// Rotary embedding of `x` [B, n, …] (positions along dim 1, the last dims
/// whole heads of dh = cos.size(1) values): interleaved pairs rotated by the
/// angles of positions begin … begin + n − 1, whose cos and signed sin are
/// rows of `cos` and `sin` [positions, dh] (float32, on x's device). One
/// kernel each way; nothing is saved for the backward.
torch::Tensor fused_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, int64_t begin);

/// GEGLU of h = [a | g] over its last dim (2f): a · gelu(g). One kernel each
/// way; only h is saved for the backward, which writes da and dg into one
/// gradient of h's shape.
torch::Tensor fused_geglu(const torch::Tensor& h);

/// The kernels' element functions run on the CPU over float tensors, for the
/// tests: the same arithmetic as the GPU, checked against libtorch's ops.
namespace host {
torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, int64_t begin,
                     float sign);
torch::Tensor geglu(const torch::Tensor& h);
torch::Tensor geglu_backward(const torch::Tensor& h, const torch::Tensor& dy);
} // namespace host

} // namespace ttt::model
