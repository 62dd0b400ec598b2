// Thread policy, the CUDA convolution policy and build description.
#include "framework/core/runtime.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "framework/cuda/cuda_runtime.h"
#include "kernels/common/error.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/onednn_kernels.h"
#include "spml_build_config.h"

#if SPML_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#else
#include <atomic>
#endif

namespace spml {

void init_process_threads(char** argv) {
  if (argv == nullptr) return;
  bool restart = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    restart = true;
  }
  // OpenBLAS picks its kernels when it loads; a CPU newer than it knows gets its slowest ones unless told.
  const std::string core = kernels::cpu::openblas_coretype_hint();
  if (!core.empty()) {
    ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    restart = true;
  }
  if (restart) ::execv("/proc/self/exe", argv);  // returns only on failure: then run on as we are
}

void set_num_threads(int n) {
  kernels::cpu::set_num_threads(n);
}
int num_threads() {
  return kernels::cpu::num_threads();
}

Device setup_threads_and_device(int threads, const std::string& device) {
  set_num_threads(threads);
  const Device d = Device::parse(device);
  if (d.is_cuda()) cuda_runtime::require_device(d.index, "--device");
  return d;
}

void set_cpu_kernels(const std::string& name, const char* what) {
  if (name.empty()) return;
  const auto kernels = kernels::onednn::parse_cpu_kernels(name, what);
  SPML_CHECK(kernels != kernels::onednn::CpuKernels::OneDnn || kernels::onednn::built_with_onednn(), what,
             ": 'onednn' asked for, but this build has no oneDNN (install libdnnl-dev and reconfigure)");
  kernels::onednn::set_cpu_kernels(kernels);
}
std::string default_cpu_kernels_name() {
  return kernels::onednn::built_with_onednn() ? "onednn" : "reference";
}
std::string cpu_kernels_description() {
  const auto kernels = kernels::onednn::cpu_kernels();
  std::string s = kernels::onednn::cpu_kernels_name(kernels);
  if (kernels == kernels::onednn::CpuKernels::OneDnn) s += " (" + kernels::onednn::version_string() + ")";
  return s;
}

#if SPML_WITH_CUDA
// The policy lives with the cuDNN code (kernels/cuda/conv_cudnn.cu), which reads it at every call.
void set_conv_exclude_fft_winograd(bool exclude) {
  kernels::cuda::set_conv_exclude_fft_winograd(exclude);
}
bool conv_exclude_fft_winograd() {
  return kernels::cuda::conv_exclude_fft_winograd();
}
void set_conv_force_im2col(bool force) {
  kernels::cuda::set_conv_force_im2col(force);
}
bool conv_force_im2col() {
  return kernels::cuda::conv_force_im2col();
}
#else
namespace {
std::atomic<bool> g_conv_exclude_fft_winograd{false}, g_conv_force_im2col{false};
}  // namespace
void set_conv_exclude_fft_winograd(bool exclude) {
  g_conv_exclude_fft_winograd = exclude;
}
bool conv_exclude_fft_winograd() {
  return g_conv_exclude_fft_winograd.load();
}
void set_conv_force_im2col(bool force) {
  g_conv_force_im2col = force;
}
bool conv_force_im2col() {
  return g_conv_force_im2col.load();
}
#endif

BuildInfo build_info() {
  BuildInfo info;
  info.cuda = SPML_WITH_CUDA != 0;
  info.cuda_architectures = info.cuda ? SPML_CUDA_ARCHITECTURES_STRING : "";
  info.gemm = kernels::cpu::gemm_backend_name();
  info.onednn = kernels::onednn::version_string();
  info.version = SPML_VERSION_STRING;
  return info;
}

std::string build_info_string() {
  const BuildInfo info = build_info();
  std::string s = "spml " + info.version + ", CUDA ";
  s += info.cuda ? "on (archs " + info.cuda_architectures + ", " +
                       (cuda_runtime::is_available() ? "device " + cuda_runtime::device_name(0)
                                                     : cuda_runtime::unavailable_reason()) +
                       ")"
                 : "off";
  s += ", GEMM " + info.gemm + ", CPU kernels " + cpu_kernels_description() + ", " + std::to_string(num_threads()) +
       " threads";
  return s;
}

}  // namespace spml
