"""Placeholder until the validate-data report lands."""

from __future__ import annotations


def validate_data_command(args) -> int:
    from brainmri.data.cache import scan_dataset

    report = scan_dataset(args.data)
    print(report.counts(), len(report.skipped), "skipped")
    return 0
