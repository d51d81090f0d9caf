"""The loaded-model protocol every step receives and every runner implements.

A `Model` is what `modelport.loaders.open_model` returns for any format: its interface (`inputs` as
TensorSpecs with symbolic dims where any size works, `outputs` as names) and `run(feed) -> {name: array}`.
The same object is a step's source and a verification runner. Framework-specific loaders subclass it and
add what their steps need (`TorchModel.module`, `KerasModel.model`, `SklearnModel.estimator`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError
from modelport.core.formats import Format

if TYPE_CHECKING:
    import numpy as np


class Model:
    """A loaded model. `inputs` are specs with symbolic dims where the model accepts any size."""

    format: Format
    path: Path | str
    inputs: list[TensorSpec]
    outputs: list[str]
    framework_version: str = ""
    notes: list[str] | tuple = ()  # what the report should say about how the model was read (warnings)

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def input_rules(self) -> dict[str, InputRule]:
        """What the model says about its inputs' values, by input name ({}: nothing; generic inputs are used)."""
        return {}

    def float64_twin(self) -> Model:
        """The same model computed in float64 (its outputs minus this model's are float32 rounding alone).
        Raises NotImplementedError (or anything else) with the reason when it cannot be built."""
        raise NotImplementedError(f"no float64 twin for {self.format} models")

    def tie_rows(self, feed: dict[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
        """Rows of `feed` whose outputs rest on a tie that float32 rounding can break either way, with what the
        tie is ("the k-th and next neighbour are equidistant"); None when the model knows of none. Outputs that
        show their own ties (two top scores equal) need nothing here: verification reads those itself."""
        return None

    def taps(self) -> list[Tap]:
        """Intermediate values this model can expose, in execution order (for `--locate`); [] when it cannot."""
        return []

    def tap_values(self, feed: dict[str, np.ndarray], keys: list[str]) -> dict[str, np.ndarray]:
        """Run once and return the intermediate values named by `keys` (from `taps()`), nothing else kept."""
        raise NotImplementedError(f"{self.format} models do not expose intermediate values")

    def weight_bytes(self) -> int | None:
        """Bytes of the model's weights as stored (None: this loader cannot tell)."""
        return None

    def release(self) -> None:
        """Drop what running the model holds (its weights) until it is used again, which reads it from its file
        once more. Verification calls this once the reference outputs exist, before the candidate's session
        opens: the two are never held together. Default: nothing to drop (or no file to read it again from)."""

    def source_facts(self) -> dict[str, Any]:
        """What the written file's provenance should say about this source beyond its format (default: nothing)."""
        return {}

    def inspect(self) -> dict[str, Any]:
        """Format-specific facts for `modelport inspect`: operators, parameters, versions."""
        return {}

    def info(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format.value,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": list(self.outputs),
        }


def cast_feed(feed: dict[str, np.ndarray], specs: list[TensorSpec]) -> list[np.ndarray]:
    """Arrays for `specs` in order, taken by name (or by position), cast to each spec's dtype."""
    import numpy as np

    names = list(feed)
    arrays = []
    for i, spec in enumerate(specs):
        if spec.name in feed:
            value = feed[spec.name]
        elif len(feed) == len(specs):
            value = feed[names[i]]
        else:
            raise UsageError(
                f"no data for input '{spec.name}'", hint=f"inputs given: {', '.join(names) or 'none'}"
            )
        arrays.append(np.asarray(value).astype(spec.dtype, copy=False))
    return arrays


# sizes of a generated input's dynamic non-batch dims in the two verification cases (unless its rule says)
GENERATED_SIZES = (8, 5)


@dataclass
class InputRule:
    """Where the real values of one input lie, as the loaded model itself says: a preprocessing layer's range,
    an embedding's vocabulary, a fitted scaler's statistics, tree split thresholds. Verification generates
    inputs from it (when no --data is given) so that the comparison exercises the model as real data would.

    Per-feature values (lists) run along the input's last axis. `thresholds`: per feature, split points that
    rows are placed just either side of (where float32 and float64 disagree, and where a moved threshold shows).
    """

    source: str  # what the report says: "Rescaling(scale=0.00784, offset=-1): uniform [0, 255]"
    low: float | list[float] | None = None  # uniform over [low, high]
    high: float | list[float] | None = None
    mean: float | list[float] | None = None  # normal(mean, std)
    std: float | list[float] | None = None
    integers: tuple[int, int] | None = None  # integers in [lo, hi)
    mask: bool = False  # attention-mask-like: ones, with some trailing zeros per row
    thresholds: list[list[float]] | None = None
    rows: int = 0  # generate at least this many rows (models cheap enough to probe widely)
    choices: list[list[float]] | None = None  # per feature, the values it takes (fitted categories)
    examples: Any = None  # real rows the model keeps (neighbours' training set, support vectors): drawn from
    ends_with: int | None = None  # token ids: every row ends with this id, which appears nowhere else (an
    # encoder-decoder classifier reads each row at its one end-of-sequence token)
    sizes: tuple[int, int] | None = None  # its dynamic non-batch dims in the two generated cases (audio lengths,
    # a KV cache's past length: 0 is the prefill step), instead of the generic 8 and 5


@dataclass
class Tap:
    """One intermediate value: `key` addresses it in `tap_values`; `layer` names it in the model's own terms
    (a PyTorch module path, a Keras layer, an ONNX node); `op` says what computed it."""

    key: str
    layer: str
    op: str = ""
    match: str = ""  # what pairs it with the other model's tap: a signature of the computation, or `output:K`


def ending_with(ids: np.ndarray, last: int, low: int, high: int) -> np.ndarray:
    """`ids` with `last` as each row's final id and nowhere else (its other draws moved to the next id)."""
    ids = ids.copy()
    taken = ids == last
    ids[taken] = low + (ids[taken] - low + 1) % max(high - low, 1)
    if ids.shape and ids.shape[-1]:
        ids[..., -1] = last
    return ids
