"""The dataset report: what ``python -m brainmri validate-data DIR`` prints and notebook 01 shows.

Counts per split and class, image sizes and colour modes, every skipped file with its reason, and
duplicate groups (exact and near), flagged when they cross splits or carry different labels.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from brainmri.data.scan import ScanReport


def _group_record(report: ScanReport, group: list[int]) -> dict:
    files = [report.files[i] for i in group]
    return {
        "files": [f.relpath for f in files],
        "cross_split": len({f.split for f in files}) > 1,
        "labels": sorted({f.label for f in files}),
    }


def summarize(report: ScanReport, *, top_sizes: int = 10) -> dict:
    """The report as plain data (JSON-ready)."""
    sizes = Counter(f"{f.width}x{f.height}" for f in report.files)
    exact = [_group_record(report, g) for g in report.exact_duplicates]
    near = [_group_record(report, g) for g in report.near_duplicates]
    return {
        "root": report.root,
        "layout": report.layout,
        "fingerprint": report.fingerprint,
        "scans": len(report.files),
        "counts": report.counts(),
        "formats": dict(Counter(f.format for f in report.files).most_common()),
        "modes": dict(Counter(f.mode for f in report.files).most_common()),
        "distinct_sizes": len(sizes),
        "common_sizes": dict(sizes.most_common(top_sizes)),
        "skipped_count": len(report.skipped),
        "skipped_reasons": dict(Counter(s.reason for s in report.skipped).most_common()),
        "skipped": [{"file": s.relpath, "reason": s.reason} for s in report.skipped],
        "exact_duplicate_groups": len(exact),
        "exact_duplicate_extra_copies": sum(len(g["files"]) - 1 for g in exact),
        "near_duplicate_groups": len(near),
        "near_duplicate_files": sum(len(g["files"]) for g in near),
        "cross_split_groups": sum(g["cross_split"] for g in exact + near),
        "label_conflict_groups": sum(len(g["labels"]) > 1 for g in exact + near),
        "exact_duplicates": exact,
        "near_duplicates": near,
    }


def mode_shares(report: ScanReport) -> dict[str, dict[str, float]]:
    """Per class, the share of scans stored in each colour mode (a mode that tracks the class is a
    shortcut a model could learn, which is one reason every scan is converted to one mode)."""
    shares = {}
    for label in report.class_names:
        modes = Counter(f.mode for f in report.files if f.label == label)
        total = sum(modes.values())
        shares[label] = {mode: n / total for mode, n in sorted(modes.items())} if total else {}
    return shares


def _counts_table(counts: dict[str, dict[str, int]]) -> list[str]:
    classes = list(next(iter(counts.values())))
    lines = ["  " + "split".ljust(10) + "".join(c.rjust(12) for c in classes) + "total".rjust(8)]
    for split, row in counts.items():
        lines.append("  " + split.ljust(10) + "".join(str(row[c]).rjust(12) for c in classes) + str(sum(row.values())).rjust(8))
    return lines


def _groups_text(title: str, groups: list[dict], limit: int) -> list[str]:
    lines = [f"{title}: {len(groups)} groups"]
    for group in groups[:limit]:
        flags = (["crosses splits"] if group["cross_split"] else []) + (
            [f"labels {'/'.join(group['labels'])}"] if len(group["labels"]) > 1 else [])
        lines.append(f"  {', '.join(group['files'][:4])}{' ...' if len(group['files']) > 4 else ''}"
                     f"{'  [' + '; '.join(flags) + ']' if flags else ''}")
    if len(groups) > limit:
        lines.append(f"  ... and {len(groups) - limit} more (--json lists all)")
    return lines


def format_report(summary: dict, *, limit: int = 10) -> str:
    """Human-readable text of :func:`summarize`'s output."""
    lines = [f"dataset {summary['root']} ({summary['layout']} layout): {summary['scans']} loadable scans",
             *_counts_table(summary["counts"]),
             f"formats: {summary['formats']}", f"colour modes: {summary['modes']}",
             f"image sizes: {summary['distinct_sizes']} distinct; most common {summary['common_sizes']}",
             f"skipped: {summary['skipped_count']} files"]
    lines += [f"  {count} x {reason}" for reason, count in summary["skipped_reasons"].items()]
    lines += [f"    {s['file']}: {s['reason']}" for s in summary["skipped"][:limit]]
    if summary["skipped_count"] > limit:
        lines.append(f"    ... and {summary['skipped_count'] - limit} more (--json lists all)")
    lines += _groups_text(f"exact duplicates ({summary['exact_duplicate_extra_copies']} extra copies)",
                          summary["exact_duplicates"], limit)
    lines += _groups_text(f"near duplicates ({summary['near_duplicate_files']} files)", summary["near_duplicates"], limit)
    lines.append(f"groups crossing splits: {summary['cross_split_groups']}; "
                 f"groups with conflicting labels: {summary['label_conflict_groups']}")
    return "\n".join(lines)


def validate_data_command(args: argparse.Namespace) -> int:
    """``validate-data DIR [--json]``: 0 when the layout is valid (skipped files are reported, not fatal).

    A bad layout or a missing folder raises; the CLI turns that into one line on stderr and exit 2.
    """
    from brainmri.data.cache import scan_dataset

    summary = summarize(scan_dataset(args.data))
    print(json.dumps(summary, indent=2) if args.json else format_report(summary))
    return 0
