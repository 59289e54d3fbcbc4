"""``python -m brainmri``: headless entry points for long runs, CI, the held-out check and single scans.

The parsers live here, with `train`'s wiring of data, recipe and run directory; each other command's work
lives in the module that owns it. Every argument is checked as it is parsed (its ``type``), before any
data or model is loaded: a bad one ends the command with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MIN_IMAGE_SIZE = 16


class UsageError(ValueError):
    """A command line that names a bad argument; the message is one line."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) raised to :func:`main`."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def image_size(text: str) -> int:
    """A side in pixels, at least :data:`MIN_IMAGE_SIZE` (the residual CNN halves it four times)."""
    return _whole_number(text, MIN_IMAGE_SIZE)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def architecture(text: str) -> str:
    from brainmri.models import ARCHITECTURES

    if text not in ARCHITECTURES:
        raise argparse.ArgumentTypeError(f"unknown architecture {text!r}; choose one of {', '.join(ARCHITECTURES)}")
    return text


def existing_path(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return text


def existing_dir(text: str) -> str:
    if not Path(existing_path(text)).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return text


def existing_file(text: str) -> str:
    if not Path(existing_path(text)).is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file")
    return text


def run_model(text: str) -> str:
    """``RUN_DIR/model.keras``. A run directory whose model is missing is let through: the command
    then says whether its training was interrupted, which says more than "does not exist"."""
    if (Path(text).parent / "config.json").exists() and not Path(text).exists():
        return text
    return existing_file(text)


def output_dir(text: str) -> str:
    """A folder to write into: may not exist yet, but may not be a file."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder to write into")
    return text


def _add_validate_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate-data", help="scan a dataset and report counts, skipped files and duplicates")
    p.add_argument("data", type=existing_dir, help="dataset root (Kaggle layout, class folders, or yes/no)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier and write RUN_DIR/model.keras and metrics")
    p.add_argument("--data", type=existing_dir, default=None,
                   help="dataset root (default: resolved as the notebooks do)")
    p.add_argument("--task", choices=["multiclass", "binary"], default="multiclass")
    p.add_argument("--arch", type=architecture, default=None, help="architecture name (default: the best recipe found)")
    p.add_argument("--image-size", type=image_size, default=None)
    p.add_argument("--color", choices=["grayscale", "rgb"], default=None)
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--time-budget-min", type=positive_float, default=None)
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the initial weights, the augmentation and the validation split (default 42)")
    p.add_argument("--out", type=output_dir, required=True,
                   help="run directory to write (the same command again resumes an interrupted run there)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a saved model on a folder of class folders or a dataset root")
    p.add_argument("--model", type=run_model, required=True, help="RUN_DIR/model.keras written by `train`")
    p.add_argument("--data", type=existing_dir, required=True, help="class folders (e.g. Testing/) or a dataset root")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify scans (files or folders of images) with calibrated probabilities")
    p.add_argument("--model", type=run_model, required=True, help="RUN_DIR/model.keras written by `train`")
    p.add_argument("paths", nargs="+", type=existing_path, metavar="PATH", help="a scan, or a folder of scans")
    p.add_argument("--explain", type=output_dir, default=None, metavar="OUT_DIR",
                   help="write one PNG per scan: the scan, the explanation overlay and the prediction")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_runners(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run-notebooks", help="execute every notebook in order (profile from BRAINMRI_PROFILE)")
    p.add_argument("names", nargs="*", help="only these notebooks (e.g. 01 03)")
    sub.add_parser("run-benchmarks", help="run every script in benchmarks/ and write one table")
    sub.add_parser("render-readme", help="fill docs/README.template.md with the saved results")


def train_command(args: argparse.Namespace) -> int:
    """``python -m brainmri train``: load the data, train the recipe into ``--out``, resuming a run left there."""
    import json

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
    parser = Parser(prog="brainmri", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_validate_data, _add_train, _add_evaluate, _add_predict, _add_runners):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "validate-data":
        from brainmri.data.report import validate_data_command as command
    elif args.command == "train":
        command = train_command
    elif args.command == "evaluate":
        from brainmri.evaluate import evaluate_command as command
    elif args.command == "predict":
        from brainmri.predict import predict_command as command
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
