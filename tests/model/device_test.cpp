// Devices: the setting's parsing and errors on every build; on a machine with
// a GPU (a CUDA build), the model's loss and gradients on the GPU — fused
// attention, bf16 autocast — equal the CPU's within tolerance. Without a GPU
// those cases are skipped, and the CPU build compiles no CUDA code at all.
#include "tests/model/model_fixture.hpp"

#include "model/bench_train.hpp"
#include "model/device.hpp"
#include "model/fused.hpp"
#include "model/lamb.hpp"

#include <limits>

using namespace ttt::model;
using namespace ttt::model::testing;

namespace {

bool gpu_present() {
  return cuda_compiled() && torch::cuda::is_available();
}

boost::test_tools::assertion_result has_gpu(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(gpu_present());
  r.message() << "no CUDA GPU (" << (cuda_compiled() ? "CUDA build" : "CPU-only build") << "): skipped";
  return r;
}

boost::test_tools::assertion_result has_kernels(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(gpu_present() && kernels_compiled());
  r.message() << (gpu_present() ? "built without ttt's CUDA kernels (no nvcc)" : "no CUDA GPU") << ": skipped";
  return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(device_settings_are_checked_with_clear_errors) {
  auto cpu = select_device("cpu");
  BOOST_REQUIRE(cpu);
  BOOST_TEST(cpu->is_cpu());
  auto automatic = select_device("auto");
  BOOST_REQUIRE(automatic);
  BOOST_TEST(automatic->is_cuda() == gpu_present()); // the GPU when there is one
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:0:1"}) {
    auto r = select_device(bad);
    BOOST_TEST(!r, bad);
    BOOST_TEST(r.error().find(bad) != std::string::npos, r.error());
  }
  auto cuda = select_device("cuda");
  BOOST_TEST(bool(cuda) == gpu_present());
  if (!cuda_compiled())
    BOOST_TEST(cuda.error().find("CPU-only libtorch") != std::string::npos, cuda.error());
  else if (!gpu_present())
    BOOST_TEST(cuda.error().find("no CUDA GPU") != std::string::npos, cuda.error());
  auto far = select_device("cuda:999");
  BOOST_TEST(!far);
  // On the CPU, autocast and the GPU statistics do nothing.
  {
    autocast_scope scope(torch::Device(torch::kCPU));
    BOOST_TEST(!autocast_active());
  }
  BOOST_TEST(gpu_peak_bytes(torch::Device(torch::kCPU)) == 0);
}

BOOST_AUTO_TEST_CASE(model_flops_count_matmuls_and_the_attention_the_masks_allow) {
  // The pairs counted for each type are the pairs the model's own masks allow.
  auto tiny = load_model_config("dalle-tiny");
  dalle m(tiny);
  int64_t n = tiny.seq_len();
  for (size_t layer = 0; layer < tiny.attn_types.size(); ++layer) {
    int64_t allowed = m->blocked(layer, n).logical_not().sum().item<int64_t>();
    BOOST_TEST(attention_pairs(tiny, tiny.attn_types[layer]) == allowed, tiny.attn_types[layer]);
  }
  BOOST_TEST(attention_pairs(tiny, "full") == n * (n + 1) / 2);
  // By hand for dalle-ttt: n = 1280, 64 layers of 16,777,216 matmul weights;
  // an axial layer's 257 text queries see earlier text, each of the 1023
  // image queries all 257 text positions and the earlier cells of its line
  // (1 + … + 32 per line, the last line one short); logits over 32,356 text
  // ids for 256 positions and 8192 image ids for 1024, ×3.
  auto ttt_config = load_model_config("dalle-ttt");
  double axial = 257.0 * 258 / 2 + 1023.0 * 257 + (32 * (32.0 * 33 / 2) - 32);
  BOOST_TEST(attention_pairs(ttt_config, "axial_row") == axial);
  BOOST_TEST(attention_pairs(ttt_config, "axial_col") == axial);
  double conv = static_cast<double>(attention_pairs(ttt_config, "conv_like"));
  BOOST_TEST(conv > 257.0 * 258 / 2 + 1023.0 * 257);
  BOOST_TEST(conv < 257.0 * 258 / 2 + 1023.0 * (257 + 13));
  double per_layer = 2.0 * 1280 * 16777216;
  double expected = 3 * (64 * per_layer + 4.0 * 1024 * (63 * axial + conv) + 2.0 * 1024 * (256 * 32356 + 1024 * 8192));
  BOOST_TEST(model_flops_per_sample(ttt_config) == expected, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(expected / 1e12 == 8.62, boost::test_tools::tolerance(0.01));
  auto deeper = ttt_config;
  deeper.depth *= 2;
  deeper.attn_types.insert(deeper.attn_types.end(), ttt_config.attn_types.begin(), ttt_config.attn_types.end());
  BOOST_TEST(model_flops_per_sample(deeper) > 1.9 * model_flops_per_sample(ttt_config));
}

BOOST_AUTO_TEST_CASE(host_staging_collects_tensors_in_order) {
  host_staging staging;
  staging.reserve(5, torch::Device(torch::kCPU));
  staging.copy_async(torch::tensor({1.0, 2.0}, torch::kDouble), 0);
  staging.copy_async(torch::tensor({{3.0f, 4.0f, 5.0f}}), 2);
  staging.wait();
  BOOST_REQUIRE(staging.size() == 5);
  for (int i = 0; i < 5; ++i)
    BOOST_TEST(staging.data()[i] == static_cast<float>(i + 1));
}

std::string config_path(const std::string& name) {
  return std::string(TTT_SOURCE_DIR) + "/configs/model/" + name + ".ini";
}

BOOST_AUTO_TEST_CASE(a_cpu_step_compared_with_itself_is_identical) {
  // The comparison itself, where no GPU is needed: the CPU against the CPU.
  auto d = compare_with_cpu(config_path("dalle-tiny"), "cpu", true);
  BOOST_REQUIRE_MESSAGE(d, d.error());
  BOOST_TEST(d->device_loss == d->cpu_loss);
  BOOST_TEST(d->gradient_relative == 0.0);
  BOOST_TEST(d->parameters_relative == 0.0);
  BOOST_TEST(d->gradient_cosine == 1.0, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(!compare_with_cpu("/nonexistent.ini", "cpu", true));
}

BOOST_AUTO_TEST_CASE(gpu_fp32_equals_cpu, *boost::unit_test::precondition(has_gpu)) {
  // Fused attention with the masks, fp32: the same numbers as the CPU's
  // explicit masked softmax, up to summation order.
  auto d = compare_with_cpu(config_path("dalle-tiny"), "cuda", false);
  BOOST_REQUIRE_MESSAGE(d, d.error());
  BOOST_TEST(d->device_loss == d->cpu_loss, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(d->gradient_cosine > 0.99999);
  BOOST_TEST(d->gradient_relative < 1e-3);
  BOOST_TEST(d->parameters_relative < 1e-5);
}

BOOST_AUTO_TEST_CASE(gpu_bf16_autocast_equals_cpu_within_bf16_tolerance, *boost::unit_test::precondition(has_gpu)) {
  for (const char* name : {"dalle-tiny", "dalle-small"}) {
    auto d = compare_with_cpu(config_path(name), "cuda", true);
    BOOST_REQUIRE_MESSAGE(d, d.error());
    BOOST_TEST_MESSAGE(name << ": loss cpu " << d->cpu_loss << " gpu bf16 " << d->device_loss << ", gradient cosine "
                            << d->gradient_cosine);
    BOOST_TEST(d->device_loss == d->cpu_loss, boost::test_tools::tolerance(1e-2));
    BOOST_TEST(d->gradient_cosine > 0.99);
    BOOST_TEST(d->parameters_relative < 1e-3);
  }
}

BOOST_AUTO_TEST_CASE(gpu_gradients_reach_the_host_through_pinned_staging, *boost::unit_test::precondition(has_gpu)) {
  auto gpu = torch::Device(torch::kCUDA, 0);
  auto a = torch::arange(1000, torch::TensorOptions().dtype(torch::kFloat).device(gpu));
  auto b = torch::ones({10, 10}, torch::TensorOptions().dtype(torch::kBFloat16).device(gpu));
  host_staging staging;
  staging.reserve(1100, gpu);
  staging.copy_async(a, 0);
  staging.copy_async(b, 1000);
  staging.wait();
  BOOST_TEST(staging.data()[999] == 999.0f);
  BOOST_TEST(staging.data()[1099] == 1.0f);
}

namespace {

/// Gradients of `micro_steps` micro-steps of dalle-tiny through graphed_step
/// (batches differ per step, one LAMB step in the middle), flattened on the CPU.
torch::Tensor graphed_gradients(const torch::Device& device, int64_t eager_steps, bool* captured = nullptr) {
  auto c = load_model_config("dalle-tiny");
  torch::manual_seed(3);
  dalle m(c);
  m->to(device);
  auto parameters = m->parameters();
  lamb optimizer(m->trainable_tensors(), train_config{});
  graphed_step step(
      [&](const torch::Tensor& text, const torch::Tensor& image) {
        autocast_scope bf16(device, false); // fp32: graphs and eager must agree to rounding
        auto loss = m->loss(text, image).loss;
        loss.backward();
        return loss.detach();
      },
      device, eager_steps);
  std::vector<torch::Tensor> grads;
  for (int64_t round = 0; round < 2; ++round) {
    zero_gradients(parameters);
    for (uint64_t micro = 0; micro < 3; ++micro) {
      auto [text, image] = random_batch(c, 2, 10 * round + micro);
      step.run(text.to(device), image.to(device));
    }
    if (round == 0)
      optimizer.step(1e-3); // the graph must read the weights as they are now
  }
  if (captured != nullptr)
    *captured = step.captured();
  for (const auto& p : parameters)
    grads.push_back(p.grad().detach().to(torch::kCPU).flatten());
  return torch::cat(grads);
}

} // namespace

BOOST_AUTO_TEST_CASE(graphed_steps_accumulate_what_eager_steps_do) {
  // On the CPU graphed_step runs every call eagerly: the same gradients as
  // calling the step itself, accumulated over micro-steps.
  auto cpu = torch::Device(torch::kCPU);
  auto eager = graphed_gradients(cpu, std::numeric_limits<int64_t>::max());
  bool captured = true;
  auto graphed = graphed_gradients(cpu, 1, &captured);
  BOOST_TEST(!captured); // nothing to capture on the CPU
  BOOST_TEST(torch::equal(eager, graphed));
  BOOST_TEST(eager.abs().sum().item<double>() > 0);
}

BOOST_AUTO_TEST_CASE(gpu_graph_replays_give_the_eager_gradients, *boost::unit_test::precondition(has_gpu)) {
  // Captured after one eager micro-step, replayed for the rest, across an
  // optimizer step: the gradients equal fully eager ones.
  auto gpu = torch::Device(torch::kCUDA, 0);
  auto eager = graphed_gradients(gpu, std::numeric_limits<int64_t>::max());
  bool captured = false;
  auto graphed = graphed_gradients(gpu, 1, &captured);
  BOOST_TEST(graphed_step::available());
  BOOST_TEST(captured); // the later micro-steps were replays
  double relative = (graphed - eager).norm().item<double>() / eager.norm().item<double>();
  BOOST_TEST_MESSAGE("graphed against eager gradients, relative: " << relative);
  BOOST_TEST(relative < 1e-5);
}

BOOST_AUTO_TEST_CASE(gpu_fused_kernels_equal_the_host_arithmetic_both_ways, *boost::unit_test::precondition(has_kernels)) {
  // ttt's CUDA kernels against their element functions run on the CPU
  // (which dalle_test checks against libtorch's ops), forward and backward,
  // in fp32 (to rounding) and bf16 (to bf16's precision).
  torch::manual_seed(5);
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto buffers = m->named_buffers();
  auto cos = buffers["rot_cos"], sin = buffers["rot_sin"];
  auto gpu = torch::Device(torch::kCUDA, 0);
  auto gcos = cos.to(gpu), gsin = sin.to(gpu);
  int64_t begin = 3, n = 29;
  for (auto type : {torch::kFloat32, torch::kBFloat16}) {
    double tol = type == torch::kFloat32 ? 1e-5 : 2e-2;
    auto x = torch::randn({3, n, 3 * c.heads, c.dim_head}).to(type);
    auto xg = x.to(gpu).requires_grad_();
    auto y = fused_rotary(xg, gcos, gsin, begin);
    BOOST_TEST(y.scalar_type() == type);
    BOOST_TEST(torch::allclose(y.to(torch::kCPU, torch::kFloat32), host::rotary(x, cos, sin, begin, 1.0f), tol, tol));
    auto w = torch::randn(x.sizes()).to(type);
    (y * w.to(gpu)).sum().backward();
    BOOST_TEST(
        torch::allclose(xg.grad().to(torch::kCPU, torch::kFloat32), host::rotary(w, cos, sin, begin, -1.0f), tol, tol));

    auto h = (torch::randn({3, n, 2 * 40}) * 3).to(type);
    auto hg = h.to(gpu).requires_grad_();
    auto out = fused_geglu(hg);
    BOOST_TEST(out.sizes() == torch::IntArrayRef({3, n, 40}));
    BOOST_TEST(torch::allclose(out.to(torch::kCPU, torch::kFloat32), host::geglu(h), tol, tol));
    auto dy = torch::randn(out.sizes()).to(type);
    out.backward(dy.to(gpu));
    BOOST_TEST(torch::allclose(hg.grad().to(torch::kCPU, torch::kFloat32), host::geglu_backward(h, dy), tol, tol));
  }
  // Token shift and its adjoint, casting as the model does (fp32 in, bf16
  // out forward; bf16 in, fp32 out backward): exact, only values move.
  for (bool adjoint : {false, true}) {
    auto in_type = adjoint ? torch::kBFloat16 : torch::kFloat32, out_type = adjoint ? torch::kFloat32 : torch::kBFloat16;
    auto xs = torch::randn({2, c.seq_len(), c.dim}).to(in_type);
    auto out = torch::empty(xs.sizes(), torch::TensorOptions().dtype(out_type).device(gpu));
    BOOST_REQUIRE(fused_token_shift(out, xs.to(gpu), c.text_len(), c.image_fmap_size, adjoint));
    BOOST_TEST(torch::equal(out.to(torch::kCPU, torch::kFloat32),
                            host::token_shift(xs, c.text_len(), c.image_fmap_size, adjoint).to(out_type).to(torch::kFloat32)));
  }
  // The attention merge kernel (the join on a GPU) against libtorch's ops on the CPU.
  for (auto type : {torch::kFloat32, torch::kBFloat16}) {
    double tol = type == torch::kFloat32 ? 1e-5 : 2e-2;
    int64_t side = 8, cells = side * side - 1;
    auto text_out = torch::randn({2, cells, 4, 16}).to(type).transpose(1, 2);
    auto text_lse = torch::randn({2, 4, cells}) * 3;
    auto line_out = torch::randn({2, 4 * side, side, 16}).to(type), line_lse = torch::randn({2, 4 * side, side}) * 3;
    for (bool by_column : {false, true}) {
      auto [cpu_out, cpu_lse] = host::join_attention(text_out.to(torch::kFloat32), text_lse,
                                                     line_out.to(torch::kFloat32), line_lse, side, by_column, false);
      auto [gpu_out, gpu_lse] = host::join_attention(text_out.to(gpu), text_lse.to(gpu), line_out.to(gpu),
                                                     line_lse.to(gpu), side, by_column, false);
      BOOST_TEST(gpu_out.scalar_type() == type);
      BOOST_TEST(torch::allclose(gpu_out.to(torch::kCPU, torch::kFloat32), cpu_out, tol, tol));
      BOOST_TEST(torch::allclose(gpu_lse.cpu(), cpu_lse, 1e-5, 1e-5));
    }
  }
  // Non-contiguous inputs are taken too (made contiguous first).
  auto x = torch::randn({2, n, 3 * c.heads, c.dim_head});
  auto strided = x.to(gpu).transpose(0, 1).contiguous().transpose(0, 1);
  BOOST_TEST(torch::allclose(fused_rotary(strided, gcos, gsin, 0).cpu(), host::rotary(x, cos, sin, 0, 1.0f), 1e-5, 1e-5));
}

BOOST_AUTO_TEST_CASE(gpu_merged_attention_and_kernels_equal_the_plain_paths,
                     *boost::unit_test::precondition(has_gpu)) {
  // libtorch's flash attention under the merging (when this libtorch and GPU
  // have it) against the same merging with explicit parts.
  torch::manual_seed(13);
  auto gpu = torch::Device(torch::kCUDA, 0);
  auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16).device(gpu);
  int64_t b = 2, h = 4, t = 40, side = 16, cells = side * side - 1, dh = 32;
  for (bool by_column : {false, true}) {
    auto qkv = axial_qkv(b, t + cells, h, dh, bf16);
    auto out = axial_attention(qkv, h, t, side, by_column, 0.2, true);
    if (!out.defined()) {
      BOOST_TEST_MESSAGE("flash attention is not available here: the per-line path serves");
      break;
    }
    auto expected = host::axial_attention(qkv, h, t, side, by_column, 0.2);
    BOOST_TEST(torch::allclose(out.to(torch::kFloat32), expected.to(torch::kFloat32), 2e-2, 2e-2));
    auto w = torch::randn_like(out);
    auto grad = torch::autograd::grad({(out * w).sum()}, {qkv})[0].to(torch::kFloat32);
    auto expected_grad = torch::autograd::grad({(expected * w).sum()}, {qkv})[0].to(torch::kFloat32);
    BOOST_TEST(((grad - expected_grad).norm() / expected_grad.norm()).item<double>() < 2e-2,
               "by_column " << by_column);
  }
  auto tiny = load_model_config("dalle-tiny");
  // The model's bf16 loss and gradients with each of its faster paths on,
  // against both off (libtorch's ops, the per-line attention).
  auto run = [&](bool kernels, bool merged) {
    torch::manual_seed(17);
    dalle m(tiny);
    m->to(gpu);
    m->set_recompute(false);
    m->set_fast_paths({kernels, merged});
    auto text = torch::randint(1, tiny.num_text_tokens, {2, tiny.text_seq_len}).to(gpu);
    auto image = torch::randint(0, tiny.num_image_tokens, {2, tiny.image_seq_len()}).to(gpu);
    autocast_scope autocast(gpu);
    auto loss = m->loss(text, image).loss;
    loss.backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : m->parameters())
      if (p.grad().defined())
        g.push_back(p.grad().flatten().to(torch::kCPU, torch::kFloat32));
    return std::make_pair(loss.item<double>(), torch::cat(g));
  };
  auto [plain_loss, plain_grad] = run(false, false);
  for (auto [kernels, merged] : {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
    auto [loss, grad] = run(kernels, merged);
    BOOST_TEST(loss == plain_loss, boost::test_tools::tolerance(1e-2));
    BOOST_TEST(torch::cosine_similarity(grad, plain_grad, 0).item<double>() > 0.999,
               "kernels " << kernels << " merged " << merged);
  }
}
