// RAII NVTX range: shows ops and training phases as named ranges in Nsight Systems (compiled out without CUDA;
// nvtx3 is header-only, so CUDA builds need no extra library and nothing happens unless a profiler attaches), and
// feeds the host-side op profile (framework/core/profiler.h) when that is switched on.
#pragma once

#include "framework/core/profiler.h"

#if SPML_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace spml {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) : profiled_(profiler::enabled()) {
    if (profiled_) profiler::detail::push(name);
#if SPML_WITH_CUDA
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#if SPML_WITH_CUDA
    nvtxRangePop();
#endif
    if (profiled_) profiler::detail::pop();
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;

 private:
  bool profiled_;
};

}  // namespace spml
