# slm - top-level entry points.  `make run` and `make test` set everything up
# on a fresh Debian/Ubuntu machine (scripts/install-deps installs what is missing).

BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PROMPT     ?= Once upon a time
SLM        := $(BUILD)/slm

.PHONY: all deps build run test asan fuzz test-arm64 install clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@MAKEFLAGS= MAKELEVEL= cmake --build $(BUILD) -j $(JOBS)

# The main job: generate text with the default model (downloaded once into
# ~/.cache/slm/models when it is not there).  $SLM_MODEL overrides it; on
# machines that have the shared test data beside the repository, that copy of
# the same model is used, so `make run` also works offline there.
SHARED_MODEL := $(or $(SLM_TEST_DATA),$(CURDIR)/../shared)/models/stories260K.gguf
run: build
	@if [ -z "$$SLM_MODEL" ] && [ -f "$(SHARED_MODEL)" ]; then export SLM_MODEL="$(SHARED_MODEL)"; fi; \
	  $(SLM) run -n 128 --prompt "$(PROMPT)"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLM_SANITIZE=ON >/dev/null
	@MAKEFLAGS= MAKELEVEL= cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (clang); FUZZ_SECONDS per target, starting from the committed corpus.
FUZZ_SECONDS ?= 60
fuzz: deps
	@SLM_DEPS_EXTRA="clang libclang-rt-14-dev" scripts/install-deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLM_FUZZ=ON -DSLM_TESTS=OFF -DSLM_CLI=OFF >/dev/null
	@MAKEFLAGS= MAKELEVEL= cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@scripts/run-fuzzers build-fuzz $(FUZZ_SECONDS)

# The SIMD kernel tests cross-compiled for aarch64 (NEON, with and without
# dotprod) and run under qemu-user.
test-arm64:
	@SLM_DEPS_EXTRA="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static" scripts/install-deps
	@SLM_REQUIRE_ARM64=1 scripts/test-arm64

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
