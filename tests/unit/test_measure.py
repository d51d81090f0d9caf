"""The timing rule that picks among candidates, checked with injected timings and a fake clock (no stopwatch)."""

from __future__ import annotations

import itertools

from modelport.pipeline.measure import Timing, clearly_faster, decide, interleaved, slower


def t(*ms: float) -> Timing:
    return Timing(list(ms))


def test_clearly_faster_needs_a_gap_beyond_the_spread():
    assert clearly_faster(t(10, 10.5, 11, 10.2), t(80, 81, 79, 85))
    assert not clearly_faster(t(10, 10.5, 11, 10.2), t(10.1, 10.6, 10.9, 10.4))  # within noise
    assert not clearly_faster(t(10, 10, 10, 10), t(10.3, 10.3, 10.3, 10.3))  # separated but < 5% apart
    assert not clearly_faster(t(5, 6, 30, 31), t(20, 21, 22, 23))  # quartiles overlap


def test_decide_takes_the_clearly_faster_candidate_even_against_preference():
    timings = {"static-int8": t(80, 82, 81, 90), "dynamic-int8": t(10, 11, 10.5, 12)}
    choice = decide(timings, ["static-int8", "dynamic-int8"])
    assert choice.name == "dynamic-int8" and "beyond the noise" in choice.reason


def test_decide_within_noise_follows_the_preference_order_then_size():
    noisy = {"static-int8": t(10, 14, 9, 13, 11), "dynamic-int8": t(9.5, 13.5, 10, 12, 11)}
    assert decide(noisy, ["static-int8", "dynamic-int8"]).name == "static-int8"
    assert decide(noisy, ["dynamic-int8", "static-int8"]).name == "dynamic-int8"
    choice = decide(noisy, [], sizes={"static-int8": 900, "dynamic-int8": 700})
    assert choice.name == "dynamic-int8" and "within the timing noise" in choice.reason


def test_a_single_candidate_is_chosen():
    assert decide({"fp16": t(1, 2)}, ["fp16"]).name == "fp16"


def test_slower_only_beyond_the_noise():
    assert slower(t(10, 10.2, 10.1, 10.3), t(20, 20.5, 21, 20.2))
    assert not slower(t(10, 12, 9, 11), t(10.5, 11.5, 9.5, 12))


class FakeClock:
    """Each call of a candidate advances time by that candidate's cost; a load spike hits one round only."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _callables(clock: FakeClock, costs: dict[str, list[float]]):
    streams = {name: itertools.cycle(values) for name, values in costs.items()}

    def make(name):
        def fn():
            clock.now += next(streams[name]) / 1000

        return fn

    return {name: make(name) for name in costs}


def test_interleaved_stops_once_separated_and_rotates_the_order():
    clock = FakeClock()
    order = []
    fns = _callables(clock, {"a": [10.0], "b": [40.0]})
    wrapped = {n: (lambda n=n, f=f: (order.append(n), f())) for n, f in fns.items()}
    timings = interleaved(wrapped, runs=5, warmup=0, clock=clock)
    assert len(timings["a"].samples) == 5 and len(timings["b"].samples) == 5  # separated after `runs` rounds
    assert order[:4] == ["a", "b", "b", "a"]  # who goes first alternates
    assert timings["a"].median == 10.0 and timings["b"].median == 40.0


def test_interleaved_keeps_measuring_while_within_noise_up_to_the_bound():
    clock = FakeClock()
    fns = _callables(clock, {"a": [10, 12, 9, 11], "b": [11, 9, 12, 10]})
    timings = interleaved(fns, runs=5, warmup=0, max_runs=12, clock=clock)
    assert len(timings["a"].samples) == 12  # never separated: ran to max_runs
    clock = FakeClock()
    fns = _callables(clock, {"a": [10, 12, 9, 11], "b": [11, 9, 12, 10]})
    timings = interleaved(fns, runs=5, warmup=0, max_runs=1000, budget_s=0.2, clock=clock)
    assert 5 <= len(timings["a"].samples) < 20  # the time bound (0.2 s of fake time) ended it


def test_a_load_spike_on_one_round_does_not_flip_the_choice():
    clock = FakeClock()
    # b is 4x slower, but a's 3rd run hits a 500 ms stall (the machine got busy)
    fns = _callables(clock, {"a": [10, 10, 500, 10, 10, 10], "b": [40, 41, 40, 39, 40, 40]})
    timings = interleaved(fns, runs=6, warmup=0, clock=clock)
    assert decide(timings, ["b", "a"]).name == "a"
