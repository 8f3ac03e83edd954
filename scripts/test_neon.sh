#!/usr/bin/env bash
# Cross-builds the test suite for ARM64 (Debian's g++-aarch64-linux-gnu) and runs it
# under qemu-aarch64, so the NEON kernels are checked against the scalar reference on
# any x86 machine. `--install` first installs the cross compiler,
# qemu and the arm64 PCRE2 (apt-get, multiarch; needs root or sudo).
#   scripts/test_neon.sh [--install] [doctest options]   (BUILD_DIR=build-arm64, JOBS=nproc by default)
# Only the corvid-tests target is built (no tools, no CUDA), at low priority so that a
# shared machine stays usable.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-arm64}
jobs=${JOBS:-$(nproc)}
sysroot=/usr/aarch64-linux-gnu

if [ "${1:-}" = "--install" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test_neon: need root or sudo to install packages" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  # libpcre2-dev:arm64 comes from the arm64 half of the archive (multiarch); the cross
  # g++ brings its own arm64 libstdc++ and libgomp (OpenMP) under $sysroot.
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu qemu-user libpcre2-dev:arm64 \
    libcli11-dev doctest-dev nlohmann-json3-dev cmake make pkg-config
  shift
fi
for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake pkg-config; do
  command -v "$tool" >/dev/null || { echo "test_neon: $tool is missing (run: $0 --install)" >&2; exit 1; }
done
[ -e /usr/lib/aarch64-linux-gnu/pkgconfig/libpcre2-8.pc ] ||
  { echo "test_neon: the arm64 PCRE2 (libpcre2-dev:arm64) is missing (run: $0 --install)" >&2; exit 1; }

start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCORVID_CUDA=OFF -DCORVID_BUILD_TOOLS=OFF -DCORVID_BUILD_TESTS=ON >/dev/null
nice -n 10 cmake --build "$build" -j "$jobs" --target corvid-tests
built=$(date +%s)

# -cpu max: an Armv8.x core with the dot-product instructions, so the NEON path is the
# detected one; CORVID_TEST_REQUIRE_ISA=neon makes the conformance test fail (rather
# than test the reference against itself) if it is not. The whole suite runs (about 4
# minutes on 2 cores, a third of it the Gemma end-to-end check when models/ has the
# model): the NEON kernels against the reference and in real models, and everything
# else once on a target where char is unsigned and the C library differs. Extra
# arguments go to doctest, e.g. -tc='conformance: *' for the kernels alone.
# LD_LIBRARY_PATH: the cross toolchain's C library, the one its loader belongs to (see
# the toolchain file: the multiarch libc6:arm64 next to PCRE2 hangs pthread_create).
CORVID_TEST_REQUIRE_ISA=neon nice -n 10 qemu-aarch64 -cpu max -L "$sysroot" -E LD_LIBRARY_PATH="$sysroot/lib" \
  "$build/tests/corvid-tests" "$@"
end=$(date +%s)
echo "test_neon: build $((built - start)) s, tests under qemu $((end - built)) s"
