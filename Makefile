# The two commands a newcomer runs: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COLLECTIONS := $(CURDIR)/build/collections
LINK := $(COLLECTIONS)/ansible_collections/lockpool/git

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)
export LOCKPOOL_PYTHON := $(CURDIR)/$(PY)

.PHONY: demo test unit integration bench stress kill-load sanity venv link system-packages clean \
	docs docs-lint docs-venv changelog changelog-lint matrix matrix-core

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

# ansible-lint, production profile, on the whole collection (.ansible-lint); the collection is found through the link.
.PHONY: lint
lint: venv link
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/ansible-lint

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

# The documentation site: every plugin's and the role's page from their documentation (antsibull-docs), and the
# guides in docs/*.md (MyST), built with Sphinx into $(DOCS)/build/html (index.html); about a minute.
DOCS_VENV := build/venv-docs
DOCS ?= $(CURDIR)/build/docs
DOCS_BIN := $(CURDIR)/$(DOCS_VENV)/bin

docs: docs-venv link
	rm -rf $(DOCS) && mkdir -p $(DOCS)
	PATH=$(DOCS_BIN):$$PATH antsibull-docs sphinx-init --use-current --dest-dir $(DOCS) \
	  --index-rst-source docs/docsite/site-index.rst --project lockpool.git --copyright 'lockpool.git developers' \
	  --title 'lockpool.git documentation' --no-add-antsibull-docs-version lockpool.git >/dev/null
	cat docs/docsite/site-conf.py.in >>$(DOCS)/conf.py
	cd $(DOCS) && mkdir -p rst && chmod og-w rst && PATH=$(DOCS_BIN):$$PATH antsibull-docs \
	  --config-file antsibull-docs.cfg collection --cleanup everything --use-current --fail-on-error \
	  --dest-dir rst lockpool.git
	mkdir -p $(DOCS)/rst/guides && cp docs/*.md $(DOCS)/rst/guides/
	PATH=$(DOCS_BIN):$$PATH sphinx-build -M html $(DOCS)/rst $(DOCS)/build -q -c $(DOCS) -W --keep-going

# antsibull-docs' linter: the plugins' and the role's documentation (schema, markup, references) and docs/docsite.
docs-lint: docs-venv link
	PATH=$(DOCS_BIN):$$PATH antsibull-docs lint-collection-docs --plugin-docs $(LINK)

# CHANGELOG.rst previews the next release (galaxy.yml's version) from changelogs/fragments, without releasing:
# `antsibull-changelog release` runs on a copy, so the fragments stay for the real release.
CHANGELOG_WORK := build/changelog
CHANGELOG_COPY := $(CHANGELOG_WORK)/ansible_collections/lockpool/git
CHANGELOG_OUT ?= CHANGELOG.rst

changelog: docs-venv
	rm -rf $(CHANGELOG_WORK) && mkdir -p $(CHANGELOG_COPY)
	cp -r galaxy.yml plugins roles meta playbooks changelogs $(CHANGELOG_COPY)/
	find $(CHANGELOG_COPY) -name __pycache__ -prune -exec rm -rf {} +
	printf '%s\n' 'release_summary: >-' '  Not released yet: what the next release holds so far, made from changelogs/fragments' \
	  '  by ``make changelog``.' >$(CHANGELOG_COPY)/changelogs/fragments/0-unreleased-preview.yml
	cd $(CHANGELOG_COPY) && ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(CHANGELOG_WORK) PATH=$(DOCS_BIN):$$PATH \
	  antsibull-changelog release --date 1970-01-01 >/dev/null
	cp $(CHANGELOG_COPY)/CHANGELOG.rst $(CHANGELOG_OUT)

# The fragments and changelogs/changelog.yaml are valid, and CHANGELOG.rst is what `make changelog` writes now.
changelog-lint: docs-venv
	$(DOCS_BIN)/antsibull-changelog lint
	$(DOCS_BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	$(MAKE) --no-print-directory changelog CHANGELOG_OUT=$(CHANGELOG_WORK)/CHANGELOG.rst >/dev/null
	@cmp -s $(CHANGELOG_WORK)/CHANGELOG.rst CHANGELOG.rst || \
	  { diff -u CHANGELOG.rst $(CHANGELOG_WORK)/CHANGELOG.rst | head -40; echo 'CHANGELOG.rst is out of date: run make changelog' >&2; exit 1; }

docs-venv: $(DOCS_VENV)/.installed

$(DOCS_VENV)/.installed: requirements-docs.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_BIN)/python -m pip install --quiet --upgrade pip
	$(DOCS_BIN)/python -m pip install --quiet -r requirements-docs.txt
	touch $@

# The oldest ansible-core meta/runtime.yml claims, each in its own virtualenv build/venv-core-<version>: a smoke subset
# of the integration tests (claim, release, add, check and diff mode, pool_lock_info, pool_reap, the role, the lookup),
# then ansible-test sanity on a copy of the tracked files, as .ci/ansible-test makes it. The newest ansible-core this
# Python installs, 2.19, is requirements-dev.txt's: `make test` and `make sanity`. About 3 minutes;
# `make matrix MATRIX_CORES="2.16 2.17 2.18"` tries more.
MATRIX_CORES ?= 2.16
# What could pass on one ansible-core and fail on another; style checks (pylint, pep8, ...) run once, in `make sanity`.
MATRIX_SANITY := action-plugin-docs ansible-doc compile import runtime-metadata validate-modules yamllint
# The [in-process] variants run pool_lock as the action plugin does on ansible-core 2.19+ (get_module_encoder); older
# cores run the module in its own process, the [module] variants.
SMOKE_SELECT := -k 'not in-process'
SMOKE_TESTS := \
	tests/integration/test_pool_lock.py::test_acquire_without_name_claims_a_free_lock \
	tests/integration/test_pool_lock.py::test_claim_named_lock \
	tests/integration/test_pool_lock.py::test_release_moves_the_lock_back \
	tests/integration/test_pool_lock.py::test_add_unclaimed_with_metadata \
	tests/integration/test_pool_lock.py::test_check_mode_reports_the_change_and_pushes_nothing \
	tests/integration/test_pool_lock.py::test_diff_of_a_claim_shows_the_move \
	tests/integration/test_pool_lock_info.py::test_every_pool_with_its_counts_and_locks \
	tests/integration/test_pool_lock_info.py::test_holder_and_team_of_an_ansible_claim \
	tests/integration/test_leases_and_reaping.py::test_an_expired_lease_is_reaped_and_an_unexpired_one_never \
	tests/integration/test_with_lock_role.py::test_caller_tasks_see_the_claimed_lock_and_it_is_released_after \
	tests/integration/test_with_lock_role.py::test_a_failing_caller_task_fails_the_play_with_its_own_error_and_the_lock_is_released \
	tests/integration/test_with_lock_role.py::test_acquire_and_release_entry_points_wrap_the_callers_own_block \
	tests/integration/test_with_lock_role.py::test_role_arguments_are_validated_against_the_argument_specs \
	tests/integration/test_lookup_pool_lock.py::test_metadata_of_a_lock_as_data \
	tests/integration/test_lookup_pool_lock.py::test_pool_slash_lock_terms_need_no_pool_option_and_several_give_a_list \
	tests/integration/test_lookup_pool_lock.py::test_adhoc_debug_of_a_lookup

matrix: link system-packages
	for core in $(MATRIX_CORES); do $(MAKE) --no-print-directory matrix-core CORE=$$core || exit 1; done

matrix-core: build/venv-core-$(CORE)/.installed
	@echo "== ansible-core $(CORE): smoke tests"
	LOCKPOOL_PYTHON=$(CURDIR)/build/venv-core-$(CORE)/bin/python build/venv-core-$(CORE)/bin/pytest -p no:cacheprovider \
	  $(SMOKE_SELECT) $(SMOKE_TESTS)
	@echo "== ansible-core $(CORE): ansible-test sanity, the tests that depend on ansible-core's version"
	set -e; venv=$(CURDIR)/build/venv-core-$(CORE); \
	pip_version=$$(sed -n "s/^ *pip='\([0-9.]*\)',\$$/\1/p" $$venv/lib/python*/site-packages/ansible_test/_internal/python_requirements.py); \
	get_pip=~/.ansible/test/cache/get_pip_$$(echo $$pip_version | tr . _).py; \
	[ -e $$get_pip ] || { mkdir -p $$(dirname $$get_pip) && cp .ci/get_pip.py $$get_pip; }; \
	work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; copy=$$work/ansible_collections/lockpool/git; mkdir -p $$copy; \
	git ls-files -z | xargs -0 cp --parents -t $$copy; \
	cd $$copy && $$venv/bin/ansible-test sanity --python 3.11 --venv $(MATRIX_SANITY:%=--test %)

build/venv-core-%/.installed: requirements.txt
	$(PYTHON) -m venv build/venv-core-$*
	build/venv-core-$*/bin/python -m pip install --quiet --upgrade pip
	build/venv-core-$*/bin/python -m pip install --quiet 'ansible-core==$*.*' -r requirements.txt 'pytest>=8' 'pytest-timeout>=2.3'
	touch $@

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
