# The two set-up commands of the README: `make book` (build the site on the quick CPU profile, reading the
# committed results store results/quick/runs/) and `make test`.
# `make book PROFILE=paper` runs the paper profile (on a GPU: ddlib/profiles/paper.yaml sets device: cuda).
# `make book FRESH=1` recomputes everything, in a fresh cache and store under _build/fresh/ (the committed store is
# not touched). `make evidence [PROFILE=...]` fills the committed store; it resumes where it stopped.
.DELETE_ON_ERROR:
SHELL := /bin/bash
PROFILE ?= quick
VENV := .venv
PY := $(VENV)/bin/python
CHAPTERS := 01_label_regimes 02_saturation 03_hard_label_reevaluation 04_difficulty_vs_compute 05_cad_prune_ca2d \
            06_audit_your_set 07_pitfalls

.PHONY: book test setup notebooks clean-book benchmark evidence recheck check-site

ifeq ($(FRESH),1)
export DDLIB_RESULTS := $(CURDIR)/_build/fresh/results
export DDLIB_CACHE := $(CURDIR)/_build/fresh/cache
endif

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

book/_static/mathjax/tex-svg.js:
	bash book/get_mathjax.sh

# Papermill runs every chapter (cached runs are read back, so a rebuild is quick), BOOK_JOBS at a time, then the
# generated pages. Chapters read each other's runs only through the store, so with the store complete they run side
# by side; FRESH=1 trains everything, so one chapter at a time (two would train the runs they share twice).
BOOK_JOBS ?= $(if $(filter 1,$(FRESH)),1,2)
EXECUTED := $(CHAPTERS:%=book/executed/%.ipynb)
GENERATED := book/_generated/provenance.md book/_generated/findings.md book/_generated/findings.svg \
             book/_generated/plan.md

notebooks: setup
	@if [ "$(FRESH)" = 1 ]; then rm -rf _build/fresh; fi
	@mkdir -p book/executed book/_generated
	$(PY) -m ddlib restore-artefacts --profile $(PROFILE)
	@$(MAKE) --no-print-directory -j$(BOOK_JOBS) --output-sync=target executed
	@$(MAKE) --no-print-directory -j$(BOOK_JOBS) --output-sync=target spot-check generated

.PHONY: executed generated spot-check $(EXECUTED) $(GENERATED)
executed: book/executed/03_hard_label_reevaluation.ipynb $(EXECUTED)   # the longest first: it sets the pace
generated: $(GENERATED)

# The spot check: stored runs from three chapters of this build re-run from scratch; a mismatch stops the build. It
# reads the chapters' tables, so it runs after them, beside the generated pages.
spot-check:
	$(PY) -m ddlib recheck --profile $(PROFILE)

$(EXECUTED): book/executed/%.ipynb: notebooks/%.ipynb
	@echo "papermill: $* ($(PROFILE) profile)"
	@$(VENV)/bin/papermill $< $@ -k python3 -f ddlib/profiles/$(PROFILE).yaml --progress-bar || { rm -f $@; exit 1; }

book/_generated/provenance.md:
	$(PY) -m ddlib provenance-table > $@
book/_generated/findings.md:
	$(PY) -m ddlib findings-table --profile $(PROFILE) > $@
book/_generated/findings.svg:
	$(PY) -m ddlib findings-figure --profile $(PROFILE) --out book/_generated/findings.svg
book/_generated/plan.md:
	$(PY) -m ddlib plan --params $(PROFILE) > $@

# The spot check's page (the check itself runs with the notebooks, above).
recheck: notebooks
	$(PY) -m ddlib reproducibility-table --profile $(PROFILE) > book/_generated/reproducibility.md

evidence: setup
	$(PY) -m ddlib evidence --params $(PROFILE) --progress
	$(PY) -m ddlib keep-artefacts --profile $(PROFILE)

book: setup book/_static/mathjax/tex-svg.js notebooks recheck
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book: _build/html/index.html"

# Two single-threaded workers, whole files at a time (a file's session fixtures are built once): 411 s against
# 698 s in one process, measured on this 2-core machine.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

# The built site as a reader sees it (ddlib/sitecheck.py): every page in headless Chromium at 1280 px; exit 1 naming
# each overflowing page, cut-off table, broken image and uncaptioned figure. Run after `make book` (it does not
# rebuild: a build re-runs the spot check).
check-site: setup
	$(PY) -m ddlib check-site _build/html

benchmark: setup
	$(PY) benchmarks/loop_vs_classic.py

clean-book:
	rm -rf _build book/executed book/_generated
