// oneDNN convolutions behind onednn_kernels.h: primitives built once per shape and cached, reorders between the NCHW
// tensors of the framework and the blocked layouts oneDNN picks, scratch buffers reused between calls. In a build
// without oneDNN only the kernel switch exists (and says "reference").
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/onednn_kernels.h"

#if SPML_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace spml::kernels::onednn {
namespace {
CpuKernels default_kernels() {
  const CpuKernels fallback = built_with_onednn() ? CpuKernels::OneDnn : CpuKernels::Reference;
  const char* env = std::getenv("SPML_CPU_KERNELS");
  if (env == nullptr || *env == '\0') return fallback;
  const CpuKernels k = parse_cpu_kernels(env, "SPML_CPU_KERNELS");
  if (k == CpuKernels::OneDnn && !built_with_onednn())
    SPML_FAIL("SPML_CPU_KERNELS=onednn: this build has no oneDNN (configure with SPML_ONEDNN=ON)");
  return k;
}
CpuKernels& selected() {
  static CpuKernels kernels = default_kernels();
  return kernels;
}
}  // namespace

bool built_with_onednn() {
  return SPML_WITH_ONEDNN != 0;
}
CpuKernels cpu_kernels() {
  return selected();
}
void set_cpu_kernels(CpuKernels kernels) {
  if (kernels == CpuKernels::OneDnn && !built_with_onednn())
    SPML_FAIL("cpu kernels 'onednn' requested, but this build has no oneDNN (SPML_ONEDNN=ON)");
  selected() = kernels;
}
CpuKernels parse_cpu_kernels(const std::string& name, const char* what) {
  if (name == "onednn") return CpuKernels::OneDnn;
  if (name == "reference") return CpuKernels::Reference;
  SPML_FAIL(what, ": unknown CPU kernels '", name, "' (expected onednn or reference)");
}
const char* cpu_kernels_name(CpuKernels kernels) {
  return kernels == CpuKernels::OneDnn ? "onednn" : "reference";
}

#if !SPML_WITH_ONEDNN
std::string version_string() {
  return "none";
}
[[noreturn]] static void no_onednn() {
  throw std::logic_error("a oneDNN kernel was called in a build without oneDNN");
}
void conv2d_forward(const Conv2dShape&, const float*, const float*, float*) {
  no_onednn();
}
void conv2d_backward(const Conv2dShape&, const float*, const float*, const float*, float*, float*) {
  no_onednn();
}
#else
namespace {
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// Reusable 64-byte-aligned buffers, one per role, grown to the largest request. Ops run one at a time on the
// calling thread, so per-thread buffers are never shared by two live calls.
class Scratch {
 public:
  enum Role { Src, Weights, Dst, DiffDst, DiffSrc, DiffWeights, Pad, kRoles };
  void* get(Role role, std::size_t bytes) {
    Buffer& b = buffers_[role];
    if (b.bytes < bytes) {
      b.data.reset(static_cast<char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
      if (!b.data) throw std::bad_alloc();
      b.bytes = bytes;
    }
    return b.data.get();
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<char, Free> data;
    std::size_t bytes = 0;
  };
  Buffer buffers_[kRoles];
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// A plain (NCHW / OIHW) user tensor and the layout a primitive wants: `run` hands the primitive a pointer in its
// layout, reordering through a scratch buffer when the two differ.
struct Relayout {
  memory::desc user, inner;
  std::unique_ptr<dnnl::reorder> to_inner, to_user;
  Relayout() = default;
  Relayout(const memory::desc& user_desc, const memory::desc& inner_desc, bool in, bool out)
      : user(user_desc), inner(inner_desc) {
    if (user == inner) return;
    if (in) to_inner = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(engine(), user, engine(), inner));
    if (out) to_user = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(engine(), inner, engine(), user));
  }
  bool same() const { return user == inner; }
  // The input in the primitive's layout.
  memory input(const float* data, Scratch::Role role) const {
    memory user_mem(user, engine(), const_cast<float*>(data));
    if (same()) return user_mem;
    memory inner_mem(inner, engine(), scratch().get(role, inner.get_size()));
    to_inner->execute(stream(), user_mem, inner_mem);
    return inner_mem;
  }
  // Where the primitive writes an output; `finish` copies it to the user tensor when the layouts differ.
  memory output(float* data, Scratch::Role role) const {
    if (same()) return memory(user, engine(), data);
    return memory(inner, engine(), scratch().get(role, inner.get_size()));
  }
  void finish(memory& inner_mem, float* data) const {
    if (same()) return;
    memory user_mem(user, engine(), data);
    to_user->execute(stream(), inner_mem, user_mem);
  }
};

memory::dims dims_of(const Conv2dShape& s, char which) {
  switch (which) {
    case 'x':
      return {s.n, s.c_in, s.h, s.w};
    case 'w':
      return {s.c_out, s.c_in, s.kh, s.kw};
    default:
      return {s.n, s.c_out, s.h_out, s.w_out};
  }
}
memory::desc plain(const memory::dims& dims, tag t) {
  return memory::desc(dims, dt::f32, t);
}
memory::desc any(const memory::dims& dims) {
  return memory::desc(dims, dt::f32, tag::any);
}
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}
memory scratchpad_memory(const memory::desc& desc) {
  return memory(desc, engine(), scratch().get(Scratch::Pad, std::max<std::size_t>(desc.get_size(), 1)));
}

// Everything one convolution shape needs, forward and backward: built on first use of the shape.
struct ConvPlan {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  std::unique_ptr<dnnl::convolution_forward> fwd;
  Relayout fwd_src, fwd_weights, fwd_dst;
  // Backward, built on the first backward call of the shape.
  bool backward_ready = false;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd;
  std::unique_ptr<dnnl::convolution_backward_data> bwd_data;
  std::unique_ptr<dnnl::convolution_backward_weights> bwd_weights;
  Relayout data_diff_dst, data_weights, data_diff_src;
  Relayout weights_diff_dst, weights_src, weights_diff_weights;

  explicit ConvPlan(const Conv2dShape& s) {
    const memory::dims strides{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w};
    const memory::dims pad_r{(s.h_out - 1) * s.stride_h + s.kh - s.h - s.pad_h,
                             (s.w_out - 1) * s.stride_w + s.kw - s.w - s.pad_w};
    padding_r = pad_r;
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                         any(dims_of(s, 'x')), any(dims_of(s, 'w')), any(dims_of(s, 'y')), strides, pad,
                                         pad_r);
    fwd_pd = dnnl::convolution_forward::primitive_desc(desc, user_scratchpad(), engine());
    fwd = std::make_unique<dnnl::convolution_forward>(fwd_pd);
    fwd_src = Relayout(plain(dims_of(s, 'x'), tag::nchw), fwd_pd.src_desc(), true, false);
    fwd_weights = Relayout(plain(dims_of(s, 'w'), tag::oihw), fwd_pd.weights_desc(), true, false);
    fwd_dst = Relayout(plain(dims_of(s, 'y'), tag::nchw), fwd_pd.dst_desc(), false, true);
  }
  void prepare_backward(const Conv2dShape& s) {
    if (backward_ready) return;
    const memory::dims strides{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w};
    dnnl::convolution_backward_data::desc data_desc(dnnl::algorithm::convolution_direct, any(dims_of(s, 'x')),
                                                    any(dims_of(s, 'w')), any(dims_of(s, 'y')), strides, pad,
                                                    padding_r);
    bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(data_desc, user_scratchpad(), engine(), fwd_pd);
    bwd_data = std::make_unique<dnnl::convolution_backward_data>(bwd_data_pd);
    dnnl::convolution_backward_weights::desc weights_desc(dnnl::algorithm::convolution_direct, any(dims_of(s, 'x')),
                                                          any(dims_of(s, 'w')), any(dims_of(s, 'y')), strides, pad,
                                                          padding_r);
    bwd_weights_pd =
        dnnl::convolution_backward_weights::primitive_desc(weights_desc, user_scratchpad(), engine(), fwd_pd);
    bwd_weights = std::make_unique<dnnl::convolution_backward_weights>(bwd_weights_pd);
    const memory::desc x = plain(dims_of(s, 'x'), tag::nchw), w = plain(dims_of(s, 'w'), tag::oihw),
                       y = plain(dims_of(s, 'y'), tag::nchw);
    data_diff_dst = Relayout(y, bwd_data_pd.diff_dst_desc(), true, false);
    data_weights = Relayout(w, bwd_data_pd.weights_desc(), true, false);
    data_diff_src = Relayout(x, bwd_data_pd.diff_src_desc(), false, true);
    weights_diff_dst = Relayout(y, bwd_weights_pd.diff_dst_desc(), true, false);
    weights_src = Relayout(x, bwd_weights_pd.src_desc(), true, false);
    weights_diff_weights = Relayout(w, bwd_weights_pd.diff_weights_desc(), false, true);
    backward_ready = true;
  }

 private:
  memory::dims padding_r;
};

using ConvKey =
    std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
// backward: also build the shape's backward primitives (under the same lock, so two threads never race on them).
ConvPlan& conv_plan(const Conv2dShape& s, bool backward) {
  static std::mutex mutex;
  static std::map<ConvKey, std::unique_ptr<ConvPlan> > plans;
  const ConvKey key{s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w};
  std::lock_guard<std::mutex> lock(mutex);
  auto& plan = plans[key];
  if (!plan) plan = std::make_unique<ConvPlan>(s);
  if (backward) plan->prepare_backward(s);
  return *plan;
}

}  // namespace

std::string version_string() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (" +
         (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime") + ")";
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y) {
  ConvPlan& p = conv_plan(s, false);
  memory src = p.fwd_src.input(x, Scratch::Src), weights = p.fwd_weights.input(w, Scratch::Weights);
  memory dst = p.fwd_dst.output(y, Scratch::Dst);
  p.fwd->execute(stream(), {{DNNL_ARG_SRC, src},
                            {DNNL_ARG_WEIGHTS, weights},
                            {DNNL_ARG_DST, dst},
                            {DNNL_ARG_SCRATCHPAD, scratchpad_memory(p.fwd_pd.scratchpad_desc())}});
  p.fwd_dst.finish(dst, y);
  stream().wait();
}

void conv2d_backward(const Conv2dShape& s, const float* gy, const float* x, const float* w, float* gx, float* gw) {
  ConvPlan& p = conv_plan(s, true);
  if (gx) {
    memory diff_dst = p.data_diff_dst.input(gy, Scratch::DiffDst), weights = p.data_weights.input(w, Scratch::Weights);
    memory diff_src = p.data_diff_src.output(gx, Scratch::DiffSrc);
    p.bwd_data->execute(stream(), {{DNNL_ARG_DIFF_DST, diff_dst},
                                   {DNNL_ARG_WEIGHTS, weights},
                                   {DNNL_ARG_DIFF_SRC, diff_src},
                                   {DNNL_ARG_SCRATCHPAD, scratchpad_memory(p.bwd_data_pd.scratchpad_desc())}});
    p.data_diff_src.finish(diff_src, gx);
  }
  if (gw) {
    // The data pass's reordered gy is reused when both passes chose the same layout.
    memory diff_dst = (gx && p.data_diff_dst.inner == p.weights_diff_dst.inner && !p.data_diff_dst.same())
                          ? memory(p.weights_diff_dst.inner, engine(), scratch().get(Scratch::DiffDst, 0))
                          : p.weights_diff_dst.input(gy, Scratch::DiffDst);
    memory src = p.weights_src.input(x, Scratch::Src);
    memory diff_weights = p.weights_diff_weights.output(gw, Scratch::DiffWeights);
    p.bwd_weights->execute(stream(), {{DNNL_ARG_DIFF_DST, diff_dst},
                                      {DNNL_ARG_SRC, src},
                                      {DNNL_ARG_DIFF_WEIGHTS, diff_weights},
                                      {DNNL_ARG_SCRATCHPAD, scratchpad_memory(p.bwd_weights_pd.scratchpad_desc())}});
    p.weights_diff_weights.finish(diff_weights, gw);
  }
  stream().wait();
}

#endif

}  // namespace spml::kernels::onednn
