# Two commands on a fresh machine: `make demo` and `make test`.
# torch must be installed first, pinned, from the local CPU wheel (an unpinned torch pulls a CUDA build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: install demo test test-fast lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[all,litert,transformers,sentence,genai,ray,mlflow,serve,openvino,executorch,sign,dev]'
	touch $@

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
