"""Test-wide settings: smoke profile, offline, and every output in a temporary folder.

Set before any brainmri module reads the environment, so no test writes into figures/ or results/.
"""

import os
import tempfile
from pathlib import Path

_scratch = Path(tempfile.mkdtemp(prefix="brainmri-tests-"))
os.environ["BRAINMRI_PROFILE"] = "smoke"
os.environ.pop("BRAINMRI_DATA", None)
for name in ("FIGURES", "RESULTS", "RUNS", "DATA"):
    os.environ[f"BRAINMRI_{name}_DIR"] = str(_scratch / name.lower())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KAGGLEHUB_CACHE", str(_scratch / "kagglehub"))
