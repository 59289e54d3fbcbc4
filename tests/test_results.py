import json
import platform
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest

from brainmri import benchmarking, config, plots, results


def test_saved_results_carry_provenance_and_plain_json():
    results.set_data_source("phantom", "/tmp/phantom")
    path = results.save_results("test_numbers", {"acc": np.float32(0.5), "cm": np.eye(2, dtype=int)})
    saved = json.loads(path.read_text())
    assert saved["acc"] == 0.5 and saved["cm"] == [[1, 0], [0, 1]]
    assert saved["provenance"]["data"] == "phantom" and saved["provenance"]["profile"] == "smoke"
    assert saved["provenance"]["synthetic"] is True and saved["provenance"]["data_folder"] == "phantom"
    assert results.load_results("test_numbers") == saved


def test_save_fig_writes_png_and_manifest_entry():
    results.set_data_source("real", "/data")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = plots.save_fig(fig, "test_figure")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((config.figures_dir() / "MANIFEST.json").read_text())
    assert manifest["test_figure"]["data"] == "real"


@pytest.mark.parametrize("bad", ["", "a/b", "x.png"])
def test_save_fig_rejects_paths_and_extensions(bad):
    with pytest.raises(ValueError, match="bare name"):
        plots.save_fig(plt.figure(), bad)


def test_benchmark_ratio_is_baseline_over_candidate():
    path = benchmarking.write_benchmark("test_bench", baseline="loop", candidate="batched",
                                        seconds={"loop": 6.0, "batched": 1.5})
    assert json.loads(path.read_text())["speedup"] == 4.0
    assert "| test_bench | loop | batched | 6.00 | 1.50 | 4x |" in benchmarking.benchmark_table()


def test_machine_description_names_the_processor_model(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n")
    assert benchmarking.machine_description(cpuinfo).startswith(f"AMD EPYC 7B13 ({platform.machine()}), ")
    assert benchmarking.cpu_model(tmp_path / "absent") == (platform.processor() or platform.machine())


def test_best_of_keeps_the_fastest_call_and_the_last_result():
    delays = iter([0.05, 0.0, 0.03])

    def run():
        delay = next(delays)
        time.sleep(delay)
        return delay

    seconds, last = benchmarking.best_of(3, run)
    assert seconds < 0.03 and last == 0.03
