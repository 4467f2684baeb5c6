# cdrl build: `make` builds build/libcdrl.a and ./cdrl, `make test` runs every test,
# `make bench` the kernel benchmarks, `make sanitize` the tests under ASan and UBSan, `make lint`
# the include rules and the format, `make check` all of these but the benchmarks.
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

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libcdrl.a
	$(CC) $^ $(LDLIBS) -o $@.$$$$.tmp && mv $@.$$$$.tmp $@

# Runs every test program on each backend of BACKENDS (cpu, then the plain reference backend:
# the layer, network and official-iteration parity tests hold on both), then every
# tests/test_*.sh (each exits non-zero on any failure), and prints one summary line.
BACKENDS ?= cpu ref
test: $(TESTS) $(BUILD)/cdrl
	@pass=0; fail=0; for be in $(BACKENDS); do for t in $(TESTS); do \
	  if CDRL_BACKEND=$$be $$t > $$t.$$be.log 2>&1; then pass=$$((pass+1)); \
	  else fail=$$((fail+1)); cat $$t.$$be.log; echo "FAILED: $$t (backend $$be)"; fi; \
	done; echo "backend $$be: tests run"; done; for t in $(TEST_SH); do \
	  if CDRL=$(BUILD)/cdrl CLI_TEST_DIR=$(BUILD)/cli-test sh $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# What CI runs: the tests, then the tests again under the sanitizers.
check: lint test
	$(MAKE) sanitize

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
	$(MAKE) BUILD=build/san BACKENDS=cpu SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

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

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(BENCH_SRC) $(HEADERS)
format-check:
	@clang-format --dry-run -Werror $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(BENCH_SRC) $(HEADERS)

clean:
	rm -rf build cdrl
