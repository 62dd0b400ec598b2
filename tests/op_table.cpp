// The op table's rows and the list of ops that must have one (see op_table.h). Adding an op to the framework
// means adding its name to kOpNames and a row to op_table(): OpTable.* fails until both are there, and the row
// then gets a gradient check and a CUDA parity check.
#include "op_table.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "framework/ops/cnn.h"
#include "framework/ops/ops.h"
#include "losses/spml_loss.h"

namespace spml::test {

InputSpec uniform(Shape gradcheck, Shape parity, uint64_t seed, double lo, double hi) {
  InputSpec s;
  s.gradcheck_shape = std::move(gradcheck);
  s.parity_shape = std::move(parity);
  s.seed = seed;
  s.lo = lo;
  s.hi = hi;
  return s;
}

InputSpec away_from(double kink, double gap, Shape gradcheck, Shape parity, uint64_t seed, double lo, double hi) {
  InputSpec s = uniform(std::move(gradcheck), std::move(parity), seed, lo, hi);
  s.kind = InputSpec::Kind::AwayFrom;
  s.kink = kink;
  s.gap = gap;
  return s;
}

InputSpec distinct(Shape gradcheck, Shape parity, uint64_t seed) {
  InputSpec s = uniform(std::move(gradcheck), std::move(parity), seed);
  s.kind = InputSpec::Kind::Distinct;
  return s;
}

InputSpec constant(InputSpec spec) {
  spec.requires_grad = false;
  return spec;
}

InputSpec labels(Shape gradcheck, Shape parity, uint64_t seed, bool full) {
  InputSpec s = uniform(std::move(gradcheck), std::move(parity), seed);
  s.kind = full ? InputSpec::Kind::FullLabels : InputSpec::Kind::Labels;
  s.requires_grad = false;
  return s;
}

InputSpec indices(std::vector<int64_t> gradcheck, std::vector<int64_t> parity) {
  InputSpec s;
  s.kind = InputSpec::Kind::Indices;
  s.gradcheck_shape = {int64_t(gradcheck.size())};
  s.parity_shape = {int64_t(parity.size())};
  s.gradcheck_indices = std::move(gradcheck);
  s.parity_indices = std::move(parity);
  s.requires_grad = false;
  return s;
}

namespace {
Tensor make_input(const InputSpec& s, DType dtype, bool parity) {
  using Kind = InputSpec::Kind;
  const Shape& shape = parity ? s.parity_shape : s.gradcheck_shape;
  if (s.kind == Kind::Indices) return Tensor::from_vector(parity ? s.parity_indices : s.gradcheck_indices, shape);
  std::vector<double> v = random_tensor(shape, s.seed, DType::Float64, s.lo, s.hi).to_vector<double>();
  switch (s.kind) {
    case Kind::Uniform:
    case Kind::Indices:
      break;
    case Kind::AwayFrom:
      for (double& x : v)
        if (std::fabs(x - s.kink) < s.gap) x = s.kink + (x < s.kink ? -s.gap : s.gap);
      break;
    case Kind::Distinct: {
      // Neighbouring grid values differ by (hi - lo) / (n - 1), far more than any finite-difference step.
      std::vector<std::size_t> order(v.size());
      std::iota(order.begin(), order.end(), std::size_t(0));
      std::shuffle(order.begin(), order.end(), std::mt19937_64(s.seed));
      const double spacing = v.size() > 1 ? (s.hi - s.lo) / double(v.size() - 1) : 0.0;
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = s.lo + spacing * double(order[i]);
      break;
    }
    case Kind::Labels: {
      // Observed single positives as the SPML losses see them; the last row has none (all unobserved).
      const int64_t rows = shape.at(0), cols = shape.at(1);
      std::fill(v.begin(), v.end(), 0.0);
      for (int64_t r = 0; r + 1 < rows; ++r) v[std::size_t(r * cols + (r * 7 + 3 + int64_t(s.seed)) % cols)] = 1.0;
      break;
    }
    case Kind::FullLabels:
      for (double& x : v) x = x > 0.3 ? 1.0 : 0.0;
      break;
  }
  Tensor t = Tensor::from_vector(v, shape).to(dtype);
  if (s.requires_grad) t.set_requires_grad(true);
  return t;
}
}  // namespace

Inputs make_inputs(const OpRow& row, DType dtype, bool parity) {
  Inputs inputs;
  for (const InputSpec& s : row.inputs) inputs.push_back(make_input(s, dtype, parity));
  return inputs;
}

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> kOpNames{
      // framework/ops/ops.h
      "add", "sub", "mul", "div", "add:scalar", "mul:scalar", "neg", "exp", "log", "sqrt", "pow", "relu", "relu_",
      "sigmoid", "tanh", "sum", "sum:dim", "mean", "mean:dim", "reshape", "flatten", "slice", "transpose", "concat",
      "index_rows", "matmul", "linear",
      // framework/ops/cnn.h
      "conv2d", "batch_norm2d", "batch_norm2d:eval", "batch_norm2d:relu", "max_pool2d", "adaptive_avg_pool2d",
      "global_avg_pool2d",
      // losses/spml_loss.h
      "spml_loss:gr", "spml_loss:an", "spml_loss:an_ls", "spml_loss:wan", "spml_loss:epr", "spml_loss:role",
      "spml_loss:em", "spml_loss:bce", "spml_loss:em_apl", "spml_loss:ll_r", "spml_loss:ll_ct", "spml_loss:ll_cp"};
  return kOpNames;
}

const std::vector<std::string>& non_op_functions() {
  // sum_to_shape is not recorded: it is the broadcast ops' backward.
  // large_loss_selection is a mask, not recorded (the LL rows run it inside their losses).
  static const std::vector<std::string> kNonOps{"sum_to_shape", "large_loss_selection"};
  return kNonOps;
}

namespace {
using losses::LossKind;

// GR's parameters at epoch 3 of 8 (what a run uses), and a variant whose K and V are constant.
kernels::LossParams loss_params() {
  return losses::make_loss_params(losses::GrSchedule(losses::GrSettings{}, 8, 0).at(3), 1.5, 0.2, 0);
}
kernels::LossParams flat_kv_params() {
  // K = sigmoid(w p + b) with w = 0 and V = exp(-((p - mu) / sigma)^2 / 2) with sigma = 1e4 hardly depend on p,
  // so holding them constant (the op's stop-gradients) changes the derivative by < 1e-8: finite differences apply.
  kernels::LossParams a = loss_params();
  a.w = 0;
  a.sigma = 1e4;
  return a;
}

std::vector<OpRow> build_table() {
  std::vector<OpRow> t;
  const auto row = [&t](std::string name, std::string op, OpFn fn, std::vector<InputSpec> inputs, double scale = 1,
                        unsigned flags = kNone, std::string note = "") {
    OpRow r;
    r.name = std::move(name);
    r.op = std::move(op);
    r.fn = std::move(fn);
    r.inputs = std::move(inputs);
    r.parity_scale = scale;
    r.flags = flags;
    r.note = std::move(note);
    t.push_back(std::move(r));
  };

  // --- element-wise unary and scalar ops: [37, 129] spans several CUDA blocks and a CPU vector tail ---
  const Shape ug{5, 3}, up{37, 129};
  const InputSpec x = uniform(ug, up, 1, -3, 3), pos = uniform(ug, up, 2, 0.1, 3);
  const InputSpec not_zero = away_from(0.0, 0.05, ug, up, 3, -3, 3);
  row("neg", "neg", [](const Inputs& v) { return neg(v[0]); }, {x});
  row(
      "exp", "exp", [](const Inputs& v) { return exp(v[0]); }, {x}, 20);
  row(
      "log", "log", [](const Inputs& v) { return log(v[0]); }, {pos}, 10);
  row("sqrt", "sqrt", [](const Inputs& v) { return sqrt(v[0]); }, {pos});
  row(
      "pow_2_5", "pow", [](const Inputs& v) { return pow(v[0], 2.5); }, {pos}, 10);
  row(
      "pow_minus_1", "pow", [](const Inputs& v) { return pow(v[0], -1.0); }, {pos}, 100);
  row(
      "relu", "relu", [](const Inputs& v) { return relu(v[0]); }, {not_zero}, 1, kKink, "inputs keep |x| >= 0.05");
  // relu_ needs a non-leaf whose producer saved nothing for its backward (as after add in ResNet).
  row(
      "relu_inplace_after_add", "relu_", [](const Inputs& v) { return relu_(add(v[0], 0.25)); },
      {away_from(-0.25, 0.05, ug, up, 4, -3, 3)}, 1, kKink, "inputs keep |x + 0.25| >= 0.05");
  row(
      "sigmoid", "sigmoid", [](const Inputs& v) { return sigmoid(v[0]); }, {x}, 1, kGradcheckFloat32);
  row(
      "tanh", "tanh", [](const Inputs& v) { return tanh(v[0]); }, {x}, 1, kGradcheckFloat32);
  row("add_scalar", "add:scalar", [](const Inputs& v) { return add(v[0], 0.5); }, {x});
  row("mul_scalar", "mul:scalar", [](const Inputs& v) { return mul(v[0], -1.5); }, {x});

  // --- binary ops, same shape and broadcast like a bias (a row [W], a channel [C, 1, 1]) ---
  const InputSpec a = uniform({2, 3, 4}, {8, 16, 5, 5}, 5);
  const std::pair<const char*, InputSpec> others[] = {
      {"same", uniform({2, 3, 4}, {8, 16, 5, 5}, 6, 0.5, 2)},
      {"row", uniform({4}, {5}, 7, 0.5, 2)},
      {"channel", uniform({3, 1}, {16, 1, 1}, 8, 0.5, 2)},
  };
  for (const auto& [kind, b] : others) {
    const std::string k = kind;
    row(
        "add_" + k, "add", [](const Inputs& v) { return add(v[0], v[1]); }, {a, b}, 10);
    // The broadcast operand on the left.
    row(
        "sub_" + k, "sub", [](const Inputs& v) { return sub(v[1], v[0]); }, {a, b}, 10);
    row(
        "mul_" + k, "mul", [](const Inputs& v) { return mul(v[0], v[1]); }, {a, b}, 10,
        k == "channel" ? kGradcheckFloat32 : kNone);
    row(
        "div_" + k, "div", [](const Inputs& v) { return div(v[0], v[1]); }, {a, b}, 50);
  }
  // Both operands broadcast: [R, 1] op [C] -> [R, C].
  const InputSpec column = uniform({2, 1}, {33, 1}, 9), line = uniform({3}, {65}, 10, 0.5, 2);
  row(
      "add_outer", "add", [](const Inputs& v) { return add(v[0], v[1]); }, {column, line}, 10);
  row(
      "div_outer", "div", [](const Inputs& v) { return div(v[0], v[1]); }, {column, line}, 50);

  // --- reductions: [6, 300, 7] reduces along a long middle dimension and both short ones ---
  const InputSpec r = uniform({2, 3, 4}, {6, 300, 7}, 11);
  row(
      "sum_all", "sum", [](const Inputs& v) { return sum(v[0]); }, {r}, 100);
  // 2^20 elements: the CUDA reduction's multi-pass path.
  row(
      "sum_all_1M", "sum", [](const Inputs& v) { return sum(v[0]); }, {uniform({1000}, {1 << 20}, 12)}, 3000);
  row("mean_all", "mean", [](const Inputs& v) { return mean(v[0]); }, {r});
  for (int64_t d : {0, 1, 2, -1}) {
    const std::string dim = d < 0 ? "minus_1" : std::to_string(d);
    row(
        "sum_dim_" + dim, "sum:dim", [d](const Inputs& v) { return sum(v[0], d); }, {r}, 30);
    row(
        "mean_dim_" + dim + "_keepdim", "mean:dim", [d](const Inputs& v) { return mean(v[0], d, true); }, {r}, 30);
  }

  // --- shape ops ---
  const InputSpec m = uniform({3, 5}, {65, 33}, 13);
  row("reshape", "reshape",
      [](const Inputs& v) {
        return reshape(v[0], {v[0].size(v[0].dim() - 1), -1});
      },  // [2, 3, 4] -> [4, 6]
      {uniform({2, 3, 4}, {65, 33}, 14)});
  row("flatten", "flatten", [](const Inputs& v) { return flatten(v[0]); }, {uniform({2, 3, 4}, {8, 16, 5, 5}, 15)});
  row("slice", "slice", [](const Inputs& v) { return v[0].slice(1, v[0].size(0)); },
      {uniform({2, 3, 4}, {65, 33}, 16)});
  row("transpose", "transpose", [](const Inputs& v) { return transpose(v[0]); }, {m});
  row("concat", "concat",
      [](const Inputs& v) {
        return concat({v[0], v[1], v[0]});
      },
      {uniform({2, 5}, {65, 33}, 17), uniform({1, 5}, {7, 33}, 18)});
  row("concat_with_slice", "concat",
      [](const Inputs& v) {
        return concat({v[0], v[0].slice(3, 10)});
      },
      {uniform({11, 3}, {65, 33}, 19)});
  // Repeated rows: their gradients add up.
  row("index_rows", "index_rows", [](const Inputs& v) { return index_rows(v[0], v[1]); },
      {uniform({5, 3}, {65, 33}, 20), indices({4, 1, 4, 0}, {7, 0, 64, 7, 3})});

  // --- linear algebra ---
  row(
      "matmul", "matmul", [](const Inputs& v) { return matmul(v[0], v[1]); },
      {uniform({3, 4}, {64, 96}, 21), uniform({4, 5}, {96, 80}, 22)}, 50);
  const InputSpec lx = uniform({6, 4}, {16, 96}, 23), lw = uniform({3, 4}, {40, 96}, 24);
  row(
      "linear", "linear", [](const Inputs& v) { return linear(v[0], v[1], v[2]); }, {lx, lw, uniform({3}, {40}, 25)},
      50, kGradcheckFloat32);
  row(
      "linear_no_bias", "linear", [](const Inputs& v) { return linear(v[0], v[1]); }, {lx, lw}, 50, kGradcheckFloat32);

  // --- convolution: odd spatial sizes, strides 1 and 2, paddings, pointwise, even and 7x7 (ResNet's stem) ---
  const InputSpec cx = uniform({2, 3, 7, 6}, {4, 16, 15, 13}, 26);
  struct Conv {
    int64_t k, stride, pad;
  };
  for (const Conv c :
       {Conv{3, 1, 1}, Conv{3, 2, 1}, Conv{1, 1, 0}, Conv{1, 2, 0}, Conv{5, 2, 2}, Conv{2, 1, 0}, Conv{7, 2, 3}}) {
    const std::string name =
        "conv2d_k" + std::to_string(c.k) + "_s" + std::to_string(c.stride) + "_p" + std::to_string(c.pad);
    const Conv2dOptions o{c.stride, c.pad};
    row(
        name, "conv2d", [o](const Inputs& v) { return conv2d(v[0], v[1], Tensor(), o); },
        {cx, uniform({4, 3, c.k, c.k}, {8, 16, c.k, c.k}, 27 + uint64_t(c.k))}, 10,
        c.k == 3 && c.stride == 1 ? kGradcheckFloat32 : kNone);
  }
  row(
      "conv2d_bias_k3_s2_p1", "conv2d",
      [](const Inputs& v) {
        return conv2d(v[0], v[1], v[2], {2, 1});
      },
      {cx, uniform({4, 3, 3, 3}, {8, 16, 3, 3}, 35), uniform({4}, {8}, 36)}, 10);

  // --- batch norm (training normalises with the batch statistics and moves the running ones in place) ---
  const InputSpec bx = uniform({3, 4, 3, 5}, {4, 16, 15, 13}, 37, -2, 3);
  const InputSpec gamma = uniform({4}, {16}, 38, 0.5, 1.5), beta = uniform({4}, {16}, 39);
  const InputSpec running_mean = constant(uniform({4}, {16}, 40)),
                  running_var = constant(uniform({4}, {16}, 41, 0.5, 2));
  row(
      "batch_norm2d_train", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true); },
      {bx, gamma, beta, running_mean, running_var}, 100);
  row(
      "batch_norm2d_train_no_affine", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], Tensor(), Tensor(), v[1], v[2], true); },
      {bx, running_mean, running_var}, 100);
  // Frozen gamma and beta (linear-init epochs): the input gradient alone.
  row(
      "batch_norm2d_train_frozen_affine", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true); },
      {bx, constant(gamma), constant(beta), running_mean, running_var}, 100);
  row(
      "batch_norm2d_eval", "batch_norm2d:eval",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], false); },
      {bx, gamma, beta, running_mean, running_var}, 10);
  row(
      "batch_norm2d_relu_train", "batch_norm2d:relu",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true, 0.1, 1e-5, true); },
      {bx, gamma, beta, running_mean, running_var}, 100, kKink,
      "the normalised output decides the kink, so the inputs cannot be built around it; the gradcheck's "
      "skip count of 0 shows none of these outputs is within a step of 0");
  // Planes larger than a CUDA block (H * W = 2115 > 512, as in every ResNet stem, layer1 and layer2) and channels of
  // several of the CUDA kernel's chunks (kBnChunk = 4096 values, kernels/cuda/cnn.cu): 4 x 45 x 47 = 8460 values
  // per channel are 3 chunks, the boundaries inside an image. The gradient checks reuse the small inputs of the rows
  // above (the CPU reference has no chunks), so they stay cheap; parity runs at the large shape.
  const InputSpec wide_x = uniform({3, 4, 3, 5}, {4, 3, 45, 47}, 37, -2, 3);
  const InputSpec wide_gamma = uniform({4}, {3}, 38, 0.5, 1.5), wide_beta = uniform({4}, {3}, 39);
  const InputSpec wide_mean = constant(uniform({4}, {3}, 40)), wide_var = constant(uniform({4}, {3}, 41, 0.5, 2));
  row(
      "batch_norm2d_train_chunked", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true); },
      {wide_x, wide_gamma, wide_beta, wide_mean, wide_var}, 100);
  row(
      "batch_norm2d_train_no_affine_chunked", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], Tensor(), Tensor(), v[1], v[2], true); },
      {wide_x, wide_mean, wide_var}, 100);
  row(
      "batch_norm2d_train_frozen_affine_chunked", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true); },
      {wide_x, constant(wide_gamma), constant(wide_beta), wide_mean, wide_var}, 100);
  row(
      "batch_norm2d_relu_train_chunked", "batch_norm2d:relu",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true, 0.1, 1e-5, true); },
      {wide_x, wide_gamma, wide_beta, wide_mean, wide_var}, 100, kKink,
      "the normalised output decides the kink, so the inputs cannot be built around it; the gradcheck's "
      "skip count of 0 shows none of these outputs is within a step of 0");
  // Planes smaller than a block (7 x 7, as in layer4) over 96 images: 4704 values per channel, 2 chunks.
  row(
      "batch_norm2d_train_small_planes_chunked", "batch_norm2d",
      [](const Inputs& v) { return batch_norm2d(v[0], v[1], v[2], v[3], v[4], true); },
      {uniform({3, 4, 3, 5}, {96, 3, 7, 7}, 37, -2, 3), wide_gamma, wide_beta, wide_mean, wide_var}, 100);

  // --- pooling ---
  const InputSpec px = uniform({2, 3, 7, 8}, {4, 16, 15, 13}, 42), pd = distinct({2, 3, 7, 8}, {4, 16, 15, 13}, 43);
  row(
      "max_pool2d_k3_s2_p1", "max_pool2d", [](const Inputs& v) { return max_pool2d(v[0], 3, 2, 1); }, {pd}, 10, kKink,
      "distinct inputs: no ties between a window's candidates");
  row(
      "max_pool2d_k2_s2_p0", "max_pool2d", [](const Inputs& v) { return max_pool2d(v[0], 2, 2, 0); }, {pd}, 10, kKink,
      "distinct inputs: no ties between a window's candidates");
  row(
      "adaptive_avg_pool2d_3x5", "adaptive_avg_pool2d", [](const Inputs& v) { return adaptive_avg_pool2d(v[0], 3, 5); },
      {px}, 10);
  row(
      "adaptive_avg_pool2d_4x3", "adaptive_avg_pool2d", [](const Inputs& v) { return adaptive_avg_pool2d(v[0], 4, 3); },
      {px}, 10);
  row(
      "global_avg_pool2d", "global_avg_pool2d", [](const Inputs& v) { return global_avg_pool2d(v[0]); }, {px}, 10);

  // --- the fused SPML losses: logits [B, C] and labels; parity at a real class count (312, CUB) ---
  const InputSpec z = uniform({4, 5}, {8, 312}, 44, -4, 4), y = labels({4, 5}, {8, 312}, 0);
  const auto loss = [](LossKind kind, kernels::LossParams params) {
    return [kind, params](const Inputs& v) { return losses::spml_loss(kind, v[0], v[1], params); };
  };
  row("spml_loss_gr", "spml_loss:gr", loss(LossKind::GR, loss_params()), {z, y}, 1, kNoGradcheck,
      "K and V are stop-gradients: SpmlLosses.FusedGradientEqualsFiniteDifferencesWithStopGradientsHeld checks "
      "this gradient, and the spml_loss_gr_flat_kv row checks the rest of GR's gradient");
  row("spml_loss_gr_flat_kv", "spml_loss:gr", loss(LossKind::GR, flat_kv_params()), {z, y});
  row("spml_loss_an", "spml_loss:an", loss(LossKind::AN, loss_params()), {z, y});
  row("spml_loss_an_ls", "spml_loss:an_ls", loss(LossKind::AN_LS, loss_params()), {z, y});
  row("spml_loss_wan", "spml_loss:wan", loss(LossKind::WAN, loss_params()), {z, y});
  row("spml_loss_epr", "spml_loss:epr", loss(LossKind::EPR, loss_params()), {z, y});
  row("spml_loss_em", "spml_loss:em", loss(LossKind::EM, loss_params()), {z, y});
  row("spml_loss_bce", "spml_loss:bce", loss(LossKind::BCE, loss_params()), {z, labels({4, 5}, {8, 312}, 45, true)});
  row(
      "spml_loss_role", "spml_loss:role",
      [](const Inputs& v) { return losses::spml_loss(LossKind::ROLE, v[0], v[1], loss_params(), v[2]); },
      {z, y, uniform({4, 5}, {8, 312}, 46, -3, 3)}, 1, kNoGradcheck,
      "sg(p) and sg(Yhat) are stop-gradients: SpmlLosses.FusedGradientEqualsFiniteDifferencesWithStopGradientsHeld "
      "checks both gradients");
  // EM+APL: the soft targets are a constant input, negative where an entry is not pseudo-labelled.
  kernels::LossParams apl = loss_params();
  apl.apl_beta = 0.5;
  row("spml_loss_em_apl", "spml_loss:em_apl",
      [apl](const Inputs& v) { return losses::spml_loss(LossKind::EM_APL, v[0], v[1], apl, v[2]); },
      {z, y, constant(uniform({4, 5}, {8, 312}, 47, -1, 1))});
  // LL: the selection runs inside (k = an eighth of the entries); the logits are distinct, so a finite-difference
  // step never reorders them and the gradient is that of the selected treatment.
  const InputSpec zd = distinct({4, 5}, {8, 312}, 48);
  const auto large_loss = [](LossKind kind) {
    return [kind](const Inputs& v) {
      const Tensor mask = losses::large_loss_selection(v[0], v[1], v[0].numel() / 8);
      return losses::spml_loss(kind, v[0], v[1], loss_params(), mask);
    };
  };
  row("spml_loss_ll_r", "spml_loss:ll_r", large_loss(LossKind::LL_R), {zd, y});
  row("spml_loss_ll_ct", "spml_loss:ll_ct", large_loss(LossKind::LL_CT), {zd, y});
  row("spml_loss_ll_cp", "spml_loss:ll_cp", large_loss(LossKind::LL_CP), {zd, y});
  return t;
}
}  // namespace

const std::vector<OpRow>& op_table() {
  static const std::vector<OpRow> table = build_table();
  return table;
}

}  // namespace spml::test
