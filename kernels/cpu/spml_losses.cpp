// CPU fused SPML losses (and LL's large-loss selection, large_loss_mask): per row, one vectorised pass over the classes
// computes every element's loss and dL/dz with the shared math of kernels/common/spml_loss_math.h (branch-free, so GCC
// vectorises it; compiled per x86 level, see SPML_CPU_SIMD_CLONES), plus EPR/ROLE's batch regularisers (their formulas
// shared with CUDA too). A row's losses are summed in a fixed order (vector_math.h's LaneSum) and the rows in row
// order, so the loss does not depend on the thread count; large batches split their rows between threads.
#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace spml::kernels::cpu {
namespace {
constexpr int64_t kParallelElements = 1 << 14;  // below this a batch runs on one thread
constexpr int64_t kTile = 256;                  // classes per pass (a multiple of LaneSum's 16 lanes)

// body(r0, r1) over the rows, one contiguous block per thread for large batches.
template <class Body>
void parallel_rows(int64_t rows, int64_t cols, const Body& body) {
  if (rows * cols <= kParallelElements || rows < 2 || omp_get_max_threads() == 1 || omp_in_parallel()) {
    body(int64_t(0), rows);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t per = (rows + threads - 1) / threads;
    const int64_t r0 = std::min(rows, t * per), r1 = std::min(rows, r0 + per);
    if (r0 < r1) body(r0, r1);
  }
}

// Per-kind element math for the vectorised rows: loss and dl/dz from p = sigmoid(z) and the label.
struct BceKind {  // AN, and BCE on full labels
  static constexpr bool kRegularised = false;
  template <class T>
  SPML_HD static ElementLoss<T> eval(T p, bool pos, const LossParams&) {
    return bce_element(p, pos);
  }
};
struct AnLsKind {
  static constexpr bool kRegularised = false;
  template <class T>
  SPML_HD static ElementLoss<T> eval(T p, bool pos, const LossParams&) {
    return an_ls_element(p, pos);
  }
};
struct WanKind {
  static constexpr bool kRegularised = false;
  template <class T>
  SPML_HD static ElementLoss<T> eval(T p, bool pos, const LossParams& a) {
    return wan_element(p, pos, a);
  }
};
struct EprKind {  // plus the batch regulariser's share, regulariser_dz(coef_p, p), on every entry
  static constexpr bool kRegularised = true;
  template <class T>
  SPML_HD static ElementLoss<T> eval(T p, bool pos, const LossParams&) {
    return epr_element(p, pos);
  }
};
struct EmKind {
  static constexpr bool kRegularised = false;
  template <class T>
  SPML_HD static ElementLoss<T> eval(T p, bool pos, const LossParams& a) {
    return em_element(p, pos, T(a.em_alpha));
  }
};

// The kinds with a second input (aux: EM+APL's soft targets, LL's selection mask), through aux_rows.
struct EmAplKind {
  template <class T>
  SPML_HD static ElementLoss<T> eval(T, T p, bool pos, T aux, const LossParams& a) {
    return em_apl_element(p, pos, aux, T(a.em_alpha), T(a.apl_beta));
  }
};
template <bool kReject>  // LL-R rejects the selected entries; LL-Ct and LL-Cp train them toward 1
struct LargeLossKind {
  template <class T>
  SPML_HD static ElementLoss<T> eval(T z, T p, bool pos, T aux, const LossParams&) {
    return large_loss_element(z, p, pos, positive_label(aux), kReject);
  }
};

// The rows work tile by tile: up to kTile classes of a row are copied into local arrays zero-padded to whole
// 16-lane vectors, so every pass runs whole vectors (at C = 312 GCC's scalar remainder loops cost more than these
// copies), and the results are copied back.
SPML_HD int64_t padded_width(int64_t width) {
  return (width + 15) / 16 * 16;
}
template <class T>
SPML_HD void load_tile(const T* src, int64_t width, T* tile) {
  std::copy(src, src + width, tile);
  std::fill(tile + width, tile + padded_width(width), T(0));
}

// Rows [r0, r1): dz (already divided by N, plus EPR's regulariser term) and each row's loss sum. Two passes per
// tile (the sigmoids, then the rest): a short loop's iterations overlap in the CPU, one long body is one long
// dependency chain per vector.
template <class K, class T>
SPML_CPU_SIMD_CLONES void loss_rows(const T* z, const T* y, int64_t r0, int64_t r1, int64_t cols, LossParams a, T inv_n,
                                    T coef_p, T* dz, double* row_loss) {
  alignas(64) T zt[kTile], yt[kTile], p[kTile], dzt[kTile], losses[kTile];
  for (int64_t b = r0; b < r1; ++b) {
    vm::LaneSum<double> sum;
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t width = std::min(kTile, cols - c0), n = padded_width(width), offset = b * cols + c0;
      load_tile(z + offset, width, zt);
      load_tile(y + offset, width, yt);
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) p[c] = SigmoidOp::fwd(zt[c], T(0));
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        const ElementLoss<T> e = K::eval(p[c], positive_label(yt[c]), a);
        losses[c] = e.loss;
        dzt[c] = K::kRegularised ? e.dz * inv_n + regulariser_dz(coef_p, p[c]) : e.dz * inv_n;
      }
      std::copy(dzt, dzt + width, dz + offset);
      sum.add(losses, width);
    }
    row_loss[b] = sum.total();
  }
}

// As loss_rows, for the kinds whose element math also reads aux [B, C].
template <class K, class T>
SPML_CPU_SIMD_CLONES void aux_rows(const T* z, const T* y, const T* aux, int64_t r0, int64_t r1, int64_t cols,
                                   LossParams a, T inv_n, T* dz, double* row_loss) {
  alignas(64) T zt[kTile], yt[kTile], at[kTile], p[kTile], dzt[kTile], losses[kTile];
  for (int64_t b = r0; b < r1; ++b) {
    vm::LaneSum<double> sum;
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t width = std::min(kTile, cols - c0), n = padded_width(width), offset = b * cols + c0;
      load_tile(z + offset, width, zt);
      load_tile(y + offset, width, yt);
      load_tile(aux + offset, width, at);
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) p[c] = SigmoidOp::fwd(zt[c], T(0));
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        const ElementLoss<T> e = K::eval(zt[c], p[c], positive_label(yt[c]), at[c], a);
        losses[c] = e.loss;
        dzt[c] = e.dz * inv_n;
      }
      std::copy(dzt, dzt + width, dz + offset);
      sum.add(losses, width);
    }
    row_loss[b] = sum.total();
  }
}

// GR in more passes (sigmoid; log; the powers; K and V; the rest). p^q2 is exp(q2 log p), the log shared with the
// positives' log(p + 1e-7); (1 - p)^q3 likewise, or exactly 1 - p when q3 = 1 (the usual value).
template <bool kQ3One, class T>
SPML_CPU_SIMD_CLONES void gr_rows(const T* z, const T* y, int64_t r0, int64_t r1, int64_t cols, LossParams a, T inv_n,
                                  T* dz, double* row_loss) {
  alignas(64) T zt[kTile], yt[kTile], p[kTile], l[kTile], p_q2[kTile], omp_q3[kTile], k[kTile], v[kTile], dzt[kTile],
      losses[kTile];
  const T eps = T(kGrLogEps), q2 = T(a.q2), q3 = T(a.q3);
  for (int64_t b = r0; b < r1; ++b) {
    vm::LaneSum<double> sum;
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t width = std::min(kTile, cols - c0), n = padded_width(width), offset = b * cols + c0;
      load_tile(z + offset, width, zt);
      load_tile(y + offset, width, yt);
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) p[c] = SigmoidOp::fwd(zt[c], T(0));
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) l[c] = log_(vm::select(positive_label(yt[c]), p[c] + eps, p[c]));
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) p_q2[c] = exp_(q2 * l[c]);
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) omp_q3[c] = kQ3One ? T(1) - p[c] : exp_(q3 * log_(T(1) - p[c]));
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        const GrWeights<T> kv = gr_weights(p[c], a);
        k[c] = kv.k;
        v[c] = kv.v;
      }
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        const bool pos = positive_label(yt[c]);
        const ElementLoss<T> u = gr_unobserved(p[c], p_q2[c], omp_q3[c], k[c], v[c], a);
        losses[c] = vm::select(pos, -l[c], u.loss);
        dzt[c] = vm::select(pos, neg_log_p_grad(p[c], eps), u.dz) * inv_n;
      }
      std::copy(dzt, dzt + width, dz + offset);
      sum.add(losses, width);
    }
    row_loss[b] = sum.total();
  }
}

template <class T>
SPML_CPU_SIMD_CLONES void role_rows(const T* z, const T* g, const T* y, int64_t r0, int64_t r1, int64_t cols, T inv_n,
                                    T coef_p, T coef_q, T* dz, T* dg, double* row_loss) {
  alignas(64) T zt[kTile], gt[kTile], yt[kTile], p[kTile], q[kTile], dzt[kTile], dgt[kTile], losses[kTile];
  for (int64_t b = r0; b < r1; ++b) {
    vm::LaneSum<double> sum;
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t width = std::min(kTile, cols - c0), n = padded_width(width), offset = b * cols + c0;
      load_tile(z + offset, width, zt);
      load_tile(g + offset, width, gt);
      load_tile(y + offset, width, yt);
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        p[c] = SigmoidOp::fwd(zt[c], T(0));
        q[c] = SigmoidOp::fwd(gt[c], T(0));
      }
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) {
        const RoleElementLoss<T> e = role_element_from(p[c], q[c], positive_label(yt[c]));
        losses[c] = e.loss;
        dzt[c] = e.dz * inv_n + regulariser_dz(coef_p, p[c]);
        dgt[c] = e.dg * inv_n + regulariser_dz(coef_q, q[c]);
      }
      std::copy(dzt, dzt + width, dz + offset);
      std::copy(dgt, dgt + width, dg + offset);
      sum.add(losses, width);
    }
    row_loss[b] = sum.total();
  }
}

// Row sums of sigmoid(x) in double.
template <class T>
SPML_CPU_SIMD_CLONES void sigmoid_row_sums(const T* x, int64_t r0, int64_t r1, int64_t cols, double* out) {
  alignas(64) T xt[kTile], p[kTile];
  for (int64_t b = r0; b < r1; ++b) {
    vm::LaneSum<double> sum;
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t width = std::min(kTile, cols - c0), n = padded_width(width);
      load_tile(x + b * cols + c0, width, xt);
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) p[c] = SigmoidOp::fwd(xt[c], T(0));
      sum.add(p, width);
    }
    out[b] = sum.total();
  }
}

// EPR/ROLE's regulariser of x = sigmoid(logits) (batch_regulariser).
template <class T>
BatchRegulariser regulariser(const T* logits, int64_t rows, int64_t cols, double k) {
  std::vector<double> row_sums(static_cast<std::size_t>(rows));
  parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) { sigmoid_row_sums(logits, r0, r1, cols, row_sums.data()); });
  double total = 0;  // summed in row order: the same result for any thread count
  for (double r : row_sums) total += r;
  return batch_regulariser(total, rows, cols, k);
}
}  // namespace

template <class T>
void spml_loss(LossKind kind, const T* z, const T* y, const T* g, int64_t rows, int64_t cols, const LossParams& params,
               T* loss_out, T* dz, T* dg) {
  LossParams a = params;
  a.num_classes = double(cols);
  const double inv_n = 1.0 / (double(rows) * double(cols));
  BatchRegulariser reg_p, reg_q;
  const double reg_weight = regulariser_weight(kind);
  if (kind == LossKind::EPR || kind == LossKind::ROLE) {
    reg_p = regulariser(z, rows, cols, a.expected_positives);
    if (kind == LossKind::ROLE) reg_q = regulariser(g, rows, cols, a.expected_positives);
  }
  const T coef_p = T(reg_weight * reg_p.grad), coef_q = T(reg_weight * reg_q.grad);
  std::vector<double> row_loss(std::size_t(rows), 0.0);
  const auto run = [&](auto kind_tag) {
    using K = decltype(kind_tag);
    parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) {
      loss_rows<K, T>(z, y, r0, r1, cols, a, T(inv_n), coef_p, dz, row_loss.data());
    });
  };
  const auto run_aux = [&](auto kind_tag) {
    using K = decltype(kind_tag);
    parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) {
      aux_rows<K, T>(z, y, g, r0, r1, cols, a, T(inv_n), dz, row_loss.data());
    });
  };
  const auto run_gr = [&](auto q3_one) {
    parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) {
      gr_rows<decltype(q3_one)::value, T>(z, y, r0, r1, cols, a, T(inv_n), dz, row_loss.data());
    });
  };
  switch (kind) {
    case LossKind::GR:
      a.q3 == 1.0 ? run_gr(std::true_type{}) : run_gr(std::false_type{});
      break;
    case LossKind::AN:
    case LossKind::BCE:
      run(BceKind{});
      break;
    case LossKind::AN_LS:
      run(AnLsKind{});
      break;
    case LossKind::WAN:
      run(WanKind{});
      break;
    case LossKind::EPR:
      run(EprKind{});
      break;
    case LossKind::EM:
      run(EmKind{});
      break;
    case LossKind::EM_APL:
      run_aux(EmAplKind{});
      break;
    case LossKind::LL_R:
      run_aux(LargeLossKind<true>{});
      break;
    case LossKind::LL_CT:
    case LossKind::LL_CP:
      run_aux(LargeLossKind<false>{});
      break;
    case LossKind::ROLE:
      parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) {
        role_rows(z, g, y, r0, r1, cols, T(inv_n), coef_p, coef_q, dz, dg, row_loss.data());
      });
      break;
  }
  double total = 0;
  for (double r : row_loss) total += r;
  loss_out[0] = T(total * inv_n + reg_weight * (reg_p.value + reg_q.value));
}

template <class T>
void large_loss_mask(const T* z, const T* y, int64_t n, int64_t k, T* mask) {
  using Key = decltype(vm::order_key(T(0)));
  std::vector<std::pair<Key, int64_t>> unobserved;  // (key, index)
  for (int64_t i = 0; i < n; ++i) {
    mask[i] = T(0);
    if (!positive_label(y[i])) unobserved.emplace_back(vm::order_key(z[i]), i);
  }
  const int64_t picked = std::min<int64_t>(std::max<int64_t>(k, 0), int64_t(unobserved.size()));
  if (picked == 0) return;
  // A strict total order (keys descending, then indices ascending): the k first are the same whatever the algorithm.
  const auto before = [](const std::pair<Key, int64_t>& a, const std::pair<Key, int64_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::nth_element(unobserved.begin(), unobserved.begin() + (picked - 1), unobserved.end(), before);
  for (int64_t j = 0; j < picked; ++j) mask[unobserved[std::size_t(j)].second] = T(1);
}

template void large_loss_mask<float>(const float*, const float*, int64_t, int64_t, float*);
template void large_loss_mask<double>(const double*, const double*, int64_t, int64_t, double*);

template void spml_loss<float>(LossKind, const float*, const float*, const float*, int64_t, int64_t, const LossParams&,
                               float*, float*, float*);
template void spml_loss<double>(LossKind, const double*, const double*, const double*, int64_t, int64_t,
                                const LossParams&, double*, double*, double*);

}  // namespace spml::kernels::cpu
