# Included by the root CMakeLists.txt when SPML_FUZZ=ON: checks for clang and instruments every C/C++ target of the
# build for libFuzzer (coverage, no libFuzzer main), AddressSanitizer and UndefinedBehaviorSanitizer, so the library
# code the fuzz targets reach is instrumented too. The fuzz targets themselves link -fsanitize=fuzzer
# (tests/fuzz/CMakeLists.txt).
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "SPML_FUZZ=ON needs clang for C and C++ (libFuzzer), got CXX '${CMAKE_CXX_COMPILER_ID}' and C "
                      "'${CMAKE_C_COMPILER_ID}': configure with -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang "
                      "(Debian: apt-get install clang libclang-rt-dev libomp-dev), or use scripts/fuzz.sh")
endif()
if(SPML_SANITIZE)
  message(FATAL_ERROR "SPML_FUZZ=ON brings its own sanitizers: leave SPML_SANITIZE empty")
endif()
set(SPML_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${SPML_FUZZ_FLAGS}>")
add_link_options(-fsanitize=fuzzer-no-link,address,undefined)
