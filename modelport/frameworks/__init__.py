"""Everything about one framework in one folder: loading it into a `Model`, what it says about its inputs
(input rules), its float64 twin, its intermediate values for `--locate` (taps). The folders do not import each
other (import-linter's independence contract); `hf` builds on `torch`."""
