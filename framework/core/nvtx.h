// RAII NVTX range: shows ops and training phases as named ranges in Nsight Systems. Compiled out without CUDA
// (nvtx3 is header-only, so CUDA builds need no extra library and nothing happens unless a profiler attaches).
#pragma once

#if SPML_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace spml {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
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
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace spml
