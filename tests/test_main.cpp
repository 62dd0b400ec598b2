// The test binary's main: the apps' process set-up first (passive OpenMP waiting, and OpenBLAS's real kernels on
// a CPU it does not recognise; both re-execute the binary once), then GoogleTest.
#include <gtest/gtest.h>

#include "framework/core/runtime.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
