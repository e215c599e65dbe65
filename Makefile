# The two commands a newcomer runs: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COLLECTIONS := $(CURDIR)/build/collections
LINK := $(COLLECTIONS)/ansible_collections/lockpool/git

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)
export LOCKPOOL_PYTHON := $(CURDIR)/$(PY)

.PHONY: demo test unit integration bench stress kill-load sanity venv link system-packages clean

demo: venv link
	$(PY) demo/run.py

test: venv link system-packages
	$(VENV)/bin/pytest tests

unit: venv link
	$(VENV)/bin/pytest tests/unit

integration: venv link system-packages
	$(VENV)/bin/pytest tests/integration

# Benchmarks: a few minutes; prints the table, writes bench/results/latest.json and docs/performance.md.
bench: venv link system-packages
	$(PY) bench/run.py

# ansible-test sanity and units on a copy of the tracked files (run by .ci/run after `make test`).
sanity: venv
	.ci/ansible-test

# Not part of `make test`: 16 processes x 300 acquisitions on 4 locks over git daemon; writes docs/reliability.md.
stress: venv link system-packages
	PYTHONPATH=$(COLLECTIONS):$(CURDIR)/tests $(PY) -m support.load 16 300 4 --report docs/reliability.md

# Not part of `make test`: 54 plays of the role killed while they wait, hold and release (3 workers), and what lease
# renewals cost other claimers; about 10 minutes; writes docs/reliability.md.
kill-load: venv link system-packages
	PYTHONPATH=$(COLLECTIONS):$(CURDIR)/tests $(PY) -m support.kill_load 54 3 --report docs/reliability.md

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The collection must sit at ansible_collections/lockpool/git to be imported; a link keeps it live.
link: $(LINK)

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

system-packages:
	tests/setup/install-system-packages

clean:
	rm -rf build $(VENV) tests/output
