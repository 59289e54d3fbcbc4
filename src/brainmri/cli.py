"""``python -m brainmri``: headless entry points for long runs, CI and the held-out check.

The parsers live here, with `train`'s wiring of data, recipe and run directory; each other command's work
lives in the module that owns it.
"""

from __future__ import annotations

import argparse
import sys


def _add_validate_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate-data", help="scan a dataset and report counts, skipped files and duplicates")
    p.add_argument("data", help="dataset root (Kaggle layout, class folders, or yes/no)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier and write RUN_DIR/model.keras and metrics")
    p.add_argument("--data", default=None, help="dataset root (default: resolved as the notebooks do)")
    p.add_argument("--task", choices=["multiclass", "binary"], default="multiclass")
    p.add_argument("--arch", default=None, help="architecture name (default: the best recipe found)")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--color", choices=["grayscale", "rgb"], default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--time-budget-min", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True,
                   help="run directory to write (the same command again resumes an interrupted run there)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a saved model on a folder of class folders or a dataset root")
    p.add_argument("--model", required=True, help="RUN_DIR/model.keras written by `train`")
    p.add_argument("--data", required=True, help="class folders (e.g. Testing/) or a dataset root")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_runners(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run-notebooks", help="execute every notebook in order (profile from BRAINMRI_PROFILE)")
    p.add_argument("names", nargs="*", help="only these notebooks (e.g. 01 03)")
    sub.add_parser("run-benchmarks", help="run every script in benchmarks/ and write one table")
    sub.add_parser("render-readme", help="fill docs/README.template.md with the saved results")


def train_command(args: argparse.Namespace) -> int:
    """``python -m brainmri train``: load the data, train the recipe into ``--out``, resuming a run left there."""
    import json
    from pathlib import Path

    from brainmri import config
    from brainmri.data import load_dataset, resolve_data_root
    from brainmri.train import default_recipe, train_run

    profile = config.get_profile()
    recipe = default_recipe(profile, task=args.task, arch=args.arch, image_size=args.image_size,
                            color=args.color, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    source = resolve_data_root(args.data)
    data = load_dataset(source, image_size=recipe.image_size, color=recipe.color, task=recipe.task,
                        val_fraction=profile.val_fraction, seed=recipe.seed, max_per_class=profile.max_per_class)
    print(f"training {recipe.arch} {recipe.arch_kwargs} on {len(data.x_train)} scans, validating on "
          f"{len(data.x_val)}; {recipe.epochs} epochs at {recipe.image_size}px {recipe.color}", flush=True)
    result = train_run(data, recipe, args.out, time_budget_min=args.time_budget_min, verbose=2)
    m = result.metrics
    print(json.dumps({k: m[k] for k in ("accuracy", "macro_f1", "binary_accuracy", "epochs_run", "train_seconds",
                                        "images_per_second", "peak_memory_mb") if k in m}, indent=2))
    print(f"wrote {Path(args.out) / 'model.keras'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainmri", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_validate_data, _add_train, _add_evaluate, _add_runners):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "validate-data":
        from brainmri.data.report import validate_data_command as command
    elif args.command == "train":
        command = train_command
    elif args.command == "evaluate":
        from brainmri.evaluate import evaluate_command as command
    elif args.command == "run-notebooks":
        from brainmri.notebooks import run_notebooks_command as command
    elif args.command == "run-benchmarks":
        from brainmri.benchmarking import run_benchmarks_command as command
    else:
        from brainmri.readme import render_readme_command as command
    try:
        return command(args) or 0
    except (FileNotFoundError, ValueError) as error:  # bad input: one readable message, no traceback
        print(f"brainmri {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
