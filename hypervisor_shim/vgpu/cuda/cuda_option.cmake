# HIX_ENABLE_CUDA: the cuda backend and the CUDA crypto engine (this folder),
# their GPU tests and benchmarks (tests/vgpu/cuda, tests/gpu,
# docs/performance.md). On by default when a working nvcc of CUDA 13 or later
# is found: CUDACXX, nvcc on PATH, or
# /usr/local/cuda/bin/nvcc (where CUDA installs it, often not on PATH).
# Included from the top-level CMakeLists.txt, because the CUDA language must
# be enabled in the directory that holds every target that uses it
# (hypervisor_shim/ and tests/). Kernels are built for sm_90 (H100, H200).
include(CheckLanguage)
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(HIX_NVCC nvcc PATHS /usr/local/cuda/bin)
  if(HIX_NVCC)
    # check_language and enable_language both read CUDACXX.
    set(ENV{CUDACXX} ${HIX_NVCC})
  endif()
endif()
check_language(CUDA)

set(hix_cuda_default OFF)
if(CMAKE_CUDA_COMPILER)
  execute_process(COMMAND ${CMAKE_CUDA_COMPILER} --version
    OUTPUT_VARIABLE hix_nvcc_version ERROR_QUIET)
  if(hix_nvcc_version MATCHES "release ([0-9]+)\\.([0-9]+)" AND CMAKE_MATCH_1 GREATER_EQUAL 13)
    set(hix_cuda_default ON)
  endif()
endif()
option(HIX_ENABLE_CUDA "Build the cuda backend, the GPU crypto engine and their GPU tests and benchmarks (nvcc, CUDA >= 13)"
  ${hix_cuda_default})

if(HIX_ENABLE_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "HIX_ENABLE_CUDA=ON but no working nvcc was found (set CUDACXX)")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  enable_language(CUDA)
  if(CMAKE_CUDA_COMPILER_VERSION VERSION_LESS 13.0)
    message(FATAL_ERROR "HIX_ENABLE_CUDA needs CUDA 13 or later; nvcc is ${CMAKE_CUDA_COMPILER_VERSION}")
  endif()
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "HIX_ENABLE_CUDA: ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION} at ${CMAKE_CUDA_COMPILER}, sm_${CMAKE_CUDA_ARCHITECTURES})")
else()
  if(hix_cuda_default)
    message(STATUS "HIX_ENABLE_CUDA: OFF (turned off); the cuda backend and GPU crypto engine are not built")
  else()
    message(STATUS "HIX_ENABLE_CUDA: OFF (no nvcc of CUDA 13 or later found); the cuda backend and GPU crypto engine are not built")
  endif()
endif()
