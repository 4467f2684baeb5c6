# cdrl build: `make` builds build/libcdrl.a and ./cdrl, `make test` runs every test,
# `make bench` the kernel benchmarks, `make sanitize` the tests under ASan and UBSan, `make lint`
# the include rules and the format, `make check` all of these but the benchmarks, and the fuzz
# harnesses over their corpora (`make fuzz-check`).
# Options: NATIVE=1 (-march=native), DEBUG=1 (-O0, DEBUG asserts), NO_OMP=1, CC=clang.

CC      ?= cc
OPT     := -O2
ifeq ($(DEBUG),1)
OPT     := -O0 -DDEBUG
endif
ifeq ($(NATIVE),1)
OPT     += -march=native
endif
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual -Wdouble-promotion -Wvla \
           -Werror=implicit-function-declaration -Werror
# clang ignores the GCC-only optimize pragmas of ops/cpu/act.c (it vectorises those loops anyway)
ifneq ($(findstring clang,$(CC)),)
WARN    += -Wno-unknown-pragmas
endif
OMP     := -fopenmp
ifeq ($(NO_OMP),1)
OMP     := -Wno-unknown-pragmas
endif
# Open MPI (data-parallel jobs, README "Many processes"): on when mpicc is found; MPI=0 builds
# without it, MPI=1 insists. Its flags come from mpicc, so CC stays the compiler of the build.
MPI     ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := -DCDRL_MPI $(patsubst -I%,-isystem %,$(shell mpicc --showme:compile))
MPI_LIBS   := $(shell mpicc --showme:link)
endif
BUILD   ?= build
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -g $(OPT) $(WARN) $(OMP) $(SAN) $(MPI_CFLAGS) \
           -Iinclude -Isrc
LDLIBS  := -ldnnl -llapacke -llapack -lblas -lcjson -lpng -ljpeg -lz -lm $(MPI_LIBS) $(OMP) $(SAN)
PYTHON  ?= /usr/bin/python3

LIB_SRC   := $(sort $(wildcard src/*/*.c src/*/*/*.c))
LIB_SRC   := $(filter-out src/cli/%,$(LIB_SRC))
CLI_SRC   := $(wildcard src/cli/*.c)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_SH   := $(sort $(wildcard tests/test_*.sh))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
HEADERS   := $(wildcard include/*.h src/*/*.h src/*/*/*.h tests/*.h)

.SECONDARY:
.PHONY: all check lint test bench demo sanitize fixtures format format-check clean
all: $(BUILD)/libcdrl.a cdrl

# Objects and archives are written under a temporary name and renamed, so that two makes
# running at once in one tree never leave a half-written file behind.
$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(CFLAGS) -c $< -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

$(BUILD)/libcdrl.a: $(LIB_OBJ)
	@rm -f $@.$$$$.tmp; ar rcs $@.$$$$.tmp $^ && mv $@.$$$$.tmp $@

# The program is built in $(BUILD); ./cdrl is the copy of the default build's.
$(BUILD)/cdrl: $(CLI_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libcdrl.a
	$(CC) $^ $(LDLIBS) -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

cdrl: build/cdrl
	cp build/cdrl $@.$$$$.tmp && mv $@.$$$$.tmp $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libcdrl.a
	$(CC) $^ $(LDLIBS) -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

# The I/O fault shim of tests/test_io_faults.sh (LD_PRELOAD; plain, whatever SAN is).
$(BUILD)/tests/libfault_shim.so: tests/fault_shim.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -Wall $< -ldl -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

# The fuzz harnesses as plain programs over files (fuzz/replay_main.c, tests/test_fuzz_replay.sh).
$(BUILD)/tests/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c fuzz/fuzz_util.h $(BUILD)/libcdrl.a $(BUILD)/src/cli/args.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifuzz $< fuzz/replay_main.c $(BUILD)/src/cli/args.o $(BUILD)/libcdrl.a $(LDLIBS) \
	  -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libcdrl.a
	$(CC) $^ $(LDLIBS) -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

# Runs every test program on each backend of BACKENDS (cpu, then the plain reference backend:
# the layer, network and official-iteration parity tests hold on both), then every
# tests/test_*.sh (each exits non-zero on any failure), and prints one summary line.
BACKENDS ?= cpu ref
REPLAYS   := $(patsubst fuzz/fuzz_%.c,$(BUILD)/tests/replay_%,$(wildcard fuzz/fuzz_*.c))
test: $(TESTS) $(REPLAYS) $(BUILD)/tests/libfault_shim.so $(BUILD)/cdrl
	@pass=0; fail=0; for be in $(BACKENDS); do for t in $(TESTS); do \
	  if CDRL_BACKEND=$$be $$t > $$t.$$be.log 2>&1; then pass=$$((pass+1)); \
	  else fail=$$((fail+1)); cat $$t.$$be.log; echo "FAILED: $$t (backend $$be)"; fi; \
	done; echo "backend $$be: tests run"; done; for t in $(TEST_SH); do \
	  if CDRL=$(BUILD)/cdrl CLI_TEST_DIR=$(BUILD)/cli-test sh $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# What CI runs: the tests, then the tests again under the sanitizers.
check: lint test
	$(MAKE) sanitize
	$(MAKE) fuzz-check

# The include rules of the layers (scripts/lint.sh) and the house format (.clang-format).
lint: format-check
	@mkdir -p build && sh scripts/lint.sh

# Trains the checkerboard with the demo preset (about 3 minutes on 2 cores), writes
# runs/demo/samples.png and prints the held-out NLL and MMD.
demo: cdrl
	./cdrl train --data checkerboard --out runs/demo --preset demo --force

bench: $(BENCHES)
	@for b in $(BENCHES); do $$b || exit 1; done

sanitize:
	$(MAKE) BUILD=build/san BACKENDS=cpu SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer" test

# Regenerates tests/fixtures/*.safetensors with the PyTorch twin (needs python3-torch) and the
# yardstick's SciPy twin. With OFFICIAL=/path/to/CDRL (a checkout of the official repository)
# also the fixtures of tests/test_official_iter.c, which run the official training loop and
# sampler.
fixtures:
	@for f in ref/fixtures_*.py; do echo "$(PYTHON) $$f"; $(PYTHON) $$f || exit 1; done
	$(PYTHON) ref/yardstick_twin.py --fixture
	@if [ -n "$(OFFICIAL)" ]; then echo "$(PYTHON) ref/official_image_iter.py $(OFFICIAL)"; \
	  $(PYTHON) ref/official_image_iter.py "$(OFFICIAL)" || exit 1; \
	else echo "official_iter_*.safetensors kept (set OFFICIAL=/path/to/CDRL to remake them)"; fi

# Fuzzing (docs/reliability.md): the libFuzzer harnesses fuzz/fuzz_NAME.c, built with clang,
# ASan and UBSan in build/fuzz. `make fuzz` runs each for FUZZ_SECONDS on its corpus (the seeds
# in tests/corpus/NAME, which fuzz/make_seeds.c writes, and what it finds in
# build/fuzz/corpus/NAME); `make fuzz-check` (in make check) runs each over its seeds and the
# regression inputs of tests/corpus/NAME, then for a few seconds.
FUZZ_NAMES   := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 600
FUZZ_FLAGS   := -rss_limit_mb=2048 -timeout=20 -print_final_stats=1
FUZZ_MAKE    := $(MAKE) --no-print-directory BUILD=build/fuzz CC=clang \
                SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer"
.PHONY: fuzz fuzz-build fuzz-check fuzz-harnesses fuzz-seeds
fuzz-build:
	@$(FUZZ_MAKE) fuzz-harnesses
fuzz-harnesses: $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)
$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(BUILD)/libcdrl.a $(BUILD)/src/cli/args.o
	$(CC) $(CFLAGS) -Ifuzz -fsanitize=fuzzer $< $(BUILD)/src/cli/args.o $(BUILD)/libcdrl.a \
	  $(LDLIBS) -o $@.$$$$.tmp && mv $@.$$$$.tmp $@
fuzz: fuzz-build
	@for f in $(FUZZ_NAMES); do mkdir -p build/fuzz/corpus/$$f; echo "fuzz $$f: $(FUZZ_SECONDS) s"; \
	  build/fuzz/fuzz_$$f $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build/fuzz/crash-$$f- build/fuzz/corpus/$$f tests/corpus/$$f \
	    > build/fuzz/$$f.log 2>&1 || { tail -30 build/fuzz/$$f.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|cov:" build/fuzz/$$f.log | tail -2; done
fuzz-check: fuzz-build
	@for f in $(FUZZ_NAMES); do \
	  build/fuzz/fuzz_$$f $(FUZZ_FLAGS) -runs=0 tests/corpus/$$f > build/fuzz/$$f.check.log 2>&1 && \
	  rm -rf build/fuzz/check/$$f && mkdir -p build/fuzz/check/$$f && \
	  build/fuzz/fuzz_$$f $(FUZZ_FLAGS) -max_total_time=3 -seed=1 build/fuzz/check/$$f tests/corpus/$$f \
	    > build/fuzz/$$f.check.log 2>&1 || { tail -30 build/fuzz/$$f.check.log; echo "FAILED: fuzz $$f"; exit 1; }; \
	done; echo "fuzz-check: $(words $(FUZZ_NAMES)) harnesses ran over their corpora"
fuzz-seeds: build/make_seeds
	rm -rf tests/corpus.new && build/make_seeds tests/corpus.new && \
	  for d in tests/corpus.new/*; do mkdir -p tests/corpus/$${d##*/}; cp $$d/* tests/corpus/$${d##*/}/; done; \
	  rm -rf tests/corpus.new
build/make_seeds: fuzz/make_seeds.c build/libcdrl.a
	$(CC) $(CFLAGS) $< build/libcdrl.a $(LDLIBS) -o $@

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(BENCH_SRC) $(HEADERS) $(wildcard fuzz/*.[ch])
format-check:
	@clang-format --dry-run -Werror $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(BENCH_SRC) $(HEADERS) $(wildcard fuzz/*.[ch])

clean:
	rm -rf build cdrl
