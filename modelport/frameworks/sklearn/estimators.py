"""Walking scikit-learn estimators: every estimator nested in pipelines, column transformers and ensembles."""

from __future__ import annotations


def walk(estimator):
    """Every estimator nested in pipelines, column transformers and ensembles."""
    stack = [estimator]
    while stack:
        node = stack.pop()
        yield node
        for attr in ("steps", "transformers_", "estimators_", "named_estimators_"):
            children = getattr(node, attr, None)
            if isinstance(children, dict):
                stack.extend(children.values())
            elif isinstance(children, list):
                stack.extend(c[1] if isinstance(c, tuple) else c for c in children)
        for attr in ("estimator_", "best_estimator_"):
            if hasattr(node, attr):
                stack.append(getattr(node, attr))
