"""Verification inputs: seeded arrays generated from the input specs and the model's own input rules
(`verify.synth`), or real arrays from an .npz file.

Inputs are generated once and fed to both models. Dynamic batch dims are exercised at two sizes
(N and 1); other dynamic dims at 8 and 5, or at the sizes the input's rule gives.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError
from modelport.core.model import GENERATED_SIZES

OTHER_DYNAMIC_SIZES = GENERATED_SIZES


class DataError(UsageError):
    """A data file the user gave (--data, --calibration) does not fit the model: always exit 2, whichever step
    or stage was reading it."""


def merge_specs(ref: list[TensorSpec], cand: list[TensorSpec]) -> list[TensorSpec]:
    """Specs both models accept: a dim fixed on either side is fixed. Matched by name, then position."""
    by_name = {s.name: s for s in cand}
    merged = []
    for i, spec in enumerate(ref):
        other = by_name.get(spec.name) or (cand[i] if len(cand) == len(ref) else None)
        if other is None or len(other.shape) != len(spec.shape):
            merged.append(spec)
            continue
        dims = tuple(a if isinstance(a, int) else b for a, b in zip(spec.shape, other.shape))
        merged.append(TensorSpec(spec.name, dims, spec.dtype))
    return merged


ROWS, MIN_ROWS, ROW_VALUES = 16, 4, 1 << 19


def row_values(specs: list[TensorSpec]) -> int:
    """Values in one row of generated input (dims other than the first; a dynamic one counts 1)."""
    return sum(math.prod(d for d in s.shape[1:] if isinstance(d, int)) for s in specs)


def default_rows(specs: list[TensorSpec]) -> tuple[int, str | None]:
    """(rows, the input that made them fewer): 16 rows unless that is over ROW_VALUES values, then as many as
    fit, at least MIN_ROWS. A ResNet at 224x224 (150,528 values a row) gets 4: every weight is exercised by each
    row, and 16 rows cost its reference run as much as a fifth of the conversion."""
    per_row = row_values(specs)
    if per_row * ROWS <= ROW_VALUES:
        return ROWS, None
    largest = max(specs, key=lambda s: math.prod(d for d in s.shape[1:] if isinstance(d, int)))
    return max(MIN_ROWS, ROW_VALUES // max(per_row, 1)), largest.name


def batch_sizes(specs: list[TensorSpec], samples: int) -> list[int]:
    """One entry per verification case."""
    first = [s.shape[0] for s in specs if s.shape]
    if not first:
        return [1]
    if all(not isinstance(d, int) for d in first):
        return [samples, 1] if samples > 1 else [1]
    fixed = next(d for d in first if isinstance(d, int))
    return [fixed] * max(1, math.ceil(samples / max(fixed, 1)))


def generate(
    specs: list[TensorSpec], samples: int = 16, seed: int = 0, int_range: tuple[int, int] = (0, 10),
    rules: dict | None = None,
) -> list[dict[str, np.ndarray]]:
    """Seeded inputs for `specs`; `rules` (by input name, see `modelport.core.model.InputRule`) say where real
    values lie. A lone 2-D input with split thresholds also gets rows just either side of them (first case)."""
    from modelport.verify.synth import probes, values

    rules = rules or {}
    rng = np.random.default_rng(seed)
    rows = max([samples] + [r.rows for r in rules.values()])
    cases = []
    for case, batch in enumerate(batch_sizes(specs, rows)):
        feed = {}
        for spec in specs:
            rule = rules.get(spec.name)
            sizes = rule.sizes if rule is not None and rule.sizes else OTHER_DYNAMIC_SIZES
            shape = []
            for i, d in enumerate(spec.shape):
                if isinstance(d, int):
                    shape.append(d)
                elif i == 0:
                    shape.append(batch)
                else:
                    shape.append(sizes[case % 2])
            feed[spec.name] = values(rng, shape, spec.dtype, int_range, rule)
        cases.append(feed)
    only = specs[0] if len(specs) == 1 else None
    if only is not None and only.name in rules and only.shape and not isinstance(only.shape[0], int):
        base = cases[0][only.name]
        cases[0][only.name] = np.concatenate([base, probes(base, rules[only.name])])
    return cases


def load_npz(path: str | Path, specs: list[TensorSpec], warnings: list[str] | None = None
             ) -> list[dict[str, np.ndarray]]:
    """Real inputs from an .npz holding one array per input (by name; a lone array fits a lone input)."""
    try:
        data = dict(np.load(str(path), allow_pickle=False))
    except Exception as exc:
        raise DataError(f"{path}: cannot read .npz data ({type(exc).__name__}: {exc})") from exc
    arrays = {k: v for k, v in data.items() if k != "labels"}
    feed = {}
    for spec in specs:
        if spec.name in arrays:
            feed[spec.name] = arrays[spec.name]
        elif len(specs) == 1 and len(arrays) == 1:
            feed[spec.name] = next(iter(arrays.values()))
        else:
            raise DataError(
                f"{path}: no array named '{spec.name}'",
                hint=f"arrays in file: {', '.join(arrays) or 'none'}; inputs: {', '.join(s.name for s in specs)}",
            )
        value = feed[spec.name]
        if len(value.shape) != len(spec.shape) or any(
            isinstance(d, int) and d != v for d, v in list(zip(spec.shape, value.shape))[1:]
        ):
            raise DataError(f"{path}: array '{spec.name}' has shape {list(value.shape)}, "
                             f"expected {[d if isinstance(d, int) else '?' for d in spec.shape]}")
        if spec.dtype[:3] in ("int", "uin", "boo") and value.dtype.kind == "f" and not np.all(value == np.round(value)):
            raise DataError(f"{path}: array '{spec.name}' holds fractional floats for an {spec.dtype} input",
                             hint=f"save it as {spec.dtype}")
    fixed = specs[0].shape[0] if specs and specs[0].shape and isinstance(specs[0].shape[0], int) else None
    if fixed is None:
        return [feed]
    rows = len(next(iter(feed.values())))
    if rows < fixed:
        raise DataError(f"{path}: {rows} rows, but the model takes batches of exactly {fixed}",
                         hint=f"provide at least {fixed} rows")
    if rows % fixed and warnings is not None:
        warnings.append(f"the model's batch is fixed at {fixed}: the last {rows % fixed} of {rows} rows were not used")
    return [{k: v[i:i + fixed] for k, v in feed.items()} for i in range(0, rows - fixed + 1, fixed)]


def load_typed(path: str | Path, specs: list[TensorSpec], chunk: int | None = None) -> list[dict[str, np.ndarray]]:
    """Representative inputs (calibration) from an .npz, in each input's own dtype (np.savez keeps float64 and
    calibrators refuse it), optionally cut into batches of `chunk` rows. Batches have equal sizes (a shorter
    last batch is dropped when there is a full one): histogram calibrators stack them."""
    from modelport.core.model import cast_feed

    cases = load_npz(path, specs)
    if chunk:
        cut = []
        for case in cases:
            rows = len(next(iter(case.values())))
            size = min(chunk, rows)
            cut += [{k: v[i:i + size] for k, v in case.items()} for i in range(0, rows - size + 1, size)]
        cases = cut
    return [dict(zip([s.name for s in specs], cast_feed(case, specs))) for case in cases]


def load_labels(path: str | Path, rows: int | None = None) -> np.ndarray:
    """The `labels` array of an .npz (class indices or regression targets), one per input row."""
    try:
        data = np.load(str(path), allow_pickle=False)
        labels = np.asarray(data["labels"]).reshape(-1) if "labels" in data.files else None
    except Exception as exc:
        raise DataError(f"{path}: cannot read .npz data ({type(exc).__name__}: {exc})") from exc
    if labels is None:
        raise DataError(f"{path}: no array named 'labels'", hint="save the targets as labels=... in the .npz")
    if labels.dtype.kind not in "biuf":
        raise DataError(f"{path}: labels are {labels.dtype}, not numbers",
                        hint="save class indices 0..C-1 (or regression targets)")
    if rows is not None and len(labels) != rows:
        raise DataError(f"{path}: {len(labels)} labels for {rows} input rows")
    return labels


def calibration_inputs(options, specs: list[TensorSpec], method: str, chunk: int = 16
                       ) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """What an int8 method calibrates on: `options.calibration`'s rows in batches of `chunk`, else 64 generated
    rows (seeded from `options.seed`) with the warning the user needs. Returns (feeds, warnings)."""
    if options.calibration:
        return load_typed(options.calibration, specs, chunk=chunk), []
    return generate(specs, samples=64, seed=options.seed + 1), [
        f"{method} was calibrated on generated inputs: its accuracy cannot be judged on synthetic data; pass "
        "--calibration FILE.npz with real inputs"]
