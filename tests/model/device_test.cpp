// Devices: the setting's parsing and errors on every build; on a machine with
// a GPU (a CUDA build), the model's loss and gradients on the GPU — fused
// attention, bf16 autocast — equal the CPU's within tolerance. Without a GPU
// those cases are skipped, and the CPU build compiles no CUDA code at all.
#include "tests/model/model_fixture.hpp"

#include "model/bench_train.hpp"
#include "model/device.hpp"
#include "model/lamb.hpp"

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

struct step_result {
  double loss = 0;
  torch::Tensor gradients; ///< flattened, fp32, on the CPU
  torch::Tensor after_step; ///< parameters after one LAMB step, flattened, on the CPU
};

// One loss, backward and LAMB step of dalle-tiny from seed 0 on `device`.
step_result run_step(const torch::Device& device, bool bf16, const std::string& config_name = "dalle-tiny") {
  auto c = load_model_config(config_name);
  torch::manual_seed(0);
  dalle m(c);
  m->to(device);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& nt : m->named_tensors())
    if (nt.trainable)
      named.emplace_back(nt.names[0], nt.tensor);
  train_config t;
  lamb optimizer(named, t);
  auto [text, image] = random_batch(c, 4, 7);
  step_result r;
  {
    autocast_scope scope(device, bf16);
    auto loss = m->loss(text.to(device), image.to(device)).loss;
    loss.backward();
    r.loss = loss.item<double>();
  }
  std::vector<torch::Tensor> grads, params;
  for (auto& [name, p] : named)
    grads.push_back(p.grad().detach().to(torch::kCPU, torch::kFloat).flatten());
  optimizer.step(1e-3);
  for (auto& [name, p] : named)
    params.push_back(p.detach().to(torch::kCPU, torch::kFloat).flatten());
  r.gradients = torch::cat(grads);
  r.after_step = torch::cat(params);
  return r;
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>());
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

BOOST_AUTO_TEST_CASE(model_flops_count_matmuls_and_causal_attention) {
  auto ttt_config = load_model_config("dalle-ttt");
  // By hand for dalle-ttt: n = 1280, 64 layers of 16,777,216 matmul weights
  // and 2·2·1024·(1280·1281/2) attention FLOPs, logits over 40,548 tokens, ×3.
  double per_layer = 2.0 * 1280 * 16777216 + 4.0 * 1024 * (1280.0 * 1281 / 2);
  double expected = 3 * (64 * per_layer + 2.0 * 1280 * 1024 * 40548);
  BOOST_TEST(model_flops_per_sample(ttt_config) == expected, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(expected / 1e12 == 9.21, boost::test_tools::tolerance(0.01));
  auto deeper = ttt_config;
  deeper.depth *= 2;
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

BOOST_AUTO_TEST_CASE(gpu_fp32_equals_cpu, *boost::unit_test::precondition(has_gpu)) {
  // Fused attention with the masks, fp32: the same numbers as the CPU's
  // explicit masked softmax, up to summation order.
  auto gpu = torch::Device(torch::kCUDA, 0);
  auto on_cpu = run_step(torch::kCPU, false), on_gpu = run_step(gpu, false);
  BOOST_TEST(on_gpu.loss == on_cpu.loss, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(cosine(on_gpu.gradients, on_cpu.gradients) > 0.99999);
  BOOST_TEST(torch::allclose(on_gpu.gradients, on_cpu.gradients, 1e-3, 1e-5));
  BOOST_TEST(torch::allclose(on_gpu.after_step, on_cpu.after_step, 1e-4, 1e-6));
}

BOOST_AUTO_TEST_CASE(gpu_bf16_autocast_equals_cpu_within_bf16_tolerance, *boost::unit_test::precondition(has_gpu)) {
  auto gpu = torch::Device(torch::kCUDA, 0);
  for (const char* name : {"dalle-tiny", "dalle-small"}) {
    auto on_cpu = run_step(torch::kCPU, false, name), on_gpu = run_step(gpu, true, name);
    BOOST_TEST_MESSAGE(name << ": loss cpu " << on_cpu.loss << " gpu bf16 " << on_gpu.loss << ", gradient cosine "
                            << cosine(on_gpu.gradients, on_cpu.gradients));
    BOOST_TEST(on_gpu.loss == on_cpu.loss, boost::test_tools::tolerance(1e-2));
    BOOST_TEST(cosine(on_gpu.gradients, on_cpu.gradients) > 0.99);
    double relative = (on_gpu.after_step - on_cpu.after_step).norm().item<double>() / on_cpu.after_step.norm().item<double>();
    BOOST_TEST(relative < 1e-3);
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
