"""Order-fair comparisons for the benchmarks: one untimed warm-up, then the compared runs in turn.

The first run in a process tree pays for page faults, cold caches, thread pools and buffers
that grow on first use, so one measurement of A followed by one of B credits B with A's warm-up
(bench-serving once printed a mixed-adapter load 1.88x as fast as the same load on the base
model). Every benchmark that prints a ratio therefore runs each variant once, untimed, then
A/B/A/B... for `--pairs` rounds (default 3) in the same run, prints every round's figures, and
reports the median of the per-round ratios, which one disturbed round cannot move.

    rounds = abtest.alternate({"base": run_base, "mixed": run_mixed}, args.pairs)
    rounds.print_rounds(lambda rate: f"{rate:.1f} tok/s")
    print(f"ratio {rounds.ratio('mixed', 'base')}")   # "0.93 (median of 3 pairs: 0.91, 0.93, 0.97)"

A variant is a function of no arguments returning its figure: a number, or a dict of named
numbers (pass `metric=` to pick one). With more than two variants each round runs them all in
the same order (A/B/C/A/B/C...).
"""
import statistics

DEFAULT_PAIRS = 3


def add_pairs_argument(parser):
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS,
                        help=f"measured rounds of the compared runs, after one untimed warm-up round (default {DEFAULT_PAIRS})")


def _pick(figure, metric):
    return figure if metric is None else figure[metric]


class Rounds:
    """The figures of every measured round: `rounds[i][variant]`."""

    def __init__(self, names, rounds):
        self.names = names
        self.rounds = rounds

    @property
    def count(self):
        return len(self.rounds)

    @property
    def unit(self):
        return "pair" if len(self.names) == 2 else "round"

    @property
    def counted(self):
        """How many rounds, in words: "3 pairs", "1 round"."""
        return f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"

    def values(self, name, metric=None):
        return [_pick(r[name], metric) for r in self.rounds]

    def median(self, name, metric=None):
        return statistics.median(self.values(name, metric))

    def ratios(self, numerator, denominator, metric=None):
        return [_pick(r[numerator], metric) / _pick(r[denominator], metric) for r in self.rounds]

    def differences(self, minuend, subtrahend, metric=None):
        return [_pick(r[minuend], metric) - _pick(r[subtrahend], metric) for r in self.rounds]

    def _summary(self, each, digits):
        return f"{statistics.median(each):.{digits}f} (median of {self.counted}: {', '.join(f'{x:.{digits}f}' for x in each)})"

    def ratio(self, numerator, denominator, metric=None, digits=2):
        """`numerator / denominator` as "median (median of N pairs: each round's ratio)"."""
        return self._summary(self.ratios(numerator, denominator, metric), digits)

    def difference(self, minuend, subtrahend, metric=None, scale=1.0, digits=1):
        """`(minuend - subtrahend) * scale` in the same form as `ratio`."""
        return self._summary([d * scale for d in self.differences(minuend, subtrahend, metric)], digits)

    def print_rounds(self, describe, indent="   "):
        """One line per round: each variant's figure as `describe(figure)` renders it."""
        for i, r in enumerate(self.rounds, 1):
            print(f"{indent}{self.unit} {i}: " + ", ".join(f"{name} {describe(r[name])}" for name in self.names))


def alternate(variants, pairs, warmup=True):
    """Runs every variant once untimed (unless `warmup` is False), then all of them in turn,
    in the given order, `pairs` times; returns their figures."""
    if pairs < 1:
        raise SystemExit(f"--pairs must be at least 1, not {pairs}")
    if warmup:
        for run in variants.values():
            run()
    rounds = [{name: run() for name, run in variants.items()} for _ in range(pairs)]
    return Rounds(list(variants), rounds)
