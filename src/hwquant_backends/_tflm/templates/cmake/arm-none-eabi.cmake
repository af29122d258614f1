# CMake toolchain file for a bare-metal Cortex-M build with the GNU Arm toolchain
# (Debian/Ubuntu: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib).
# Usage: cmake -B build-m4 -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake -DTFLM_DIR=... [-DMCU_FLAGS="..."]
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Cortex-M4F by default; e.g. "-mcpu=cortex-m0plus -mthumb" for the RP2040.
set(MCU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" CACHE STRING "CPU flags")
set(CMAKE_C_FLAGS_INIT "${MCU_FLAGS} -Os")
set(CMAKE_CXX_FLAGS_INIT "${MCU_FLAGS} -Os")
# newlib's nosys stubs let the demo link without a board support package; on a real board
# link the `tflm` and `model` libraries into the vendor project instead.
set(CMAKE_EXE_LINKER_FLAGS_INIT "${MCU_FLAGS} --specs=nosys.specs --specs=nano.specs -Wl,--gc-sections")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
