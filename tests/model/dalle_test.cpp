// The model: shapes, masking, causality, weight sharing, tied embeddings,
// reversible backward, KV-cached generation.
#include "tests/model/model_fixture.hpp"

#include "model/fused.hpp"

#include <limits>

using namespace ttt::model;
using namespace ttt::model::testing;

namespace {
int64_t count_parameters(dalle_impl& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters())
    n += p.numel();
  return n;
}
} // namespace

BOOST_AUTO_TEST_CASE(built_models_have_the_counted_parameters) {
  torch::NoGradGuard no_grad;
  dalle tiny(load_model_config("dalle-tiny"));
  BOOST_TEST(count_parameters(*tiny) == 288208);
  auto small_config = load_model_config("dalle-small");
  dalle small(small_config);
  BOOST_TEST(count_parameters(*small) == parameter_count(small_config));
  dalle ttt(load_model_config("dalle-ttt"));
  BOOST_TEST(count_parameters(*ttt) == 125894244);
  // 5 distinct attention and feed-forward modules for 64 layers
  BOOST_TEST(ttt->attentions().size() == 5u);
  BOOST_TEST(ttt->feed_forwards().size() == 5u);
}

BOOST_AUTO_TEST_CASE(every_intermediate_has_its_shape) {
  torch::NoGradGuard no_grad;
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto [text, image] = random_batch(c, 3, 1);
  auto ids = m->prepare_text(text);
  BOOST_TEST(ids.sizes() == torch::IntArrayRef({3, 17}));
  BOOST_TEST(ids[0][0].item<int64_t>() == 0);                     // <bos>
  BOOST_TEST(ids[0][16].item<int64_t>() == 256 + 15);             // padding id of position 15
  BOOST_TEST(ids[0][14].item<int64_t>() == 256 + 13);
  auto tokens = m->embed(text, image);
  BOOST_TEST(tokens.sizes() == torch::IntArrayRef({3, 16 + 64, 64})); // last code dropped
  BOOST_TEST(m->pos_emb().sizes() == torch::IntArrayRef({1, 16 + 64 + 1, 12}));
  BOOST_TEST(m->block_f(0, tokens).sizes() == tokens.sizes());
  BOOST_TEST(m->block_g(3, tokens).sizes() == tokens.sizes());
  BOOST_TEST(m->transform(tokens).sizes() == tokens.sizes());
  auto logits = m->forward(text, image);
  BOOST_TEST(logits.sizes() == torch::IntArrayRef({3, 80, 256 + 16 + 64}));
  auto partial = m->forward(text, image.slice(1, 0, 10));
  BOOST_TEST(partial.sizes() == torch::IntArrayRef({3, 17 + 10, 336}));
  BOOST_TEST(torch::allclose(partial, logits.slice(1, 0, 27), 1e-4, 1e-5));
  auto losses = m->loss(text, image);
  BOOST_TEST(losses.loss.dim() == 0);
  float expected = (losses.loss_text.item<float>() + 7 * losses.loss_img.item<float>()) / 8;
  BOOST_TEST(losses.loss.item<float>() == expected, boost::test_tools::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(rotary_angles_follow_dalle_pytorch) {
  torch::NoGradGuard no_grad;
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto pe = m->pos_emb()[0];
  // dim_head 16: r = 5, m = 2; lang freqs 1/10000^(0/5), 1/10000^(2/5)
  BOOST_TEST(pe[3][0].item<float>() == 3.0f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(pe[3][1].item<float>() == 3.0f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(pe[3][2].item<float>() == 3.0f / std::pow(10000.0f, 0.4f), boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(pe[3][4].item<float>() == float(-10 * M_PI), boost::test_tools::tolerance(1e-5f)); // text row -10
  BOOST_TEST(pe[17][0].item<float>() == 8192.0f);   // image: language angle at 8192
  BOOST_TEST(pe[17][4].item<float>() == float(-M_PI), boost::test_tools::tolerance(1e-5f)); // row 0 → -1
  BOOST_TEST(pe[17 + 8 * 7 + 3][8].item<float>() == float((-1 + 6.0 / 7) * M_PI), boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(pe[17 + 8 * 7 + 3][11].item<float>() == float((-1 + 6.0 / 7) * 5 * M_PI), boost::test_tools::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(fused_kernels_compute_what_libtorchs_ops_do) {
  // The element functions of ttt's CUDA kernels (model/kernels.hpp), run on
  // the CPU: the rotary embedding as the model's flip-and-multiply computes
  // it, its reverse the adjoint and the inverse, GEGLU and its backward as
  // libtorch's autograd gives them.
  torch::manual_seed(3);
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto buffers = m->named_buffers();
  auto cos = buffers["rot_cos"], sin = buffers["rot_sin"];
  int64_t b = 2, n = 11, begin = 5, dh = c.dim_head;
  auto x = torch::randn({b, n, 3 * c.heads, dh});
  auto swapped = x.unflatten(-1, {dh / 2, 2}).flip(-1).flatten(-2);
  auto expected = x * cos.slice(0, begin, begin + n).view({1, n, 1, dh}) +
                  swapped * sin.slice(0, begin, begin + n).view({1, n, 1, dh});
  auto y = host::rotary(x, cos, sin, begin, 1.0f);
  BOOST_TEST(torch::allclose(y, expected, 1e-5, 1e-6));
  BOOST_TEST(!torch::allclose(y, x, 1e-2, 1e-2)); // the angles are not all zero
  auto w = torch::randn_like(x);
  auto back = host::rotary(w, cos, sin, begin, -1.0f);
  BOOST_TEST((y * w).sum().item<double>() == (x * back).sum().item<double>(), boost::test_tools::tolerance(1e-4));
  BOOST_TEST(torch::allclose(host::rotary(y, cos, sin, begin, -1.0f), x, 1e-5, 1e-5));
  BOOST_CHECK_THROW(host::rotary(x, cos, sin, cos.size(0) - n + 1, 1.0f), c10::Error); // past the table
  BOOST_CHECK_THROW(host::rotary(x.flatten(-2).slice(-1, 0, dh * 3 - 2), cos, sin, 0, 1.0f), c10::Error);

  auto h = (torch::randn({b, n, 2 * 12}) * 3).requires_grad_();
  auto halves = h.chunk(2, -1);
  auto reference = halves[0] * torch::gelu(halves[1]);
  BOOST_TEST(torch::allclose(host::geglu(h.detach()), reference, 1e-5, 1e-6));
  auto dy = torch::randn_like(reference);
  reference.backward(dy);
  BOOST_TEST(torch::allclose(host::geglu_backward(h.detach(), dy), h.grad(), 1e-5, 1e-6));
  // Token shift: the map as the model's shift copies it, its adjoint as the
  // model's backward (exactly: both only move values), for whole and partial
  // sequences and channel counts that do not split evenly.
  for (int64_t d : {c.dim, int64_t{13}}) {
    for (int64_t positions : {c.seq_len(), c.text_len() + 5, c.text_len() - 3}) {
      auto xs = torch::randn({2, positions, d}).requires_grad_();
      auto shifted = m->shift(xs);
      BOOST_TEST(torch::equal(host::token_shift(xs.detach(), c.text_len(), c.image_fmap_size, false), shifted));
      auto gs = torch::randn_like(shifted);
      auto back = torch::autograd::grad({shifted}, {xs}, {gs})[0];
      BOOST_TEST(torch::equal(host::token_shift(gs, c.text_len(), c.image_fmap_size, true), back));
    }
  }
  // The model takes them only for GPU tensors of a build with the kernels.
  BOOST_TEST(!fused_supported(x));
  auto out = torch::empty_like(x);
  BOOST_TEST(!fused_token_shift(out, x, c.text_len(), c.image_fmap_size, false));
}

BOOST_AUTO_TEST_CASE(axial_attention_by_parts_equals_masked_attention_with_its_gradients) {
  // The GPU's axial attention (the text causally, image queries against the
  // text and against their line, the last two joined by log-sum-exp; each
  // part's backward given the joined output; q, k and v's gradients written
  // into one tensor), run with explicit attention parts, against one softmax
  // over all keys with the axial mask: the output and the gradient of qkv,
  // rows and columns, a full grid, one short of it (the padded cell) and a
  // partial one.
  torch::manual_seed(11);
  int64_t b = 2, h = 3, t = 5, side = 4, dh = 8;
  double scale = 0.35;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  for (int64_t cells : {side * side, side * side - 1, side * side - 7}) {
    for (bool by_column : {false, true}) {
      int64_t n = t + cells;
      auto qkv = axial_qkv(b, n, h, dh, f64);
      auto allowed = torch::zeros({n, n}, torch::kBool);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          int64_t ci = i - t, cj = j - t;
          bool same_line = ci >= 0 && cj >= 0 &&
                           (by_column ? ci % side == cj % side : ci / side == cj / side);
          allowed[i][j] = j < t || same_line;
        }
      auto parts = qkv.view({b, n, 3, h, dh}).unbind(2);
      auto q = parts[0].transpose(1, 2), k = parts[1].transpose(1, 2), v = parts[2].transpose(1, 2);
      auto scores = torch::matmul(q, k.transpose(-1, -2)) * scale;
      auto expected =
          torch::matmul(torch::softmax(scores.masked_fill(allowed.logical_not(), -1e300), -1), v).transpose(1, 2);
      auto out = host::axial_attention(qkv, h, t, side, by_column, scale);
      BOOST_TEST(out.sizes() == expected.sizes());
      BOOST_TEST(out.is_contiguous());
      BOOST_TEST(torch::allclose(out, expected, 1e-9, 1e-12), "cells " << cells << " by_column " << by_column);
      auto w = torch::randn_like(out);
      auto grad = torch::autograd::grad({(out * w).sum()}, {qkv})[0];
      auto expected_grad = torch::autograd::grad({(expected * w).sum()}, {qkv})[0];
      BOOST_TEST(torch::allclose(grad, expected_grad, 1e-9, 1e-12), "cells " << cells << " by_column " << by_column);
    }
  }
  // Shapes it does not take are refused with a clear error, not computed.
  auto qkv = torch::zeros({1, 5 + 17, 9, 8}, f64);
  BOOST_CHECK_THROW(host::axial_attention(qkv, 3, 5, 4, false, 0.35), c10::Error); // 17 cells on a 4×4 grid
  BOOST_CHECK_THROW(host::axial_attention(qkv, 2, 5, 5, false, 0.35), c10::Error); // 9 ≠ 3·2
}

BOOST_AUTO_TEST_CASE(the_attention_merge_kernel_joins_the_parts_as_libtorchs_ops_do) {
  // The merge kernel's element functions (offsets into the strided text part
  // and the lines layout, the log-sum-exp weighting) against the join with
  // libtorch's ops, which the test above checks against masked attention.
  torch::manual_seed(19);
  int64_t b = 2, h = 3, side = 4, dh = 8;
  for (int64_t cells : {side * side, side * side - 1, side * side - 7}) {
    for (bool by_column : {false, true}) {
      auto text_out = torch::randn({b, cells, h, dh}).transpose(1, 2); // strided, as flash's output
      auto text_lse = torch::randn({b, h, cells}) * 3;
      auto line_out = torch::randn({b, h * side, side, dh}), line_lse = torch::randn({b, h * side, side}) * 3;
      auto [ops_out, ops_lse] = host::join_attention(text_out, text_lse, line_out, line_lse, side, by_column, false);
      auto [fn_out, fn_lse] = host::join_attention(text_out, text_lse, line_out, line_lse, side, by_column, true);
      BOOST_TEST(torch::allclose(fn_out.to(torch::kFloat32), ops_out, 1e-5, 1e-6), "cells " << cells);
      BOOST_TEST(torch::allclose(fn_lse.to(torch::kFloat32), ops_lse, 1e-5, 1e-6), "cells " << cells);
    }
  }
}

BOOST_AUTO_TEST_CASE(text_positions_predict_text_and_image_positions_image) {
  torch::NoGradGuard no_grad;
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto [text, image] = random_batch(c, 2, 2);
  auto logits = m->forward(text, image);
  float lowest = -std::numeric_limits<float>::max();
  int64_t tt = c.total_text_tokens();
  // positions 0..15 (bos .. text[14]) predict text ids including padding ids
  BOOST_TEST((logits.slice(1, 0, 16).slice(2, tt) == lowest).all().item<bool>());
  BOOST_TEST((logits.slice(1, 0, 16).slice(2, 0, tt) > lowest).all().item<bool>());
  // position 16 (the last text token) onwards predict image codes
  BOOST_TEST((logits.slice(1, 16).slice(2, 0, tt) == lowest).all().item<bool>());
  BOOST_TEST((logits.slice(1, 16).slice(2, tt) > lowest).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(loss_is_the_cross_entropy_of_the_masked_logits) {
  // loss() computes each part's logits over its own vocabulary only; it must
  // equal the cross-entropy of forward()'s masked logits over all ids.
  torch::NoGradGuard no_grad;
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto [text, image] = random_batch(c, 3, 8);
  auto l = m->loss(text, image);
  auto logits = m->forward(text, image);
  auto labels = torch::cat({m->prepare_text(text).slice(1, 1), image + c.total_text_tokens()}, 1);
  auto ce = [&](int64_t begin, int64_t end) {
    return torch::nn::functional::cross_entropy(logits.slice(1, begin, end).reshape({-1, c.total_tokens()}),
                                                labels.slice(1, begin, end).reshape({-1}))
        .item<double>();
  };
  double text_ce = ce(0, c.text_seq_len), image_ce = ce(c.text_seq_len, c.seq_len());
  BOOST_TEST(l.loss_text.item<double>() == text_ce, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(l.loss_img.item<double>() == image_ce, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(l.loss.item<double>() == (text_ce + 7 * image_ce) / 8, boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(token_shift_moves_channel_groups_and_backward_is_its_adjoint) {
  auto c = load_model_config("dalle-tiny"); // dim 64: text halves of 32, image quarters of 16
  dalle m(c);
  int64_t t = c.text_len(), side = c.image_fmap_size, d = c.dim;
  // Where output (p, ch) reads from, by MODEL.md's words; -1: a zero.
  auto source = [&](int64_t p, int64_t ch) -> int64_t {
    if (p < t)
      return ch < d / 2 ? p - 1 : p;
    int64_t cell = p - t, row = cell / side, col = cell % side;
    if (ch < d / 4)
      return row > 0 ? p - side : -1;
    if (ch < d / 2)
      return col > 0 ? p - 1 : -1;
    return p;
  };
  // The full training sequence, a partial image, and text alone.
  for (int64_t n : {c.seq_len(), t + 13, t - 5}) {
    auto x = torch::randn({2, n, d}, torch::requires_grad());
    auto y = m->shift(x);
    auto g = torch::randn({2, n, d});
    (y * g).sum().backward();
    auto expected = torch::zeros({2, n, d}), expected_grad = torch::zeros({2, n, d});
    auto plain = x.detach();
    auto xa = plain.accessor<float, 3>();
    auto ga = g.accessor<float, 3>();
    auto ea = expected.accessor<float, 3>(), eg = expected_grad.accessor<float, 3>();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t p = 0; p < n; ++p)
        for (int64_t ch = 0; ch < d; ++ch) {
          int64_t from = source(p, ch);
          if (from < 0)
            continue;
          ea[b][p][ch] = xa[b][from][ch];
          eg[b][from][ch] += ga[b][p][ch];
        }
    BOOST_TEST(torch::equal(y.detach(), expected), "forward, n = " << n);
    BOOST_TEST(torch::equal(x.grad(), expected_grad), "backward, n = " << n);
  }
}

BOOST_AUTO_TEST_CASE(attention_masks_follow_their_pattern) {
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  int64_t n = c.seq_len(), t = c.text_len(), w = c.image_fmap_size;
  auto img = [&](int64_t r, int64_t col) { return t + r * w + col; };
  auto sees = [&](size_t layer, int64_t q, int64_t k) { return !m->blocked(layer, n)[q][k].item<bool>(); };
  // layer 0 axial_row, 1 axial_col, 3 conv_like
  BOOST_TEST(sees(0, 5, 5));
  BOOST_TEST(!sees(0, 5, 6));
  BOOST_TEST(sees(0, img(2, 3), 0));
  BOOST_TEST(sees(0, img(2, 3), t - 1));
  BOOST_TEST(sees(0, img(2, 3), img(2, 0)));
  BOOST_TEST(!sees(0, img(2, 3), img(2, 4)));
  BOOST_TEST(!sees(0, img(2, 3), img(1, 3)));
  BOOST_TEST(sees(1, img(2, 3), img(0, 3)));
  BOOST_TEST(!sees(1, img(2, 3), img(2, 2)));
  BOOST_TEST(sees(3, img(4, 4), img(2, 2)));
  BOOST_TEST(sees(3, img(4, 4), img(4, 2)));
  BOOST_TEST(!sees(3, img(4, 4), img(4, 5)));
  BOOST_TEST(!sees(3, img(4, 4), img(1, 4)));
  BOOST_TEST(!sees(3, img(4, 4), img(3, 7)));
  BOOST_TEST(sees(3, img(4, 4), img(3, 6)));
}

BOOST_AUTO_TEST_CASE(changing_a_later_token_never_changes_earlier_logits) {
  torch::NoGradGuard no_grad;
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto [text, image] = random_batch(c, 1, 3);
  auto base = m->forward(text, image);
  // positions of the input: text token j sits at j+1, image code k at 17+k
  for (int64_t changed : {3, 10, 17 + 0, 17 + 9, 17 + 40, 17 + 62}) {
    auto t2 = text.clone(), i2 = image.clone();
    if (changed <= c.text_seq_len)
      t2[0][changed - 1] = (t2[0][changed - 1].item<int64_t>() % 200) + 17;
    else
      i2[0][changed - 17] = (i2[0][changed - 17].item<int64_t>() + 5) % 64;
    auto other = m->forward(t2, i2);
    auto diff = (other - base).abs().amax(-1)[0];
    BOOST_TEST(diff.slice(0, 0, changed).max().item<float>() == 0.0f);
    BOOST_TEST(diff[changed].item<float>() > 0.0f); // and the change is seen where it may be
  }
}

BOOST_AUTO_TEST_CASE(shared_layers_use_one_tensor_and_embeddings_are_tied) {
  auto c = load_model_config("dalle-small"); // 8 layers: ids 0 1 2 3 0 1 2 w_conv
  dalle m(c);
  BOOST_TEST(m->attentions().size() == 5u);
  BOOST_TEST(m->attention_index(0) == m->attention_index(4));
  BOOST_TEST(m->feed_forward_index(2) == m->feed_forward_index(6));
  BOOST_TEST(m->attention_index(7) != m->attention_index(3));
  auto p0 = m->block_f_parameters(0), p4 = m->block_f_parameters(4);
  BOOST_TEST(p0[3].data_ptr() == p4[3].data_ptr()); // to_qkv
  BOOST_TEST(p0[0].data_ptr() != p4[0].data_ptr()); // LayerScale is per layer
  bool found = false;
  for (const auto& nt : m->named_tensors()) {
    if (nt.names[0] == "transformer.layers.blocks.0.f.net.fn.fn.fn.to_qkv.weight") {
      found = true;
      BOOST_TEST(nt.names.size() == 2u);
      BOOST_TEST(nt.names[1] == "transformer.layers.blocks.4.f.net.fn.fn.fn.to_qkv.weight");
    }
  }
  BOOST_TEST(found);
  // a gradient through layer 4's use reaches the shared tensor
  auto [text, image] = random_batch(c, 1, 4);
  m->set_recompute(false);
  auto tokens = m->embed(text, image).detach();
  m->block_f(4, tokens).sum().backward();
  BOOST_TEST(p0[3].grad().defined());
  BOOST_TEST(p0[3].grad().abs().sum().item<float>() > 0);

  // input embeddings are rows of the output weight
  torch::NoGradGuard no_grad;
  auto emb = m->embed(text, image);
  auto w = m->to_logits()->weight;
  BOOST_TEST(torch::equal(emb[0][0], w[0]));
  BOOST_TEST(torch::equal(emb[0][1], w[text[0][0].item<int64_t>()]));
  BOOST_TEST(torch::equal(emb[0][c.text_len()], w[c.total_text_tokens() + image[0][0].item<int64_t>()]));
}

BOOST_AUTO_TEST_CASE(reversible_backward_equals_plain_backward) {
  auto c = load_model_config("dalle-tiny");
  torch::manual_seed(5);
  dalle m(c);
  // Make the layers matter: LayerScale 0.1 would hide errors in small grads.
  {
    torch::NoGradGuard no_grad;
    for (const auto& l : m->layers()) {
      l->scale_f.fill_(0.7);
      l->scale_g.fill_(0.7);
    }
  }
  auto [text, image] = random_batch(c, 2, 6);
  auto grads = [&](bool recompute) {
    m->set_recompute(recompute);
    m->zero_grad();
    auto loss = m->loss(text, image).loss;
    loss.backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : m->parameters())
      g.push_back(p.grad().clone());
    return std::pair{loss.item<float>(), g};
  };
  auto [loss_plain, plain] = grads(false);
  auto [loss_rev, rev] = grads(true);
  BOOST_TEST(loss_plain == loss_rev, boost::test_tools::tolerance(1e-6f));
  BOOST_REQUIRE(plain.size() == rev.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    float scale = plain[i].abs().max().item<float>();
    float err = (plain[i] - rev[i]).abs().max().item<float>();
    BOOST_TEST(scale > 0);
    BOOST_TEST(err <= 1e-4f * scale + 1e-7f, "parameter " << i << " differs by " << err << " (max " << scale << ")");
  }
}

BOOST_AUTO_TEST_CASE(axial_layers_by_their_structure_train_as_the_masked_form) {
  // dalle-small's 16×16 grid: the CPU computes its axial layers by their
  // structure. Loss and every gradient equal those of the masked n×n form,
  // with activations kept and recomputed.
  auto c = load_model_config("dalle-small");
  auto [text, image] = random_batch(c, 2, 5);
  for (bool recompute : {false, true}) {
    auto run = [&](bool by_structure) {
      torch::manual_seed(9);
      dalle m(c);
      m->set_recompute(recompute);
      m->set_fast_paths({true, by_structure});
      auto loss = m->loss(text, image).loss;
      loss.backward();
      std::vector<torch::Tensor> grads;
      for (const auto& p : m->parameters())
        if (p.grad().defined())
          grads.push_back(p.grad().flatten());
      return std::make_pair(loss.item<double>(), torch::cat(grads));
    };
    auto [structured_loss, structured] = run(true);
    auto [masked_loss, masked] = run(false);
    BOOST_TEST(structured_loss == masked_loss, boost::test_tools::tolerance(1e-5));
    BOOST_TEST(((structured - masked).norm() / masked.norm()).item<double>() < 1e-4, "recompute " << recompute);
  }
}

BOOST_AUTO_TEST_CASE(kv_cache_gives_the_logits_of_the_full_forward) {
  torch::NoGradGuard no_grad;
  for (const char* name : {"dalle-tiny", "dalle-small"}) {
    auto c = load_model_config(name);
    torch::manual_seed(7);
    dalle m(c);
    auto [text, image] = random_batch(c, 2, 8);
    auto full = m->forward(text, image);
    auto ids = torch::cat({m->prepare_text(text), image + c.total_text_tokens()}, 1);
    generation_cache cache;
    for (int64_t t = 0; t < c.seq_len(); ++t) {
      auto logits = m->step(cache, ids.select(1, t));
      auto expected = full.select(1, t);
      BOOST_TEST(torch::allclose(logits, expected, 1e-4, 1e-4), name << " position " << t);
      if (!torch::allclose(logits, expected, 1e-4, 1e-4))
        break;
    }
  }
}
