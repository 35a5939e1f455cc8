"""Command line: ``python -m comfy_editloss COMMAND``.

Commands: ``demo`` (the task losses on generated embeddings), the headless graph runner's
``convert``, ``validate`` and ``run`` (see ``python -m comfy_editloss run --help``), and ``score``,
which runs a scoring workflow over a folder of edit sets.
"""

from __future__ import annotations

import argparse
import sys

MAX_DIM = 65536  # the demo scene's tensors are 144 x dim floats each: 37 MB at the largest
MIN_SEED, MAX_SEED = -(2**63), 2**64 - 1  # what torch's generators take (a negative seed is read as unsigned)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m comfy_editloss",
        description="Losses and scores for Flux Kontext image edits.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="score five generated edits (correct, no edit, overlay, distorted, blend) with the three task losses",
        description=(
            "Builds a synthetic scene of patch embeddings (a chair replaced by a stool) and prints the "
            "no-edit identity, geometry match and overlay avoidance losses of five generations, ranked."
        ),
    )
    demo.add_argument("--dim", type=int, default=64, help=f"feature dimension of the embeddings, 1 to {MAX_DIM} (default 64)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the scene, -2**63 to 2**64-1 (default 0)")
    demo.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    from .graph.cli import add_commands  # noqa: PLC0415 - keeps `demo` free of the runner's imports

    add_commands(commands)
    return parser


EXIT_INTERRUPTED = 1  # as a run stopped by Ctrl-C between nodes (the commands' documented code), not the shell's 130


def main(argv: list[str] | None = None) -> int:
    """The command line; Ctrl-C at any point (torch and the packs take seconds to import, before the
    commands install their own handling) ends it with one line and exit code 1."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        if not 1 <= args.dim <= MAX_DIM:
            print(f"error: --dim must be >= 1 and <= {MAX_DIM}, got {args.dim}", file=sys.stderr)
            return 2
        if not MIN_SEED <= args.seed <= MAX_SEED:
            print(f"error: --seed must be from -2**63 to 2**64-1 ({MIN_SEED} to {MAX_SEED}), got {args.seed}", file=sys.stderr)
            return 2
        from .demo import main as demo_main

        print(demo_main(dim=args.dim, seed=args.seed, as_json=args.json))
        return 0
    from .graph.cli import main_for  # noqa: PLC0415

    return main_for(args)


if __name__ == "__main__":
    sys.exit(main())
