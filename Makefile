# iHanoi Signage — the commands the README names.
#   make demo    a simulated district on this machine (local Mosquitto, collector, agents, panel emulator)
#   make test    the whole test suite (starts its own Mosquitto and PostgreSQL where needed)
#   make bench   the benchmarks in bench/ (figures in the README come from here)
#   make mutate  mutation score of the modules that carry the rules (docs/mutation.md; slow, not in CI)
# Both install what they need first: Debian packages (with sudo when not root) and a venv in .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the tests and the demo use (see README, "Dependencies").
APT_PACKAGES := python3-venv python3-dev mosquitto mosquitto-clients xfonts-base postgresql chromium \
	ansible ansible-lint debootstrap openssl systemd python3-pil cmake g++ ninja-build \
	mpv fonts-noto-core fonts-dejavu-core
# The tests build the real rpi-rgb-led-matrix from this source tarball of the pinned commit when
# it is there (no network needed); otherwise they clone the pinned commit from upstream.
IHANOI_RGBMATRIX_TARBALL ?= $(firstword $(wildcard ../shared/vendor/rpi-rgb-led-matrix-cf60d08f*.tar.gz))
export IHANOI_RGBMATRIX_TARBALL
# The demo serves the dashboard after its report until Ctrl-C; DEMO_ARGS= (empty) just prints the report.
DEMO_ARGS ?= --serve
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: system-deps venv test demo bench check clean mutate

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(MAKE) system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(MAKE) system-deps
	$(PY) -m pytest -q -p no:cacheprovider

demo: $(STAMP)
	$(MAKE) system-deps
	$(PY) -m ihanoi.tools.demo $(DEMO_ARGS)

bench: $(STAMP)
	$(PY) bench/run_all.py

# Mutation testing, one rule after the other (MUTATE_ARGS="outbox auth" for some, "--report" for the table).
MUTATE_ARGS ?=
mutate: $(STAMP)
	$(PY) -c 'import mutmut' 2>/dev/null || $(PY) -m pip install -q -e '.[mutate]'
	$(PY) bench/mutate.py $(MUTATE_ARGS)

check: $(STAMP)
	$(VENV)/bin/ihanoi-edge check-config --skip-files firmware_config/devices/hbt-bach-mai-01.toml

clean:
	rm -rf $(VENV) var build *.egg-info mutants
