// The CUDA side of model/kernels.hpp: each kernel is a grid-stride loop over
// the element functions declared there, loading bf16 or float, computing in
// float, rounding once on the store.
#include "model/kernels.hpp"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace ttt::model::kernels {
namespace {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

template <typename T, typename Index>
__global__ void rotary_kernel(const T* x, T* y, const float* cos, const float* sin, Index pairs, Index n, Index width,
                              Index dh, Index begin, float sign) {
  for (Index p = blockIdx.x * blockDim.x + threadIdx.x; p < pairs; p += gridDim.x * blockDim.x) {
    float y0, y1;
    rotary_pair<Index>(p, n, width, dh, begin, sign, cos, sin, load(x, 2 * p), load(x, 2 * p + 1), y0, y1);
    store(y, 2 * p, y0);
    store(y, 2 * p + 1, y1);
  }
}

template <typename T, typename Index>
__global__ void geglu_forward_kernel(const T* h, T* y, Index count, Index f) {
  for (Index e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += gridDim.x * blockDim.x) {
    Index a, g;
    geglu_offsets<Index>(e, f, a, g);
    store(y, e, load(h, a) * gelu(load(h, g)));
  }
}

template <typename T, typename Index>
__global__ void geglu_backward_kernel(const T* h, const T* dy, T* dh, Index count, Index f) {
  for (Index e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += gridDim.x * blockDim.x) {
    Index a, g;
    geglu_offsets<Index>(e, f, a, g);
    float da, dg;
    geglu_backward_element(load(h, a), load(h, g), load(dy, e), da, dg);
    store(dh, a, da);
    store(dh, g, dg);
  }
}

template <typename In, typename Out, typename Index>
__global__ void token_shift_kernel(const In* x, Out* out, Index count, Index n, Index d, Index text_len, Index side,
                                   bool adjoint) {
  for (Index e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += gridDim.x * blockDim.x) {
    Index c = e % d, row = e / d, p = row % n, source;
    bool has = shift_source<Index>(p, c, n, d, text_len, side, adjoint, source);
    store(out, e, has ? load(x, (row - p + source) * d + c) : 0.0f);
  }
}

template <typename T, typename Index>
__global__ void merge_kernel(const T* text, const float* text_lse, const T* line, const float* line_lse, T* out,
                             float* lse, Index count, merge_layout<Index> layout) {
  for (Index e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += gridDim.x * blockDim.x) {
    Index t, tl, l, ll;
    layout.offsets(e, t, tl, l, ll);
    float o, joined;
    merge_parts(load(text, t), text_lse[tl], load(line, l), line_lse[ll], o, joined);
    store(out, e, o);
    if (e % layout.dh == 0)
      lse[tl] = joined;
  }
}

constexpr int threads = 256;

unsigned blocks_for(int64_t work) {
  // The loops stride over whatever the grid does not cover.
  return static_cast<unsigned>(std::min<int64_t>((work + threads - 1) / threads, int64_t{1} << 20));
}

// 32-bit offsets when every offset fits: integer division is the kernels'
// main arithmetic, and the GPU's 64-bit division is emulated. Below 2^31 the
// grid-stride step cannot wrap either.
bool fits_32(int64_t largest_offset) { return largest_offset < (int64_t{1} << 31); }

int launched() { return static_cast<int>(cudaGetLastError()); }

template <typename T>
int rotary_typed(const void* x, void* y, const float* cos, const float* sin, int64_t rows, const rotary_shape& s,
                 float sign, cudaStream_t stream) {
  int64_t pairs = rows * s.width / 2;
  if (pairs == 0)
    return 0;
  auto in = static_cast<const T*>(x);
  auto out = static_cast<T*>(y);
  if (fits_32(rows * s.width + (s.n + s.begin) * s.dh))
    rotary_kernel<T, uint32_t><<<blocks_for(pairs), threads, 0, stream>>>(
        in, out, cos, sin, static_cast<uint32_t>(pairs), static_cast<uint32_t>(s.n), static_cast<uint32_t>(s.width),
        static_cast<uint32_t>(s.dh), static_cast<uint32_t>(s.begin), sign);
  else
    rotary_kernel<T, int64_t><<<blocks_for(pairs), threads, 0, stream>>>(in, out, cos, sin, pairs, s.n, s.width, s.dh,
                                                                          s.begin, sign);
  return launched();
}

template <typename T>
int geglu_forward_typed(const void* h, void* y, int64_t rows, int64_t f, cudaStream_t stream) {
  int64_t count = rows * f;
  if (count == 0)
    return 0;
  auto in = static_cast<const T*>(h);
  auto out = static_cast<T*>(y);
  if (fits_32(2 * count))
    geglu_forward_kernel<T, uint32_t>
        <<<blocks_for(count), threads, 0, stream>>>(in, out, static_cast<uint32_t>(count), static_cast<uint32_t>(f));
  else
    geglu_forward_kernel<T, int64_t><<<blocks_for(count), threads, 0, stream>>>(in, out, count, f);
  return launched();
}

template <typename T>
int geglu_backward_typed(const void* h, const void* dy, void* dh, int64_t rows, int64_t f, cudaStream_t stream) {
  int64_t count = rows * f;
  if (count == 0)
    return 0;
  auto in = static_cast<const T*>(h);
  auto grad = static_cast<const T*>(dy);
  auto out = static_cast<T*>(dh);
  if (fits_32(2 * count))
    geglu_backward_kernel<T, uint32_t><<<blocks_for(count), threads, 0, stream>>>(
        in, grad, out, static_cast<uint32_t>(count), static_cast<uint32_t>(f));
  else
    geglu_backward_kernel<T, int64_t><<<blocks_for(count), threads, 0, stream>>>(in, grad, out, count, f);
  return launched();
}

template <typename In, typename Out>
int token_shift_typed(const void* x, void* out, int64_t batch, const shift_shape& s, bool adjoint,
                      cudaStream_t stream) {
  int64_t count = batch * s.n * s.d;
  if (count == 0)
    return 0;
  auto in = static_cast<const In*>(x);
  auto o = static_cast<Out*>(out);
  if (fits_32(count + s.side * s.d))
    token_shift_kernel<In, Out, uint32_t><<<blocks_for(count), threads, 0, stream>>>(
        in, o, static_cast<uint32_t>(count), static_cast<uint32_t>(s.n), static_cast<uint32_t>(s.d),
        static_cast<uint32_t>(s.text_len), static_cast<uint32_t>(s.side), adjoint);
  else
    token_shift_kernel<In, Out, int64_t><<<blocks_for(count), threads, 0, stream>>>(in, o, count, s.n, s.d, s.text_len,
                                                                                      s.side, adjoint);
  return launched();
}

template <typename T>
int merge_typed(const void* text, const float* text_lse, const void* line, const float* line_lse, void* out,
                float* lse, int64_t batch, const merge_layout<int64_t>& m, cudaStream_t stream) {
  int64_t count = batch * m.heads * m.cells * m.dh;
  if (count == 0)
    return 0;
  auto t = static_cast<const T*>(text);
  auto l = static_cast<const T*>(line);
  auto o = static_cast<T*>(out);
  // The text part is a strided view: its largest offset bounds the 32-bit choice too.
  int64_t text_span = (batch - 1) * m.text_stride_b + (m.heads - 1) * m.text_stride_h +
                      (m.cells - 1) * m.text_stride_c + m.dh;
  int64_t line_span = batch * m.heads * m.side * m.side * m.dh;
  if (fits_32(std::max({count, text_span, line_span}))) {
    merge_layout<uint32_t> m32{static_cast<uint32_t>(m.heads),         static_cast<uint32_t>(m.cells),
                               static_cast<uint32_t>(m.dh),            static_cast<uint32_t>(m.side),
                               static_cast<uint32_t>(m.text_stride_b), static_cast<uint32_t>(m.text_stride_h),
                               static_cast<uint32_t>(m.text_stride_c), m.by_column};
    merge_kernel<T, uint32_t><<<blocks_for(count), threads, 0, stream>>>(t, text_lse, l, line_lse, o, lse,
                                                                         static_cast<uint32_t>(count), m32);
  } else {
    merge_kernel<T, int64_t><<<blocks_for(count), threads, 0, stream>>>(t, text_lse, l, line_lse, o, lse, count, m);
  }
  return launched();
}

} // namespace

int merge_attention(element_type type, const void* text, const float* text_lse, const void* line,
                    const float* line_lse, void* out, float* lse, int64_t batch, const merge_layout<int64_t>& layout,
                    void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  return type == element_type::bf16
             ? merge_typed<__nv_bfloat16>(text, text_lse, line, line_lse, out, lse, batch, layout, s)
             : merge_typed<float>(text, text_lse, line, line_lse, out, lse, batch, layout, s);
}

int token_shift(element_type in_type, element_type out_type, const void* x, void* out, int64_t batch,
                const shift_shape& shape, bool adjoint, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  bool in16 = in_type == element_type::bf16, out16 = out_type == element_type::bf16;
  if (in16 && out16)
    return token_shift_typed<__nv_bfloat16, __nv_bfloat16>(x, out, batch, shape, adjoint, s);
  if (in16)
    return token_shift_typed<__nv_bfloat16, float>(x, out, batch, shape, adjoint, s);
  if (out16)
    return token_shift_typed<float, __nv_bfloat16>(x, out, batch, shape, adjoint, s);
  return token_shift_typed<float, float>(x, out, batch, shape, adjoint, s);
}

int rotary(element_type type, const void* x, void* y, const float* cos, const float* sin, int64_t rows,
           const rotary_shape& shape, float sign, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  return type == element_type::bf16 ? rotary_typed<__nv_bfloat16>(x, y, cos, sin, rows, shape, sign, s)
                                    : rotary_typed<float>(x, y, cos, sin, rows, shape, sign, s);
}

int geglu_forward(element_type type, const void* h, void* y, int64_t rows, int64_t f, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  return type == element_type::bf16 ? geglu_forward_typed<__nv_bfloat16>(h, y, rows, f, s)
                                    : geglu_forward_typed<float>(h, y, rows, f, s);
}

int geglu_backward(element_type type, const void* h, const void* dy, void* dh, int64_t rows, int64_t f,
                   void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  return type == element_type::bf16 ? geglu_backward_typed<__nv_bfloat16>(h, dy, dh, rows, f, s)
                                    : geglu_backward_typed<float>(h, dy, dh, rows, f, s);
}

int use_device(int device) {
  int current = -1;
  auto code = cudaGetDevice(&current);
  if (code == cudaSuccess && current != device)
    code = cudaSetDevice(device);
  return static_cast<int>(code);
}

const char* error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

} // namespace ttt::model::kernels
