# A thin front over CMake. Everything real lives in CMakeLists.txt.
#   make            configure + build (Release) into build/
#   make test       build, then run the whole test suite with ctest
#   make asan       build with AddressSanitizer + UBSan into build-asan/ and run the suite
#   make install    install into $(PREFIX) (header, libraries, pkg-config, CMake package)
#   make setup      install build dependencies (Debian/Ubuntu, apt-get)
#   make model      fetch the default model into models/
#   make clean      remove build directories

BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
PREFIX    ?= /usr/local
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all build test asan install setup model clean

all: build

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

asan:
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORVID_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

setup:
	./scripts/install_deps.sh

model:
	python3 scripts/fetch_model.py

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
