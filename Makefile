# The README's verbs. Thin: set-up lives in scripts/, the build in CMake presets.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
# ccache hits across clones (CI builds a fresh clone each time): paths relative to the
# checkout, and the working directory left out of the hash.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all setup build test fuzz demo bench asan format docs clean tap-bundle image

all: build

setup:
	@bash scripts/setup.sh

build/build.ninja:
	cmake --preset default

build: setup build/build.ninja
	cmake --build --preset default -j $(JOBS)

# The bounded fuzz run goes first so that ctest's summary is the last thing printed.
test: build fuzz
	ctest --preset default -j $(JOBS) --timeout 600

build-fuzz/build.ninja:
	cmake --preset fuzz

fuzz: setup build-fuzz/build.ninja
	cmake --build --preset fuzz --target envelope_fuzzer -j $(JOBS)
	mkdir -p build-fuzz/corpus
	set -o pipefail; ./build-fuzz/bin/envelope_fuzzer -artifact_prefix=build-fuzz/ -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 build-fuzz/corpus fuzz/corpus 2>&1 | tail -n 12

# meshtrace-tap with its own loader and libraries, to put into a runtime image (docs/tap.md).
tap-bundle: build
	bash scripts/bundle-tap.sh build/bin build/tap-bundle

# One container image with every binary, from Debian's archive (docs/deploy.md, "Images").
image: build
	bash scripts/build-image.sh build/bin build/image

demo: build
	./build/bin/meshtrace demo $(DEMO_ARGS)

build-release/build.ninja:
	cmake --preset release

# Refreshes the README's pasted output and docs/report.png from a demo run.
docs: build
	/usr/bin/python3 scripts/docs.py --write

bench: setup build-release/build.ninja
	cmake --build --preset release -j $(JOBS)
	@set -e; for b in build-release/bin/*_bench; do \
	  echo "== $$b"; \
	  case $$b in *envelope_bench) $$b --benchmark_counters_tabular=true;; *) $$b;; esac; \
	done

asan: setup
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) --timeout 900

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan build-release build-fuzz
