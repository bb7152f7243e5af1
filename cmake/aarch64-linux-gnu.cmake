# Cross toolchain for the boards (Raspberry Pi 5, Android phones): g++-aarch64-linux-gnu, tests
# run under qemu-aarch64. HILQ_QEMU_CPU picks the emulated core (max = i8mm, cortex-a76 = dotprod).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(HILQ_QEMU_CPU "max" CACHE STRING "qemu-aarch64 -cpu value for running tests")
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -cpu ${HILQ_QEMU_CPU} -L /usr/aarch64-linux-gnu)
