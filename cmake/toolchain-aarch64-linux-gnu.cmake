# Cross-compiling for 64-bit ARM with Debian's g++-aarch64-linux-gnu; the tests then run
# under qemu-aarch64 (scripts/test_neon.sh). Libraries for the target come from Debian's
# multiarch packages (libpcre2-dev:arm64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH) # header-only packages (CLI11, doctest, nlohmann-json) are arch-independent
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# Under qemu the binary must get the C library that matches the cross toolchain's
# loader (/usr/aarch64-linux-gnu/lib): without LD_LIBRARY_PATH the loader finds the
# multiarch libc6:arm64 (pulled in by libpcre2-dev:arm64) first, a different build of
# glibc whose private interface with that loader differs, and the first pthread_create
# loops forever. PCRE2 itself still comes from the multiarch directory.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
