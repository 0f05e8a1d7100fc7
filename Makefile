# `make run`: set up and open the app on the shipped checkpoints. `make test`: set up and run every test.
# `make test-quick`: the tests not marked slow (no training, no server, no browser), in well under a minute.
# `make bench`: set up and run every benchmark.
# `make screenshots`: retake the docs' pictures (docs/images/) from the real app in Chromium.
# `make component`: rebuild the browser component (genviz/component/build/, committed) from its lockfile (needs Node + npm).
# `make component-check`: type-check its source and check a rebuild from the lockfile gives genviz/component/build/ byte for byte.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The browser tests drive Debian's Chromium; `make test` installs it when missing (root or sudo).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test test-quick bench screenshots component component-check
# The server answers at once; meanwhile, at the lowest CPU priority, the shipped decoders are exported for the
# browser and the checkpoints' explore bundles checked (built where missing or stale, and the dataset is there).
# benchmarks/cold_start.py times this recipe.
run: $(VENV)/.installed
	$(VENV)/bin/genviz serve checkpoints

test: $(VENV)/.installed $(CHROMIUM)
	$(PY) -m pytest

test-quick: $(VENV)/.installed
	$(PY) -m pytest -m "not slow"

# Every benchmark in turn (docs/benchmarks.md); run nothing else meanwhile.
bench: $(VENV)/.installed $(CHROMIUM)
	$(PY) -m benchmarks

screenshots: $(VENV)/.installed $(CHROMIUM)
	$(PY) -m support.screenshots

$(CHROMIUM):
	@if command -v apt-get >/dev/null; then \
		echo "Installing Chromium for the browser tests (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "No $(CHROMIUM) and no apt-get: the browser tests will be skipped"; \
	fi

# genviz itself is installed editable: the `genviz` command runs this checkout's code.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@

# The browser component's frontend: `npm ci` installs exactly what package-lock.json says, esbuild bundles it.
COMPONENT := component/frontend
component:
	cd $(COMPONENT) && npm ci --no-audit --no-fund && npm run build

component-check:
	cd $(COMPONENT) && npm ci --no-audit --no-fund && npm run check
	rm -rf $(COMPONENT)/.rebuild
	cd $(COMPONENT) && node build.mjs .rebuild
	diff -r genviz/component/build $(COMPONENT)/.rebuild && echo "genviz/component/build/ is what the lockfile builds"
	rm -rf $(COMPONENT)/.rebuild
