# The two commands: `make demo` and `make check`. Both install what is
# missing (scripts/install-deps.sh), configure and build first.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_MODEL ?= models/hyenadna-tiny-1k.yaml

.PHONY: all deps configure build check demo clean install

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

clean:
	rm -rf $(BUILD)

# PREFIX=/usr/local by default (CMake's); DESTDIR is honoured. The prefix
# is configured in, since hyenac.pc names it.
install: configure
	$(if $(PREFIX),cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX))
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD)
