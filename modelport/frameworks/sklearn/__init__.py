"""scikit-learn estimators and pipelines (skops, pickles with --trust)."""
