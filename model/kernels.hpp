#pragma once
// ttt's own CUDA kernels for the elementwise work eager libtorch spreads over
// several passes: the rotary embedding (one read, one write, in either
// direction) and the feed-forward's GEGLU (forward and backward in one pass
// each, with nothing but the projection's output saved). Built by nvcc from
// kernels.cu when meson is given a CUDA libtorch and finds nvcc (it then
// defines TTT_WITH_KERNELS); everywhere else libtorch's ops do this work.
//
// Plain C++ (no torch, no CUDA headers): the element functions below are the
// whole arithmetic of each kernel and compile for the host too, so the tests
// run them on the CPU against libtorch's results.

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define TTT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TTT_HOST_DEVICE inline
#endif

namespace ttt::model::kernels {

/// Where a tensor [rows, width] (rows = batch · n positions, width a multiple
/// of dh: every head of q, k and v side by side) finds its angles: position
/// `row % n + begin` of cos/sin tables [positions, dh] (float32).
struct rotary_shape {
  int64_t n = 0;
  int64_t width = 0;
  int64_t dh = 0;
  int64_t begin = 0;
};

/// The interleaved pair p (elements 2p and 2p + 1 of the flat tensor) rotated
/// by its angle: (x0·cos − x1·sin, x1·cos + x0·sin) with `sin` holding the
/// signed sines (−sin, +sin per pair, as dalle.cpp's rot_sin buffer). `sign`
/// −1 rotates back, which is also the adjoint: the backward of the rotation.
/// `Index` is the arithmetic type of the offsets (32-bit where they fit: the
/// GPU divides those much faster).
template <typename Index>
TTT_HOST_DEVICE void rotary_pair(Index p, Index n, Index width, Index dh, Index begin, float sign, const float* cos,
                                 const float* sin, float x0, float x1, float& y0, float& y1) {
  Index e = 2 * p;
  Index row = e / width;
  Index angle = (row % n + begin) * dh + e % dh;
  y0 = x0 * cos[angle] + sign * x1 * sin[angle];
  y1 = x1 * cos[angle + 1] + sign * x0 * sin[angle + 1];
}

/// GELU as torch::gelu computes it by default (the erf form), and its derivative.
TTT_HOST_DEVICE float gelu(float g) { return 0.5f * g * (1.0f + erff(g * 0.70710678118654752f)); }
TTT_HOST_DEVICE float gelu_derivative(float g) {
  return 0.5f * (1.0f + erff(g * 0.70710678118654752f)) + g * expf(-0.5f * g * g) * 0.39894228040143268f;
}

/// GEGLU over rows of h = [a | g] (2f wide): y = a · gelu(g), f wide.
/// Element e of y is row e / f, column e % f.
template <typename Index>
TTT_HOST_DEVICE void geglu_offsets(Index e, Index f, Index& a, Index& g) {
  Index row = e / f;
  a = row * 2 * f + e % f;
  g = a + f;
}

/// Its backward for one element: da = dy · gelu(g), dg = dy · a · gelu'(g).
TTT_HOST_DEVICE void geglu_backward_element(float a, float g, float dy, float& da, float& dg) {
  da = dy * gelu(g);
  dg = dy * a * gelu_derivative(g);
}

/// Token shift (MODEL.md; dalle.cpp's shift_into) of a [B, n, d] tensor: the
/// position whose channel c output position p takes (false: a zero there).
/// Text positions [0, text_len): the first half of the channels from the
/// previous position. Image cells (row by row after the text): the first
/// quarter from the cell above, the second from the cell to the left.
/// `adjoint` gives the backward's map instead: where p's value went.
template <typename Index>
TTT_HOST_DEVICE bool shift_source(Index p, Index c, Index n, Index d, Index text_len, Index side, bool adjoint,
                                  Index& source) {
  Index half = (d + 1) / 2, q = (d + 3) / 4;
  Index text_n = n < text_len ? n : text_len;
  source = p;
  if (p < text_n) {
    if (c >= half)
      return true;
    if (!adjoint) {
      source = p - 1;
      return p > 0;
    }
    source = p + 1;
    return p + 1 < text_n;
  }
  Index cell = p - text_len;
  if (c >= 2 * q)
    return true;
  if (c < q) { // the cell above
    if (!adjoint) {
      source = p - side;
      return cell >= side;
    }
    source = p + side;
    return p + side < n;
  }
  if (!adjoint) { // the cell to the left
    source = p - 1;
    return cell % side != 0;
  }
  source = p + 1;
  return p + 1 < n && (cell + 1) % side != 0;
}

struct shift_shape {
  int64_t n = 0;
  int64_t d = 0;
  int64_t text_len = 0;
  int64_t side = 0;
};

/// Two attentions of one query over disjoint key sets — the text part (output
/// o1, log-sum-exp l1) and the line part (o2, l2) — joined into the attention
/// over both: weights exp(l1 − l) and exp(l2 − l), l = log(e^l1 + e^l2).
TTT_HOST_DEVICE float exp_of(float x) { return expf(x); }
TTT_HOST_DEVICE double exp_of(double x) { return exp(x); }
TTT_HOST_DEVICE float log_of(float x) { return logf(x); }
TTT_HOST_DEVICE double log_of(double x) { return log(x); }
template <typename F>
TTT_HOST_DEVICE void merge_parts(F o1, F l1, F o2, F l2, F& o, F& l) {
  F m = l1 > l2 ? l1 : l2;
  F w1 = exp_of(l1 - m), w2 = exp_of(l2 - m), sum = w1 + w2;
  l = m + log_of(sum);
  o = (o1 * w1 + o2 * w2) / sum;
}

/// Where element e of the joined output [B, H, cells, dh] (contiguous) finds
/// its parts: the text part's output at strides (b, h, cell; dh contiguous)
/// and log-sum-exp [B, H, cells]; the line part's in the lines layout
/// [B, H·side, side(, dh)], cell c at (line, place) = (row, column) of the
/// grid, or (column, row) for column attention.
template <typename Index>
struct merge_layout {
  Index heads, cells, dh, side;
  Index text_stride_b, text_stride_h, text_stride_c;
  bool by_column;

  TTT_HOST_DEVICE void offsets(Index e, Index& text, Index& text_lse, Index& line, Index& line_lse) const {
    Index d = e % dh, rest = e / dh;
    Index c = rest % cells, bh = rest / cells;
    Index b = bh / heads, h = bh % heads;
    text = b * text_stride_b + h * text_stride_h + c * text_stride_c + d;
    text_lse = bh * cells + c;
    Index r = c / side, col = c % side;
    line_lse = (bh * side + (by_column ? col : r)) * side + (by_column ? r : col);
    line = line_lse * dh + d;
  }
};

enum class element_type { f32, bf16 };

/// Makes `device` current for the launches of this thread (the kernels carry
/// their own CUDA runtime, whose current device libtorch does not set).
int use_device(int device);

/// Launchers, asynchronous on `stream` (a cudaStream_t). They return 0 or a
/// CUDA error code (see error_string). Tensors are contiguous, on the GPU.
int rotary(element_type type, const void* x, void* y, const float* cos, const float* sin, int64_t rows,
           const rotary_shape& shape, float sign, void* stream);
int geglu_forward(element_type type, const void* h, void* y, int64_t rows, int64_t f, void* stream);
int geglu_backward(element_type type, const void* h, const void* dy, void* dh, int64_t rows, int64_t f,
                   void* stream);
/// out = the token shift of x (or its adjoint), both [batch, n, d]; the
/// element types may differ (the cast is part of the copy).
int token_shift(element_type in_type, element_type out_type, const void* x, void* out, int64_t batch,
                const shift_shape& shape, bool adjoint, void* stream);
/// The joined output `out` [B, H, cells, dh] (contiguous, the parts' element
/// type) and log-sum-exp `lse` [B, H, cells] (float32) of merge_parts;
/// `layout` as merge_layout, `batch` B.
int merge_attention(element_type type, const void* text, const float* text_lse, const void* line,
                    const float* line_lse, void* out, float* lse, int64_t batch, const merge_layout<int64_t>& layout,
                    void* stream);
const char* error_string(int code);

} // namespace ttt::model::kernels
