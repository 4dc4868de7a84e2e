# Decides whether the CUDA backend is built (KDCU_CUDA = AUTO | ON | OFF) and finds cuBLAS and cuDNN.
# cuDNN 9 is looked for in the CUDA toolkit's own include/lib64 folders first, then the system's.
# Result: KDCU_WITH_CUDA (ON/OFF) and, when ON, the imported target kdcu::cudnn.

string(TOUPPER "${KDCU_CUDA}" KDCU_CUDA)
if(NOT KDCU_CUDA MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "KDCU_CUDA must be AUTO, ON or OFF; found '${KDCU_CUDA}'")
endif()

set(KDCU_WITH_CUDA OFF)
if(NOT KDCU_CUDA STREQUAL "OFF")
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

if(KDCU_WITH_CUDA)
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
