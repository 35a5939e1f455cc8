"""The headless runner's own overhead, measured against calling the node functions directly.

A chain of N trivial nodes (each adds one to a float) ends in an output node. Printed, in one run:

* direct: the N node functions called one after another (the floor);
* cold: ``Runner.run`` on an empty cache, with validation, and without it;
* cached: the same prompt run again (target: 0 nodes executed).

Target (issue: headless runner): cached re-run executes 0 nodes; cold overhead under 0.2 ms per node.

    python3 benchmarks/bench_runner.py            # N = 50
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import best  # noqa: E402
from comfy_editloss.graph.catalogue import Catalogue  # noqa: E402
from comfy_editloss.graph.execute import Runner  # noqa: E402


class AddOne:
    CATEGORY = "bench"
    DESCRIPTION = "x + 1"
    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.0, "min": -1e9, "max": 1e9})}}

    def run(self, value):
        return (value + 1.0,)


class Sink:
    CATEGORY = "bench"
    DESCRIPTION = "shows a float"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"forceInput": True})}}

    def run(self, value):
        return {"ui": {"value": [value]}}


def chain(n: int) -> dict:
    prompt = {"1": {"class_type": "BenchAddOne", "inputs": {"value": 0.0}}}
    for i in range(2, n + 1):
        prompt[str(i)] = {"class_type": "BenchAddOne", "inputs": {"value": [str(i - 1), 0]}}
    prompt[str(n + 1)] = {"class_type": "BenchSink", "inputs": {"value": [str(n), 0]}}
    return prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    n = args.nodes
    classes = {"BenchAddOne": AddOne, "BenchSink": Sink}
    catalogue = Catalogue.core().with_classes(classes)
    prompt = chain(n)

    def direct():
        value = 0.0
        node = AddOne()
        for _ in range(n):
            (value,) = node.run(value)
        Sink().run(value)

    def cold(validate: bool):
        def run():
            result = Runner(classes, catalogue).run(prompt, validate=validate)
            assert len(result.executed) == n + 1
        return run

    warm_runner = Runner(classes, catalogue)
    first = warm_runner.run(prompt)
    assert first.ui[str(n + 1)] == {"value": [float(n)]}

    def cached():
        result = warm_runner.run(prompt)
        assert result.executed == [] and len(result.cached) == n + 1

    t_direct = best(direct, args.repeat)
    t_cold = best(cold(True), args.repeat)
    t_cold_no_validation = best(cold(False), args.repeat)
    t_cached = best(cached, args.repeat)
    nodes_executed_on_rerun = len(warm_runner.run(prompt).executed)
    per_node = lambda t: (t - t_direct) / (n + 1) * 1e3  # noqa: E731
    print(f"chain of {n} trivial nodes + 1 output node; best of {args.repeat} runs")
    print(f"{'':<34}{'total ms':>10}{'overhead ms/node':>18}")
    print(f"{'direct function calls':<34}{t_direct * 1e3:>10.3f}{'':>18}")
    print(f"{'runner, cold, with validation':<34}{t_cold * 1e3:>10.3f}{per_node(t_cold):>18.4f}")
    print(f"{'runner, cold, execution only':<34}{t_cold_no_validation * 1e3:>10.3f}{per_node(t_cold_no_validation):>18.4f}")
    print(f"{'runner, re-run, all cached':<34}{t_cached * 1e3:>10.3f}{per_node(t_cached):>18.4f}")
    print(f"\nnodes executed on the cached re-run: {nodes_executed_on_rerun} (target 0)")
    print(f"cold overhead per node: {per_node(t_cold):.4f} ms with validation (target < 0.2 ms)")
    return 0 if nodes_executed_on_rerun == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
