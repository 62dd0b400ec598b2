// The test binary's main: the apps' process set-up first (passive OpenMP waiting, and OpenBLAS's real kernels on
// a CPU it does not recognise; both re-execute the binary once), then GoogleTest. Every test is a parity run in the
// sense of docs/design.md section 9: CUDA convolutions do without cuDNN's FFT and Winograd algorithms, whose float
// error is the largest (tests that need another setting save and restore it).
#include <gtest/gtest.h>

#include "framework/core/runtime.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  ::testing::InitGoogleTest(&argc, argv);
  spml::set_conv_exclude_fft_winograd(true);
  return RUN_ALL_TESTS();
}
