"""Latency that holds on a busy machine: interleaved runs, medians with their spread, and decisions that
only trust a difference larger than the noise.

Timing A fully and then B lets a load spike, a thermal change or a warming cache land on one side only.
`interleaved` runs the candidates in turn (rotating the order each round), keeps going until the fastest is
separated from the others beyond their spread or a time bound is reached, and `decide` picks the fastest only
when it is clearly faster; within the noise it falls back to a stated rule (the caller's preference order,
then the smaller file). Tests inject the clock (or the timings) to check the rule without a stopwatch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Faster only when the medians differ by at least this much AND the interquartile ranges do not overlap.
MIN_GAIN = 0.05


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)  # milliseconds, one per run

    def _q(self, q: float) -> float:
        s = sorted(self.samples)
        if not s:
            return 0.0
        pos = q * (len(s) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def q25(self) -> float:
        return self._q(0.25)

    @property
    def q75(self) -> float:
        return self._q(0.75)

    @property
    def spread(self) -> float:
        """Interquartile range in ms: what one run's time wanders by."""
        return self.q75 - self.q25

    def percentile(self, q: float) -> float:
        return self._q(q / 100)

    def to_dict(self) -> dict:
        return {"p50_ms": self.median, "spread_ms": self.spread, "runs": len(self.samples)}


def clearly_faster(a: Timing, b: Timing) -> bool:
    """a beats b beyond the noise: medians at least MIN_GAIN apart and quartile ranges apart."""
    return a.median <= b.median * (1 - MIN_GAIN) and a.q75 < b.q25


def separated(timings: dict[str, Timing], among: list[str] | None = None) -> bool:
    """The fastest of `among` is clearly faster than each of the others."""
    names = among or list(timings)
    if len(names) < 2:
        return True
    best = min(names, key=lambda n: timings[n].median)
    return all(clearly_faster(timings[best], timings[n]) for n in names if n != best)


def time_runs(fn: Callable[[], object], runs: int, warmup: int, clock: Callable[[], float] = time.perf_counter
              ) -> Timing:
    """`runs` timed calls of fn after `warmup` untimed ones (one model on its own: `modelport bench`)."""
    for _ in range(warmup):
        fn()
    timing = Timing()
    for _ in range(runs):
        start = clock()
        fn()
        timing.samples.append((clock() - start) * 1000)
    return timing


def interleaved(fns: dict[str, Callable[[], object]], *, runs: int = 50, warmup: int = 3,
                max_runs: int | None = None, budget_s: float = 20.0, compete: list[str] | None = None,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, Timing]:
    """Time several callables in turn, round after round, rotating who goes first.

    Stops after `runs` rounds if the fastest of `compete` (default: all) is separated from the rest, else
    keeps adding rounds up to `max_runs` (default 4x runs) or until `budget_s` seconds have passed.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    timings = {name: Timing() for name in names}
    limit = max_runs or 4 * runs
    start = clock()
    for round_no in range(limit):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = clock()
            fns[name]()
            timings[name].samples.append((clock() - t0) * 1000)
        done = round_no + 1
        if done >= runs and (separated(timings, compete) or clock() - start > budget_s):
            break
    return timings


@dataclass
class Choice:
    name: str
    reason: str


def decide(timings: dict[str, Timing], preference: list[str], sizes: dict[str, int] | None = None) -> Choice:
    """Pick among timed candidates: the fastest when it is clearly faster than every other one; otherwise, among
    those the fastest cannot be told apart from, the first in `preference`, then the smallest file."""
    names = [n for n in preference if n in timings] + [n for n in timings if n not in preference]
    if len(names) == 1:
        return Choice(names[0], "the only candidate that passed")
    best = min(names, key=lambda n: timings[n].median)
    if all(clearly_faster(timings[best], timings[n]) for n in names if n != best):
        others = ", ".join(f"{n} {timings[n].median:.3g} ms" for n in names if n != best)
        return Choice(best, f"fastest beyond the noise ({timings[best].median:.3g} ms vs {others})")
    tied = [n for n in names if n == best or not clearly_faster(timings[best], timings[n])]
    sizes = sizes or {}
    rank = {n: (preference.index(n) if n in preference else len(preference)) for n in tied}
    pick = min(tied, key=lambda n: (rank[n], sizes.get(n, 0)))
    return Choice(pick, f"{' and '.join(tied)} are within the timing noise; chose by preference order")


def slower(before: Timing, after: Timing) -> bool:
    """The transformed model is slower than its input beyond the noise (the warning users see)."""
    return clearly_faster(before, after)
