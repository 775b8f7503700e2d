# The two commands: `make demo` and `make check`. Both install what is
# missing (scripts/install-deps.sh), configure and build first.
# Hostile inputs (docs/fuzzing.md): `make check-sanitize` runs the whole
# suite built with ASan+UBSan in build-san/; `make fuzz` builds the
# libFuzzer targets into build-fuzz/ and `make fuzz-run` runs each one
# FUZZ_TIME seconds, two at a time.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_MODEL ?= models/hyenadna-tiny-1k.yaml
SAN_BUILD ?= build-san
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 600
FUZZ_TARGETS = yaml hf_config safetensors npy fasta gzip ir argv vcf bed

.PHONY: all deps configure build check demo clean check-sanitize fuzz fuzz-run install

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD) $(DEMO_MODEL)

check-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DHYENAC_SANITIZE=ON
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS)

fuzz: deps
	cmake -S fuzz -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang-19
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Each target for FUZZ_TIME seconds, JOBS at a time; logs and final
# stats in $(FUZZ_BUILD)/TARGET.log, findings in $(FUZZ_BUILD)/artifacts/.
fuzz-run: fuzz
	@printf '%s\n' $(FUZZ_TARGETS) | BUILD_FUZZ=$(FUZZ_BUILD) \
		xargs -P $(JOBS) -I{} sh -c 'fuzz/run.sh {} $(FUZZ_TIME) || \
		{ echo "fuzz {}: finding, see $(FUZZ_BUILD)/{}.log"; exit 1; }'
	@for t in $(FUZZ_TARGETS); do printf '%-12s ' $$t; \
		grep 'cov:' $(FUZZ_BUILD)/$$t.log | tail -n 1; done

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)

# PREFIX=/usr/local by default (CMake's); DESTDIR is honoured. The prefix
# is configured in, since hyenac.pc names it.
install: configure
	$(if $(PREFIX),cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX))
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD)
