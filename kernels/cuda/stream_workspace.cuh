// Device scratch memory for one kernel call, allocated and freed in a stream's order (cudaMallocAsync from the
// device's default pool, which framework/cuda keeps cached: its release threshold is raised when the device's stream
// is created). Only the kernels queued in between use it, so concurrent calls never share it and the kernel's
// signature does not have to carry a workspace; a throw between the two frees it too.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "kernels/cuda/check.h"

namespace spml::kernels::cuda {

class StreamWorkspace {
 public:
  // what: the caller, for the error message ("batch-norm partials").
  StreamWorkspace(std::size_t bytes, cudaStream_t stream, const char* what) : stream_(stream) {
    if (bytes == 0) return;
    const cudaError_t status = cudaMallocAsync(&data_, bytes, stream);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();  // not sticky: a later launch check must not report it again
      data_ = nullptr;
      throw_cuda_error((std::string("cudaMallocAsync (") + what + ")").c_str(), int(status), cudaGetErrorString(status),
                       __FILE__, __LINE__);
    }
  }
  ~StreamWorkspace() {
    if (data_ != nullptr) (void)cudaFreeAsync(data_, stream_);  // destructors must not throw
  }
  StreamWorkspace(const StreamWorkspace&) = delete;
  StreamWorkspace& operator=(const StreamWorkspace&) = delete;
  template <class U>
  U* as() const {
    return static_cast<U*>(data_);
  }

 private:
  cudaStream_t stream_;
  void* data_ = nullptr;
};

}  // namespace spml::kernels::cuda
