#pragma once
// The model's fused GPU ops: ttt's own CUDA kernels (model/kernels.hpp)
// behind autograd functions. Internal to model/ (includes torch). The model
// calls them where fused_supported() says they can take a tensor and keeps
// libtorch's ops everywhere else (the CPU, builds without nvcc).

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace ttt::model {

/// True when this build has ttt's CUDA kernels (a CUDA libtorch and nvcc).
bool kernels_compiled();

/// True when the kernels can take `x`: a float or bf16 tensor on a GPU, in a
/// build that has them (and they run on that GPU).
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

/// Writes the token shift of `x` [B, n, d] (its adjoint with `adjoint`) into
/// `out` (contiguous, x's shape, float or bf16) in one kernel, casting on the
/// way. False, touching nothing, where the kernels cannot take the tensors
/// (the caller then copies with libtorch's ops).
bool fused_token_shift(torch::Tensor& out, const torch::Tensor& x, int64_t text_len, int64_t side, bool adjoint);

/// Axial attention (a layer of type axial_row or axial_col) over the whole
/// sequence, from its projected and rotated q, k and v `qkv` [B, n, 3·heads,
/// Dh] (n = text_len text positions, then 1 … side² grid cells, row-major):
/// a text query sees the text up to itself; an image query sees every text
/// key and the cells of its own row (or column, with `by_column`) up to
/// itself. Returns [B, n, heads, Dh], contiguous, so that the output
/// projection reads it as [B, n, heads·Dh].
///
/// Computed as three attentions — the text causally, all image queries
/// against the text keys (dense), each line causally against itself — the
/// last two merged by their log-sum-exps; the backward runs each part's
/// backward with the merged output and log-sum-exp (exact, as ring attention
/// does) and writes q, k and v's gradients once, into one tensor of qkv's
/// shape. So the text keys are never copied per line, and no gradient is
/// concatenated or stacked. Here through flash attention: bf16/fp16 on a GPU
/// of a libtorch with flash attention's forward and backward ops; returns an
/// undefined tensor where that is not so (the caller then takes another
/// path). `kernels`: the join may run as ttt's kernel.
torch::Tensor axial_attention(const torch::Tensor& qkv, int64_t heads, int64_t text_len, int64_t side, bool by_column,
                              double scale, bool kernels);

/// The kernels' element functions run on the CPU over float tensors, for the
/// tests: the same arithmetic as the GPU, checked against libtorch's ops.
namespace host {
torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, int64_t begin,
                     float sign);
torch::Tensor geglu(const torch::Tensor& h);
torch::Tensor geglu_backward(const torch::Tensor& h, const torch::Tensor& dy);
torch::Tensor token_shift(const torch::Tensor& x, int64_t text_len, int64_t side, bool adjoint);
/// The join of the merged attention's parts: the text part's output
/// [B, H, cells, Dh] (any strides) and log-sum-exp [B, H, cells], the line
/// part's in the lines layout [B, H·side, side(, Dh)]. Through libtorch's ops,
/// or (`element_functions`) the merge kernel's element functions in float64.
std::pair<torch::Tensor, torch::Tensor> join_attention(const torch::Tensor& text_out, const torch::Tensor& text_lse,
                                                       const torch::Tensor& line_out, const torch::Tensor& line_lse,
                                                       int64_t side, bool by_column, bool element_functions);
/// axial_attention with its parts computed by explicit matmuls in place of
/// flash attention (any device, any float type; the CPU's path from 16×16
/// grids on): the merging and the backward as the GPU runs them.
torch::Tensor axial_attention(const torch::Tensor& qkv, int64_t heads, int64_t text_len, int64_t side, bool by_column,
                              double scale);
} // namespace host

} // namespace ttt::model
