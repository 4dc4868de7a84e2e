# Decides whether the CUDA backend is built (KDCU_CUDA = AUTO | ON | OFF | EMU) and finds cuBLAS and
# cuDNN. cuDNN 9 is looked for in the CUDA toolkit's own include/lib64 folders first, then the system's.
# Result: KDCU_WITH_CUDA (ON/OFF) and, when ON, the imported target kdcu::cudnn.
# EMU: the CUDA backend compiled as C++ by the host compiler and run by kdcu's SIMT emulator (emu/),
# which needs only the toolkit's headers (KDCU_CUDA_INCLUDE); result KDCU_WITH_CUDA and KDCU_CUDA_EMU ON.

string(TOUPPER "${KDCU_CUDA}" KDCU_CUDA)
if(NOT KDCU_CUDA MATCHES "^(AUTO|ON|OFF|EMU)$")
  message(FATAL_ERROR "KDCU_CUDA must be AUTO, ON, OFF or EMU; found '${KDCU_CUDA}'")
endif()

set(KDCU_WITH_CUDA OFF)
set(KDCU_CUDA_EMU OFF)
if(KDCU_CUDA STREQUAL "EMU")
  find_path(KDCU_CUDA_INCLUDE cuda_runtime_api.h HINTS "$ENV{CUDA_HOME}/include" PATHS /usr/local/cuda/include /usr/include)
  find_path(KDCU_CUDNN_INCLUDE cudnn.h HINTS "${KDCU_CUDA_INCLUDE}" PATHS /usr/include /usr/include/x86_64-linux-gnu)
  if(NOT KDCU_CUDA_INCLUDE OR NOT KDCU_CUDNN_INCLUDE OR NOT EXISTS "${KDCU_CUDA_INCLUDE}/cublas_v2.h")
    message(FATAL_ERROR "KDCU_CUDA=EMU needs the CUDA toolkit's headers (cuda_runtime_api.h, cublas_v2.h) and cuDNN 9's "
                        "cudnn.h; looked in /usr/local/cuda/include and the system folders. Install the CUDA toolkit "
                        "and cuDNN (their headers are enough), or set CUDA_HOME.")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # The emulator finds each kernel's __shared__ variables and __launch_bounds__ through named
    # sections; GCC drops the section attribute of template instantiations, clang keeps it.
    message(FATAL_ERROR "KDCU_CUDA=EMU needs clang (found ${CMAKE_CXX_COMPILER_ID}): configure with "
                        "CC=clang CXX=clang++, as the 'emu' preset does (scripts/setup.sh --with-emu installs it).")
  endif()
  # clang's OpenMP runtime is libomp, but Debian's OpenBLAS (OpenMP flavour) runs on GCC's libgomp;
  # two runtimes in one process make a BLAS call inside kdcu's parallel loops spin forever. So
  # clang emits calls into libgomp here, the one runtime of the process.
  execute_process(COMMAND gcc -print-file-name=libgomp.so OUTPUT_VARIABLE _gomp OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT EXISTS "${_gomp}")
    message(FATAL_ERROR "KDCU_CUDA=EMU: GCC's libgomp.so was not found ('gcc -print-file-name=libgomp.so' gave "
                        "'${_gomp}'); install g++.")
  endif()
  foreach(_lang C CXX)
    set(OpenMP_${_lang}_FLAGS "-fopenmp=libgomp" CACHE STRING "OpenMP flags (emulation build: libgomp)")
    set(OpenMP_${_lang}_LIB_NAMES "gomp" CACHE STRING "OpenMP libraries (emulation build: libgomp)")
  endforeach()
  set(OpenMP_gomp_LIBRARY "${_gomp}" CACHE FILEPATH "GCC's OpenMP runtime")
  set(KDCU_WITH_CUDA ON)
  set(KDCU_CUDA_EMU ON)
  message(STATUS "kdcu: CUDA backend on kdcu's SIMT emulator (headers from ${KDCU_CUDA_INCLUDE})")
elseif(NOT KDCU_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(KDCU_WITH_CUDA ON)
  elseif(KDCU_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KDCU_CUDA=ON but no CUDA compiler (nvcc) was found. Install the CUDA toolkit, "
                        "set CUDACXX to nvcc's path, or configure with -DKDCU_CUDA=OFF.")
  else()
    message(STATUS "kdcu: no nvcc found; building the CPU backend only (KDCU_CUDA=AUTO)")
  endif()
endif()

if(KDCU_WITH_CUDA AND NOT KDCU_CUDA_EMU)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures to compile for")
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)

  find_path(KDCU_CUDNN_INCLUDE cudnn.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} "${CUDAToolkit_LIBRARY_ROOT}/include"
    PATHS /usr/include /usr/include/x86_64-linux-gnu)
  find_library(KDCU_CUDNN_LIBRARY cudnn
    HINTS ${CUDAToolkit_LIBRARY_DIR} "${CUDAToolkit_LIBRARY_ROOT}/lib64"
    PATHS /usr/lib/x86_64-linux-gnu)
  if(NOT KDCU_CUDNN_INCLUDE OR NOT KDCU_CUDNN_LIBRARY)
    set(_msg "cuDNN was not found (looked for cudnn.h and libcudnn in ${CUDAToolkit_INCLUDE_DIRS} and "
             "${CUDAToolkit_LIBRARY_DIR}, then the system folders). kdcu's convolutions need cuDNN 9.")
    if(KDCU_CUDA STREQUAL "ON")
      message(FATAL_ERROR ${_msg} " Install cuDNN 9 for this CUDA toolkit, or configure with -DKDCU_CUDA=OFF.")
    endif()
    message(WARNING ${_msg} " Building the CPU backend only (KDCU_CUDA=AUTO).")
    set(KDCU_WITH_CUDA OFF)
  else()
    add_library(kdcu::cudnn UNKNOWN IMPORTED)
    set_target_properties(kdcu::cudnn PROPERTIES
      IMPORTED_LOCATION "${KDCU_CUDNN_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${KDCU_CUDNN_INCLUDE}")
    message(STATUS "kdcu: CUDA ${CUDAToolkit_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}, "
                   "cuDNN ${KDCU_CUDNN_LIBRARY}")
  endif()
endif()
