// Process-wide settings: the one thread policy (OpenMP and OpenBLAS together), the CUDA convolutions' algorithm
// policy and a description of the build (for logs and run records).
#pragma once

#include <string>

#include "framework/core/dtype.h"

namespace spml {

// Sets the CPU worker threads for OpenMP loops and the BLAS alike (n <= 0: all cores). BLAS is never called
// from inside an OpenMP region (the GEMM falls back to its serial builtin path there), so the two never
// oversubscribe the cores.
void set_num_threads(int n);
int num_threads();

// Makes idle OpenMP threads sleep instead of spin (OMP_WAIT_POLICY=passive) so they leave the cores to the
// BLAS threads between parallel regions: on 2 cores this more than halves a ResNet step. libgomp reads the
// variable when it loads, so when it is unset this sets it and re-executes the program (same argv) once; a
// value the user set is kept. Likewise OPENBLAS_CORETYPE when OpenBLAS did not recognise the CPU and fell back
// to its SSE3 kernels (kernels::cpu::openblas_coretype_hint). Apps call it first thing in main().
void init_process_threads(char** argv);

// The apps' common start: applies --threads and parses --device ("cpu", "cuda", "cuda:N"), failing with a
// message naming the flag when a CUDA device is asked for but cannot be used.
Device setup_threads_and_device(int threads, const std::string& device);

// The float32 CPU kernels (kernels/cpu/onednn_kernels.h): "onednn" or "reference"; empty keeps the current choice.
// Errors name `what` (the flag). Default: oneDNN when the build has it (SPML_CPU_KERNELS overrides it).
void set_cpu_kernels(const std::string& name, const char* what);
std::string default_cpu_kernels_name();
// The kernels in use, for logs and run records: "onednn (oneDNN 2.6.3 (OpenMP))" or "reference".
std::string cpu_kernels_description();

// The CUDA convolutions' algorithm policy (CPU convolutions ignore it; a build without CUDA only keeps the values).
// exclude_fft_winograd: cuDNN never picks its FFT and Winograd algorithms, whose float error is the largest (for
// CPU/CUDA parity runs; deterministic mode always excludes them). force_im2col: every CUDA convolution runs as im2col
// + cuBLAS GEMM, the float64 fallback when cuDNN has no algorithm, instead of cuDNN (for tests of that fallback).
// Both are off by default and apply from the next convolution on.
void set_conv_exclude_fft_winograd(bool exclude);
bool conv_exclude_fft_winograd();
void set_conv_force_im2col(bool force);
bool conv_force_im2col();

struct BuildInfo {
  bool cuda = false;
  std::string cuda_architectures;  // e.g. "90" or "80;90"; empty without CUDA
  std::string gemm;                // "openblas (pthreads, SkylakeX)", "builtin"
  std::string onednn;              // "oneDNN 2.6.3 (OpenMP)" or "none"
  std::string version;
};
BuildInfo build_info();
std::string build_info_string();  // one line: "spml 0.1.0, CUDA on (archs 90), GEMM openblas (pthreads), CPU kernels
                                  // onednn (...), 2 threads"

}  // namespace spml
