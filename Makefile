# The two commands a new user needs:  make demo   and   make test
# Both set everything up on a fresh machine with Python 3.11 and apt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vocalmind-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# command:Debian package. The tests also need a PostgreSQL server and a headless Chromium.
DEMO_TOOLS := ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox
TEST_TOOLS := $(DEMO_TOOLS) chromium:chromium
# the GE2E speaker encoder's wheel (weights inside); --no-deps: webrtcvad-wheels serves its need
SPEAKER_ENCODER := resemblyzer==0.1.4
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test setup system-demo system-test lint bench clean

demo: system-demo $(STAMP)
	$(VENV)/bin/vocalmind demo --out demo-out

test: system-test $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15

setup: system-test $(STAMP)

# System packages (Debian/Ubuntu names), installed only when a tool is missing.
system-demo: TOOLS = $(DEMO_TOOLS)
system-test: TOOLS = $(TEST_TOOLS)
system-test: NEED_PG = 1
system-demo system-test:
	@missing=""; for t in $(TOOLS); do cmd=$${t%%:*}; pkg=$${t##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$(NEED_PG)" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  missing="$$missing postgresql"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@[ -x "$(PY)" ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,encoders]'
	$(PY) -m pip install -q --no-deps $(SPEAKER_ENCODER)
	@touch $@

lint: setup
	$(VENV)/bin/ruff check src tests bench

bench: setup
	$(PY) bench/bench_emodb_baselines.py

clean:
	rm -rf demo-out runs .cache .pytest_cache
