# The two commands a new user needs:  make demo   and   make test
# Both set everything up on a fresh machine with Python 3.11 and apt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vocalmind-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_TOOLS := ffmpeg espeak-ng sox
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test setup system lint bench clean

demo: setup
	$(VENV)/bin/vocalmind demo --out demo-out

test: setup
	$(PY) -m pytest -q -n 2 --durations=15

setup: system $(STAMP)

# System packages (Debian/Ubuntu names), installed only when a tool is missing.
system:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@[ -x "$(PY)" ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

lint: setup
	$(VENV)/bin/ruff check src tests bench

bench: setup
	$(PY) bench/bench_emodb_baselines.py

clean:
	rm -rf demo-out runs .cache .pytest_cache
