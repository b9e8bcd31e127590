# What to compile, decided at configure time; the decisions and their reasons are installed as
# rlmba/_build.json, which `rlmba info` prints.
#
# RLMBA_CPP  (AUTO | ON | OFF, default AUTO): the C++/OpenMP extension rlmba._C. AUTO builds it
#   when a working C++ compiler is found and otherwise installs rlmba without it (the CPU ops
#   then run on the numba and torch backends); ON fails without a compiler.
# RLMBA_CUDA (AUTO | ON | OFF, default AUTO): the CUDA kernels in csrc/cuda. AUTO builds them
#   only when nvcc is found AND a GPU is visible at build time (`nvidia-smi -L` lists one, or
#   /dev/nvidia0 exists); ON builds them whenever nvcc is found (and fails without it).
# RLMBA_CUDA_ARCHS: the CUDA architectures, e.g. "80;90" (CMAKE_CUDA_ARCHITECTURES when given
#   directly wins). Default: "native" (the visible GPUs) under AUTO, "75;80;90" under ON.
include(CheckLanguage)

set(RLMBA_CPP "AUTO" CACHE STRING "Build the C++ extension: AUTO, ON or OFF")
set(RLMBA_CUDA "AUTO" CACHE STRING "Build the CUDA kernels: AUTO, ON or OFF")
set(RLMBA_CUDA_ARCHS "" CACHE STRING "CUDA architectures (default: native under AUTO, 75;80;90 under ON)")
foreach(option RLMBA_CPP RLMBA_CUDA)
  if(NOT ${option} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "${option}=${${option}}: expected AUTO, ON or OFF")
  endif()
endforeach()

set(RLMBA_WITH_CPP OFF)
set(RLMBA_WITH_CUDA OFF)
if(RLMBA_CPP STREQUAL "OFF")
  set(RLMBA_CPP_NOTE "not built: RLMBA_CPP=OFF")
else()
  check_language(CXX)
  if(CMAKE_CXX_COMPILER)
    enable_language(CXX)
    set(RLMBA_WITH_CPP ON)
    set(RLMBA_CPP_NOTE "built with ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
  elseif(RLMBA_CPP STREQUAL "ON")
    message(FATAL_ERROR "RLMBA_CPP=ON but no working C++ compiler was found (set CXX)")
  else()
    set(RLMBA_CPP_NOTE "not built: no working C++ compiler at build time; the CPU ops run on numba or torch")
    message(WARNING "rlmba: ${RLMBA_CPP_NOTE}")
  endif()
endif()

# CUDA must be decided before any target exists (else CUDA_ARCHITECTURES is empty at configure time).
if(RLMBA_CUDA STREQUAL "OFF")
  set(RLMBA_CUDA_NOTE "not built: RLMBA_CUDA=OFF")
elseif(NOT RLMBA_WITH_CPP)
  set(RLMBA_CUDA_NOTE "not built: the C++ extension is not built")
else()
  set(gpu_visible OFF)
  execute_process(COMMAND nvidia-smi -L RESULT_VARIABLE smi_status OUTPUT_VARIABLE smi_out ERROR_QUIET)
  if((smi_status EQUAL 0 AND smi_out MATCHES "GPU ") OR EXISTS /dev/nvidia0)
    set(gpu_visible ON)
  endif()
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    set(RLMBA_CUDA_NOTE "not built: no CUDA compiler (nvcc) found")
    if(RLMBA_CUDA STREQUAL "ON")
      message(FATAL_ERROR "RLMBA_CUDA=ON but no CUDA compiler was found")
    endif()
  elseif(RLMBA_CUDA STREQUAL "AUTO" AND NOT gpu_visible)
    set(RLMBA_CUDA_NOTE "not built: no GPU visible at build time (RLMBA_CUDA=AUTO; RLMBA_CUDA=ON builds anyway)")
  else()
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      if(RLMBA_CUDA_ARCHS)
        set(CMAKE_CUDA_ARCHITECTURES "${RLMBA_CUDA_ARCHS}")
      elseif(gpu_visible AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
        set(CMAKE_CUDA_ARCHITECTURES native)
      else()
        set(CMAKE_CUDA_ARCHITECTURES 75 80 90)
      endif()
    endif()
    enable_language(CUDA)
    set(RLMBA_WITH_CUDA ON)
    string(REPLACE ";" " " archs "${CMAKE_CUDA_ARCHITECTURES}")
    set(RLMBA_CUDA_NOTE "built with nvcc ${CMAKE_CUDA_COMPILER_VERSION} for architectures ${archs}")
  endif()
endif()
message(STATUS "rlmba: C++ extension ${RLMBA_CPP_NOTE}; CUDA kernels ${RLMBA_CUDA_NOTE}")

file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/_build.json"
     "{\"cpp\": \"${RLMBA_CPP_NOTE}\", \"cuda\": \"${RLMBA_CUDA_NOTE}\"}\n")
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/_build.json" DESTINATION rlmba)
