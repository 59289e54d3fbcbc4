"""The data layer: find a dataset, account for every file, decode once (cached), split, and feed
``tf.data``. See "The data API" in CONTRIBUTING.md.

The ``tf.data`` pieces are imported on first use, so ``validate-data`` does not pay for TensorFlow.
"""

from brainmri.data.cache import is_cached, load_scan, scan_dataset
from brainmri.data.load import (EvaluationSet, SplitArrays, load_dataset, load_evaluation_set, load_profile_dataset,
                                split_leakage)
from brainmri.data.locate import DataSource, resolve_data_root
from brainmri.data.phantom import load_phantom_masks
from brainmri.data.scan import BINARY_CLASS_NAMES, CLASS_NAMES, NO_TUMOUR, LayoutError, ScanReport

_PIPELINE = ("augmentation", "make_tf_dataset")

__all__ = [
    "BINARY_CLASS_NAMES", "CLASS_NAMES", "NO_TUMOUR", "DataSource", "EvaluationSet", "LayoutError", "ScanReport",
    "SplitArrays", "augmentation", "load_dataset", "load_evaluation_set", "load_phantom_masks", "load_profile_dataset",
    "is_cached", "load_scan", "make_tf_dataset", "resolve_data_root", "scan_dataset", "split_leakage",
]


def __getattr__(name: str):
    if name in _PIPELINE:
        from brainmri.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'brainmri.data' has no attribute {name!r}")
