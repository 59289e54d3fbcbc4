"""Loading the dataset at 128 px: first load (decode every JPEG, write the cache) against a cached load.

The cache goes to a fresh temporary folder, so the first load is really uncached; the JPEG files may
still sit in the operating system's page cache from earlier reads. Peak memory is the process's
resident peak after each step.

    BRAINMRI_DATA=/work/shared/data/brain-tumor-mri-dataset .venv/bin/python benchmarks/bench_data_loading.py
"""

from __future__ import annotations

import os
import tempfile

IMAGE_SIZE = 128


def main() -> None:
    os.environ["BRAINMRI_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-data-")  # before brainmri reads it
    from brainmri import benchmarking, config
    from brainmri.data import cache, load_dataset, resolve_data_root

    source = resolve_data_root()
    seconds = {}
    with benchmarking.timed(seconds, "first load"):
        first = load_dataset(source, image_size=IMAGE_SIZE)
    peak_after_first = benchmarking.peak_memory_mb()
    with benchmarking.timed(seconds, "cached load"):
        cached = load_dataset(source, image_size=IMAGE_SIZE)
    if cached.paths_train != first.paths_train or (cached.x_train != first.x_train).any():
        raise AssertionError("the cached load differs from the first load")
    cache_mb = sum(p.stat().st_size for p in cache.cache_dir().iterdir()) / 2**20
    benchmarking.write_benchmark(
        "data_loading", baseline="first load", candidate="cached load", seconds=seconds,
        extra={
            "data": source.kind, "scans": len(first.report.files), "image_size": IMAGE_SIZE,
            "decode_workers": cache._workers(), "peak_memory_after_first_load_mb": round(peak_after_first, 1),
            "cache_size_mb": round(cache_mb, 1), "profile": config.get_profile().name,
        },
    )


if __name__ == "__main__":
    main()
