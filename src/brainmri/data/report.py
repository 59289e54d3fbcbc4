"""The dataset report: what ``python -m brainmri validate-data DIR`` prints and notebook 01 shows.

Counts per split and class, image sizes and colour modes, every skipped file with its reason, and
duplicate groups (exact and near), flagged when they cross splits or carry different labels.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from brainmri.data.load import SplitArrays
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


SUMMARY_FIELDS = {  # record key: summarize() key
    "scans_found": "scans", "counts_on_disk": "counts", "modes": "modes", "distinct_sizes": "distinct_sizes",
    "skipped": "skipped_count", "skipped_reasons": "skipped_reasons",
    "exact_duplicate_groups": "exact_duplicate_groups", "exact_duplicate_extra_copies": "exact_duplicate_extra_copies",
    "near_duplicate_groups": "near_duplicate_groups", "near_duplicate_files": "near_duplicate_files",
    "cross_split_groups": "cross_split_groups", "label_conflict_groups": "label_conflict_groups",
}


def dataset_record(summary: dict, data: SplitArrays, leakage: dict[str, int]) -> dict:
    """What notebook 01 saves: the source and layout, the scan's counts, skips and duplicates
    (:func:`summarize`), the scans left out at loading, the split counts and ``leakage``, the
    duplicate groups that still straddle splits (:func:`brainmri.data.split_leakage` of ``data``)."""
    return {"source": data.source.kind, "layout": summary["layout"],
            **{key: summary[field] for key, field in SUMMARY_FIELDS.items()},
            "left_out": len(data.dropped), "split_counts": data.summary(), "leakage": leakage}


def dataset_sentence(record: dict) -> str:
    """One Markdown sentence of :func:`dataset_record`: usable, skipped and duplicate scans, then the splits."""
    splits = record["split_counts"]
    n_train, n_val = (sum(splits[name].values()) for name in ("train", "val"))
    n_test = sum(splits["test"].values()) if "test" in splits else "no"
    straddling = sum(record["leakage"].values())
    return (f"**{record['scans_found']} usable scans** ({record['source']}), {record['skipped']} files skipped, "
            f"{record['exact_duplicate_extra_copies']} exact duplicate copies and {record['near_duplicate_files']} "
            f"scans in near-duplicate groups; after de-duplication **{n_train} training, {n_val} validation, "
            f"{n_test} test** scans, with {straddling} duplicate groups straddling splits.")


def validate_data_command(args: argparse.Namespace) -> int:
    """``validate-data DIR [--json]``: 0 when the layout is valid (skipped files are reported, not fatal).

    A bad layout or a missing folder raises; the CLI turns that into one line on stderr and exit 2.
    """
    from brainmri.data.cache import scan_dataset

    summary = summarize(scan_dataset(args.data))
    print(json.dumps(summary, indent=2) if args.json else format_report(summary))
    return 0
