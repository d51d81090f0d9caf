# Two commands on a fresh machine: `make demo` and `make test`.
# torch must be installed first, pinned, from the local CPU wheel (an unpinned torch pulls a CUDA build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: install browser demo test test-fast lint bench clean

install: $(VENV)/.installed

# Chromium (apt) installs in the background while pip works: the two share no lock, and apt's download would
# otherwise add its minute to every fresh install.
$(VENV)/.installed: pyproject.toml
	@$(MAKE) -s browser > .browser-install.log 2>&1 & browser=$$!; \
	$(PYTHON) -m venv $(VENV) && \
	$(PY) -m pip install -q --upgrade pip && \
	$(PY) -m pip install -q $(TORCH) && \
	$(PY) -m pip install -q -e '.[all,litert,transformers,sentence,genai,ray,mlflow,serve,openvino,executorch,sign,report,dev]'; \
	status=$$?; wait $$browser; cat .browser-install.log; rm -f .browser-install.log; exit $$status
	touch $@

# Debian's Chromium for the report page tests (tests/browser.py); they are skipped, saying why, where it is absent.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "chromium not installed (apt-get install chromium): the report page tests will be skipped"

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest -q -p no:cacheprovider --durations=30

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check modelport tests benchmarks examples
	$(VENV)/bin/lint-imports

bench: install
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/convert_overhead.py

clean:
	rm -rf $(VENV) examples/out
