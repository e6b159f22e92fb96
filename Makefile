# Sahayak: `make run` starts everything, `make test` runs every test. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export ACTION_PORT ?= 5055
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test chat train setup browser prepare validate bench clean help

help:
	@echo "make run    set up, train if needed, start the whole stack and print where to chat"
	@echo "make test   set up and run every test"
	@echo "make chat   talk to the running assistant from the terminal"
	@echo "make train  train the model if data or config changed"
	@echo "make browser install Debian's Chromium for the browser tests (root; make test does it)"

# Python 3.10 is what Rasa 3.6 supports: find it, or say exactly how to get it.
$(STAMP): requirements.lock
	@set -e; \
	if [ ! -x $(PY) ]; then \
	  found=""; \
	  for candidate in python3.10 "$$(command -v pyenv >/dev/null && pyenv root 2>/dev/null)/versions/"3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do \
	    if command -v "$$candidate" >/dev/null 2>&1 && "$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then found="$$candidate"; break; fi; \
	  done; \
	  if [ -z "$$found" ]; then \
	    echo "Sahayak needs Python 3.10 (Rasa 3.6 supports nothing newer), and none was found."; \
	    echo "Install it, then run make again:"; \
	    echo "  with pyenv:        pyenv install 3.10"; \
	    echo "  Debian/Ubuntu:     sudo apt install python3.10 python3.10-venv   (Ubuntu: from the deadsnakes PPA)"; \
	    echo "  macOS (Homebrew):  brew install python@3.10"; \
	    exit 1; \
	  fi; \
	  echo "Creating $(VENV) with $$found"; \
	  "$$found" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet "pip==24.0" "setuptools==70.3.0" "wheel==0.45.1"
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(STAMP)

setup: $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium through Playwright's Python package (never
# `playwright install`: no browser download works here), with fonts to show Hindi and Tamil in screenshots.
# Installed when missing and we are root (as in CI); otherwise say what to install, and the browser tests skip.
BROWSER_PACKAGES := chromium chromium-driver fonts-lohit-deva fonts-lohit-taml
browser:
	@set -e; \
	if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "The browser tests need Debian's chromium and chromium-driver, which are not installed; they will be skipped."; \
	  echo "Install them (as root), then run make test again:"; \
	  echo "  sudo apt-get install --no-install-recommends $(BROWSER_PACKAGES)"; \
	  exit 0; \
	fi; \
	echo "Installing Debian's Chromium for the browser tests: $(BROWSER_PACKAGES)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update && apt-get install -y --no-install-recommends $(BROWSER_PACKAGES)

prepare: setup
	$(PY) -m bot prepare

train: setup
	$(PY) -m bot train

run: setup
	$(PY) -m bot run

chat: setup
	$(PY) -m bot chat

validate: setup
	$(PY) -m bot.rasa_cli data validate --fail-on-warnings

# Unit tests first (fast, no model), then data validation, training if needed, and the tests that use the
# trained model and the real servers. One pytest run, so its closing line counts every test.
test: setup browser
	$(PY) -m bot.rasa_cli data validate --fail-on-warnings
	$(PY) -m bot train
	$(PY) -m pytest -p no:cacheprovider

bench: setup
	@echo "Benchmarks are run one by one; see docs/benchmarks.md for the commands."

clean:
	rm -rf var models/sahayak.tar.gz models/sahayak.fingerprint results
