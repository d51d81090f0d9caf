"""Run a reference and a candidate model on the same inputs and compare every output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.core.attestation import inputs_digest
from modelport.core.errors import UnsupportedError, UsageError, one_line
from modelport.core.memory import give_back
from modelport.core.report import OutputResult, Verification
from modelport.verify.compare import Tolerance, compare_output, match_outputs
from modelport.verify.inputs import ROWS, default_rows, generate, load_npz, merge_specs, row_values
from modelport.verify.ties import TieRows, is_label, label_ties, union

if TYPE_CHECKING:
    import numpy as np

    from modelport.core.model import Model


@dataclass
class InputPlan:
    samples: int | None = None  # None: default_rows() of the inputs
    seed: int = 0
    int_range: tuple[int, int] = (0, 10)
    data: Path | None = None
    noise_floor: bool = True  # measure it (with the source's float64 twin) when an output misses atol/rtol
    detail: bool = False  # describe what was compared (verify/detail.py), for a report page


class ReferenceFailed(UsageError):
    """The reference model itself cannot run on the user's --data (exit 2, not a route failure)."""


class ReferenceBug(RuntimeError):
    """modelport ran the reference model wrongly (an internal error, exit 70)."""


class GeneratedInputsRejected(UnsupportedError):
    """The model refuses every input modelport could generate for it: it cannot be verified without --data
    (exit 3)."""


class Reference:
    """A reference model with its inputs and outputs computed once, reused for every candidate."""

    def __init__(self, model: Model, plan: InputPlan) -> None:
        self.model, self.plan = model, plan
        self._cache: dict[tuple, tuple[list, list]] = {}
        self.warnings: list[str] = []
        self.inputs_from: dict[str, str] = {}
        self._rules: dict | None = None
        self._twin = None  # the float64 twin once built, False when it cannot be
        self._twins: dict[int, list | None] = {}
        self._ties: dict[int, TieRows | None] = {}
        self.floor_note = "not needed: every output within atol/rtol"

    def rules(self) -> dict:
        """The model's input rules (read once; a model that cannot tell gets the generic generator)."""
        if self._rules is None:
            try:
                self._rules = self.model.input_rules()
            except Exception as exc:
                self._rules = {}
                self.warnings.append(f"could not read input rules from the model ({one_line(exc)}); "
                                     "generic inputs were generated")
        return self._rules

    def cases_for(self, candidate: Model) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
        specs = merge_specs(self.model.inputs, candidate.inputs)
        # dynamic dims by whether they are, not by name: inputs are generated the same whatever a dim is called,
        # so the cases computed early on the source's own specs serve a candidate that names its dims otherwise
        key = tuple((s.name, tuple(d if isinstance(d, int) else None for d in s.shape), s.dtype) for s in specs)
        if key not in self._cache:
            if self.plan.data:
                cases = load_npz(self.plan.data, specs, self.warnings)
                self.inputs_from = {s.name: str(self.plan.data) for s in specs}
            else:
                from modelport.verify.synth import describe

                rules = self.rules()
                samples, capped = (self.plan.samples, None) if self.plan.samples else default_rows(specs)
                cases = generate(specs, samples, self.plan.seed, self.plan.int_range, rules)
                self.inputs_from = {s.name: describe(rules.get(s.name), s.dtype, self.plan.int_range) for s in specs}
                if capped:
                    self.inputs_from[capped] += (f"; {samples} rows, not {ROWS}: a row holds "
                                                 f"{row_values(specs):,} values (--samples N for more)")
                self._add_boundary_rows(specs, cases)
            try:
                outs = [self.model.run(c) for c in cases]
            except UsageError:
                raise
            except (AttributeError, NameError) as exc:  # modelport ran the model wrongly: a bug (exit 70)
                raise ReferenceBug(f"running {self.model.path} as a reference: {one_line(exc)}") from exc
            except Exception as exc:
                if self.plan.data:
                    raise ReferenceFailed(f"{self.model.path}: the model fails on the inputs in {self.plan.data} "
                                          f"({one_line(exc)})", hint="check the arrays in --data") from exc
                raise GeneratedInputsRejected(
                    f"{self.model.path}: the model rejects the inputs modelport generated for it "
                    f"({one_line(exc)})", hint="pass --data with real rows (or --input to fix shapes/dtypes)") from exc
            self._cache[key] = (cases, outs)
            give_back()  # the reference runs' activations
        return self._cache[key]

    def _add_boundary_rows(self, specs, cases: list[dict]) -> None:
        """Rows either side of the source's own decision boundary, appended to the first case (verify/boundary.py).
        A source that fails here fails again, with its message, on the reference run that follows."""
        import numpy as np

        from modelport.verify.boundary import boundary_rows

        if len(specs) != 1 or not specs[0].shape or isinstance(specs[0].shape[0], int):
            return
        name = specs[0].name
        try:
            rows = boundary_rows(self.model.run, cases[0], self.plan.seed)
        except Exception:
            return
        if rows is not None:
            cases[0][name] = np.concatenate([cases[0][name], rows])
            self.inputs_from[name] += f", + {len(rows)} rows either side of its decision boundary"

    def twin_outputs(self, cases: list[dict]) -> list[dict] | None:
        """The source's float64 twin on the same cases (None, with floor_note saying why, when unavailable).
        The twin is built once, however many candidates or input shapes ask."""
        from modelport.core.logs import quiet

        if self._twin is None and not self._repeatable(cases):
            self._twin = False
        if self._twin is None:
            try:
                with quiet("torch", "keras", "tensorflow"):
                    self._twin = self.model.float64_twin()
                self.floor_note = f"measured against {self._twin.framework_version}"
            except Exception as exc:
                self._twin = False
                self.floor_note = f"unavailable ({one_line(exc)}): fixed tolerances only"
        if self._twin is False:
            return None
        key = id(cases)  # a list held in self._cache for the Reference's lifetime
        if key not in self._twins:
            try:
                with quiet("torch", "keras", "tensorflow"):
                    self._twins[key] = [self._twin.run(c) for c in cases]
            except Exception as exc:
                self._twins[key] = None
                self.floor_note = f"unavailable ({one_line(exc)}): fixed tolerances only"
        return self._twins[key]

    def tie_rows(self, cases: list[dict], warnings: list[str]) -> TieRows | None:
        """Per case, the rows the model says rest on a tie (Model.tie_rows); None when it knows of none."""
        key = id(cases)  # a list held in self._cache for the Reference's lifetime
        if key not in self._ties:
            self._ties[key] = None
            try:
                found = [self.model.tie_rows(c) for c in cases]
            except Exception as exc:
                warnings.append(f"could not look for ties in the source ({one_line(exc)}): none assumed")
                found = []
            if any(f is not None for f in found):
                rule = next(f[0] for f in found if f is not None)
                self._ties[key] = TieRows([None if f is None else f[1] for f in found], rule)
        return self._ties[key]

    def _repeatable(self, cases: list[dict]) -> bool:
        """Does the source give the same outputs when run again on the same inputs? A model with random ops
        (or dropout left in training mode) does not, and its float64 twin would differ from it by that
        randomness, not by rounding: no floor can be measured, and the report says why."""
        import numpy as np

        outs = next((o for c, o in self._cache.values() if c is cases), None)
        if not outs:
            return True
        again = self.model.run(cases[0])
        worst = 0.0
        for name, value in outs[0].items():
            a, b = np.asarray(value), np.asarray(again.get(name))
            if a.shape == b.shape and a.dtype.kind == "f" and b.dtype.kind == "f" and a.size:
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
                worst = max(worst, float(np.nanmax(diff)) if not np.isnan(diff).all() else 0.0)
        if worst == 0.0:
            return True
        self.floor_note = (f"not used: the source gives other outputs when run again on the same inputs (max abs "
                           f"{worst:.3g}), so its float64 twin would differ by that, not by rounding")
        self.warnings.append(f"the source model is not deterministic (two runs on the same inputs differ by up to "
                             f"{worst:.3g}: random ops, or dropout in training mode?): its outputs cannot be "
                             "matched exactly")
        return False


def verify_models(reference: Reference, candidate: Model, tol: Tolerance) -> Verification:
    cases, ref_outs = reference.cases_for(candidate)
    try:
        cand_outs = [candidate.run(_rename_for(candidate, c)) for c in cases]
    except Exception as exc:  # a candidate that cannot run on the inputs fails verification
        atol, rtol = tol.atol, tol.rtol
        reason = f"the candidate fails to run: {one_line(exc)}"
        results = [OutputResult(n, "", list(v.shape), [], False, atol, rtol, reason=reason)
                   for n, v in ref_outs[0].items()]
        return Verification(False, results, seed=reference.plan.seed, warnings=list(reference.warnings),
                            error=reason)
    sequences = [n for n, v in cand_outs[0].items() if not hasattr(v, "shape")]
    if sequences:  # e.g. skl2onnx's per-target probabilities of a multi-output classifier
        cand_outs = [{n: v for n, v in o.items() if n not in sequences} for o in cand_outs]
    ref_names = list(ref_outs[0])
    cand_names = list(cand_outs[0])
    pairs, how = match_outputs(ref_names, cand_names, {n: v.shape for n, v in ref_outs[0].items()},
                               {n: v.shape for n, v in cand_outs[0].items()})
    warnings = [f"candidate outputs that are sequences, not tensors (not compared): {', '.join(sequences)}"] \
        if sequences else []
    if how in ("position", "shape"):
        warnings.append(f"outputs matched by {how}: " + ", ".join(f"{a}->{b}" for a, b in pairs if a != b))
    model_ties = reference.tie_rows(cases, warnings)
    results: dict[str, OutputResult] = {}
    twins = None
    labels = []
    for ref_name, cand_name in pairs:
        atol, rtol = tol.for_output(ref_name)
        if cand_name is None:
            results[ref_name] = OutputResult(ref_name, "", list(ref_outs[0][ref_name].shape), [], False, atol, rtol,
                                             reason="missing in candidate")
            continue
        refs, cands = [o[ref_name] for o in ref_outs], [o[cand_name] for o in cand_outs]
        if is_label(refs):
            labels.append((ref_name, cand_name))  # compared after the scores, whose ties they may share
            continue
        share = tol.range_share if ref_name not in tol.per_output else 0.0
        own = tol.own_scale and ref_name not in tol.per_output
        result = compare_output(ref_name, cand_name, refs, cands, atol, rtol, tol.max_mismatch, ties=model_ties,
                                range_share=share, own_scale=own)
        if not result.passed and not result.exact and result.reason is None and reference.plan.noise_floor:
            twins = twins if twins is not None else reference.twin_outputs(cases)
            if twins is not None and all(ref_name in t for t in twins):
                result = compare_output(ref_name, cand_name, refs, cands, atol, rtol, tol.max_mismatch,
                                        [t[ref_name] for t in twins], ties=model_ties, range_share=share,
                                        own_scale=own)
        if result.ties:
            result.tie_rule = model_ties.rule
        results[ref_name] = result
    for ref_name, cand_name in labels:
        results[ref_name] = _compare_label(ref_name, cand_name, ref_outs, cand_outs, results, tol, model_ties)
    for result in results.values():
        if result.ties:
            warnings.append(f"'{result.name}': {result.ties} value(s) differ only in rows the source decides by a "
                            f"tie ({result.tie_rule}): counted as ties, not mismatches")
    results = [results[name] for name, _ in pairs]
    extra = [n for n in cand_names if n not in {c for _, c in pairs}]
    if extra:
        warnings.append("candidate outputs not in the reference (not compared): " + ", ".join(extra))
    batches = [len(next(iter(c.values()))) if c and next(iter(c.values())).ndim else 1 for c in cases]
    detail = None
    if reference.plan.detail:
        from modelport.verify.detail import describe

        try:  # a picture of the verdict must never change it
            detail = describe(cases, ref_outs, cand_outs, pairs, results, reference.inputs_from, reference.plan.seed)
        except Exception as exc:
            detail = {"error": f"could not describe the comparison: {one_line(exc)}"}
    return Verification(
        passed=all(r.passed for r in results) and bool(results),
        outputs=results,
        batch_sizes=batches,
        samples=sum(batches),
        seed=reference.plan.seed,
        inputs_from=dict(reference.inputs_from),
        matched_by=how,
        warnings=list(reference.warnings) + warnings,
        noise_floor=reference.floor_note if reference.plan.noise_floor else "not measured (switched off)",
        inputs_sha256=inputs_digest(cases),
        detail=detail,
    )


def _compare_label(ref_name: str, cand_name: str, ref_outs: list[dict], cand_outs: list[dict],
                   scores: dict[str, OutputResult], tol: Tolerance, model_ties) -> OutputResult:
    """A label output, exactly; where it differs, rows the source decides by a tie of one of its score outputs'
    top two values (verify/ties.py) count as ties."""
    atol, rtol = tol.for_output(ref_name)
    refs, cands = [o[ref_name] for o in ref_outs], [o[cand_name] for o in cand_outs]
    result = compare_output(ref_name, cand_name, refs, cands, atol, rtol, ties=model_ties)
    if model_ties is not None and result.ties:
        result.tie_rule = model_ties.rule
    if result.passed or not result.exact or not result.mismatch_ratio:
        return result
    for score in scores.values():
        if score.exact or score.reason is not None:
            continue
        tied = label_ties(refs, cands, [o[score.name] for o in ref_outs], score)
        if tied is None:
            continue
        retry = compare_output(ref_name, cand_name, refs, cands, atol, rtol, ties=union(model_ties, tied))
        if retry.ties > result.ties:
            retry.tie_rule = (f"its top two '{score.name}' within twice their tolerance"
                              + (" or noise floor" if score.noise_floor else ""))
            result = retry
    return result


def _rename_for(candidate: Model, feed: dict) -> dict:
    """Feed by the candidate's own input names when both sides name inputs differently."""
    names = [s.name for s in candidate.inputs]
    if all(n in feed for n in names) or len(names) != len(feed):
        return feed
    return dict(zip(names, feed.values()))
