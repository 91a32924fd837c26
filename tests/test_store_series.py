"""Appendable series in the run store: rows appended chunk by chunk, committed like the
trajectory, read back by ``RunReader.series`` and xarray, listed by ``neurosim inspect``,
exported, cut back with a checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurosim.errors import ValidationError
from neurosim.export import export_run
from neurosim.recording import ArraySpec, RunStore, open_run
from tests.test_store import make_store

SERIES = {
    "samples": {  # the first array 2-D: the series grows along its first dim, not its last
        "output": ArraySpec(("sample", "unit"), (0, 3), "float32"),
        "label": ArraySpec(("sample",), (0,), "int64"),
    },
    "probes": {"accuracy": ArraySpec(("probe",), (0,), "float64")},
}


def rows(start: int, count: int) -> dict[str, np.ndarray]:
    """Rows ``start..start+count-1`` of ``samples``, each a function of its index."""
    index = np.arange(start, start + count)
    return {
        "label": index % 10,
        "output": (index[:, None] * 3 + np.arange(3)).astype(np.float32) / 7,
    }


def test_rows_are_written_chunk_by_chunk_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "series.zarr"
    with make_store(path, series=SERIES, series_chunk=8) as store:
        store.append_series("samples", rows(0, 5))
        assert open_run(path).series("samples")["label"].shape == (0,)  # buffered
        store.append_series("samples", rows(5, 3))
        # a whole chunk of the series (8 rows), not of the trajectory (16): committed
        assert open_run(path).series("samples")["label"].tolist() == list(range(8))
        store.append_series("samples", rows(8, 11))  # crosses the next chunk boundary
        # committed up to the last chunk boundary (16), the rest buffered
        assert open_run(path).series("samples")["label"].tolist() == list(range(10)) + list(
            range(6)
        )
        assert store.series_rows("samples") == 19
        store.append_series("probes", {"accuracy": [0.5]})
    run = open_run(path)
    assert run.series_names() == ["probes", "samples"]
    samples = run.series("samples")
    expected = rows(0, 19)
    np.testing.assert_array_equal(samples["label"], expected["label"])
    np.testing.assert_array_equal(samples["output"], expected["output"])
    assert run.series("probes")["accuracy"].tolist() == [0.5]
    assert run.dims("samples", "output") == ("sample", "unit")
    dataset = xr.open_zarr(path, group="samples")
    assert dict(dataset.sizes) == {"sample": 19, "unit": 3}
    np.testing.assert_array_equal(dataset["output"].values, expected["output"])


def test_a_series_without_rows_reads_as_empty(tmp_path: Path) -> None:
    """A series that no row reached (a run stopped before its first probe) has length 0 in
    the reader and in xarray, its other dims as declared."""
    path = tmp_path / "series.zarr"
    with make_store(path, series=SERIES, series_chunk=8) as store:
        store.append_series("samples", rows(0, 3))
    assert open_run(path).series("probes")["accuracy"].shape == (0,)
    assert dict(xr.open_zarr(path, group="probes").sizes) == {"probe": 0}
    assert dict(xr.open_zarr(path, group="samples").sizes) == {"sample": 3, "unit": 3}


def test_a_killed_writer_leaves_the_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "killed.zarr"
    code = (
        "import os, numpy as np\n"
        "from tests.test_store import make_store\n"
        "from tests.test_store_series import SERIES, rows\n"
        f"store = make_store({str(path)!r}, series=SERIES, series_chunk=4)\n"
        "store.append_series('samples', rows(0, 10))\n"
        "os._exit(9)  # no close, no flush: as SIGKILL leaves it\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False, cwd=Path(__file__).parents[1])
    run = open_run(path)
    assert run.status == "running"
    assert run.series("samples")["label"].tolist() == list(range(8))
    assert dict(xr.open_zarr(path, group="samples").sizes)["sample"] == 8


def test_memory_stays_at_one_chunk_of_rows(tmp_path: Path) -> None:
    with make_store(tmp_path / "flat.zarr", series=SERIES, series_chunk=64) as store:
        before = store._series_buffers["samples"].nbytes
        for start in range(0, 2000, 37):
            store.append_series("samples", rows(start, 37))
        assert store._series_buffers["samples"].nbytes == before
        assert store._series_buffers["samples"].count < 64


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ({"trajectory": SERIES["probes"]}, "series name 'trajectory' is not allowed"),
        ({"1st": SERIES["probes"]}, "series name '1st' is not allowed"),
        ({"x": {"1a": ArraySpec(("row",), (0,), "int8")}}, r"\['1a'\]: the name is not allowed"),
        (
            {
                "x": {
                    "a": ArraySpec(("row", "unit"), (0, 3), "int8"),
                    "b": ArraySpec(("row", "unit"), (0, 4), "int8"),
                }
            },
            r"\['b'\] has dim 'unit' of size 4, another array of the series 3",
        ),
        (
            {
                "x": {
                    "a": ArraySpec(("row",), (0,), "int8"),
                    "b": ArraySpec(("other", "unit"), (0, 2), "int8"),
                }
            },
            r"\['b'\] grows along 'other', the series' other arrays along 'row'",
        ),
        ({"x": {}}, r"series\['x'\] must be a non-empty dict"),
        (
            {
                "x": {
                    "a": ArraySpec(("row",), (0,), "int8"),
                    "b": ArraySpec(("other",), (0,), "int8"),
                }
            },
            "grows along 'other'",
        ),
        ({"x": {"a": ArraySpec(("event",), (0,), "int8")}}, "uses the dim 'event', which"),
        (
            {"x": {"a": ArraySpec(("row", "event", "snapshot"), (0, 2, 2), "int8")}},
            "uses the dims 'event', 'snapshot', which",
        ),
        ({"x": {"a": ArraySpec((), (), "int8")}}, "has no dims"),
    ],
)
def test_bad_series_are_refused_before_anything_is_written(
    tmp_path: Path, series: dict, message: str
) -> None:
    path = tmp_path / "bad.zarr"
    with pytest.raises(ValidationError, match=message):
        make_store(path, series=series)
    assert not path.exists()


def test_bad_rows_are_refused_and_nothing_of_them_is_kept(tmp_path: Path) -> None:
    with make_store(tmp_path / "rows.zarr", series=SERIES) as store:
        with pytest.raises(
            ValidationError,
            match=r"no series 'sample' in the run store .*; its series: \['probes', 'samples'\]$",
        ):
            store.append_series("sample", rows(0, 1))
        with pytest.raises(ValidationError, match="give every array of the series"):
            store.append_series("samples", {"label": [1]})
        with pytest.raises(ValidationError, match="the same number of rows"):
            store.append_series("samples", {"label": [1, 2], "output": np.zeros((1, 3))})
        with pytest.raises(
            ValidationError, match=r"has shape \(1, 4\), expected \(rows, \*\(3,\)\)"
        ):
            store.append_series("samples", {"label": [1], "output": np.zeros((1, 4))})
        with pytest.raises(ValidationError, match=r"\['label', 'output'\]; got list$"):
            store.append_series("samples", [[1], np.zeros((1, 3))])  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match=r"array 'accuracy' is a single value, "):
            store.append_series("probes", {"accuracy": 0.5})
        assert store.series_rows("probes") == 0
        with pytest.raises(ValidationError, match="does not cast"):
            store.append_series("samples", {"label": [1.5], "output": np.zeros((1, 3))})
        assert store.series_rows("samples") == 0
    without = make_store(tmp_path / "none.zarr")
    with pytest.raises(ValidationError, match=r"its series: none \(declare them in RunStore"):
        without.append_series("samples", rows(0, 1))
    without.close()


def test_a_checkpoint_cuts_series_back_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "resume.zarr"
    store = make_store(path, series=SERIES, series_chunk=4)
    store.append_series("samples", rows(0, 6))
    store.write_checkpoint({"rows": np.array(6)}, {"at": "six"})
    store.append_series("samples", rows(6, 9))
    store.flush()
    store.close("interrupted", "stopped by the test")
    del store
    resumed, arrays, attributes = RunStore.resume(path)
    assert attributes == {"at": "six"} and int(arrays["rows"]) == 6
    assert open_run(path).series("samples")["label"].tolist() == list(range(6))
    resumed.append_series("samples", rows(6, 3))
    resumed.close()
    np.testing.assert_array_equal(open_run(path).series("samples")["output"], rows(0, 9)["output"])


def test_a_checkpoint_before_the_first_row_resumes_with_none(tmp_path: Path) -> None:
    """A checkpoint taken before any row was appended records 0 committed rows: the resumed
    series starts empty, and its first rows are rows 0, 1, 2."""
    path = tmp_path / "early.zarr"
    store = make_store(path, series=SERIES, series_chunk=4)
    store.write_checkpoint({"rows": np.array(0)}, {"at": "start"})
    store.close("interrupted", "stopped by the test")
    del store
    resumed, _, attributes = RunStore.resume(path)
    assert attributes == {"at": "start"} and resumed.series_rows("samples") == 0
    resumed.append_series("samples", rows(0, 3))
    resumed.close()
    assert open_run(path).series("samples")["label"].tolist() == [0, 1, 2]


def test_inspect_lists_and_exports_hold_the_series(tmp_path: Path) -> None:
    path = tmp_path / "listed.zarr"
    with make_store(path, series=SERIES) as store:
        store.append_series("samples", rows(0, 3))
    listing = subprocess.run(
        [sys.executable, "-m", "neurosim", "inspect", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "series: probes (0 probe), samples (3 sample)" in listing
    assert "samples/output: (sample, unit) (3, 3)" in listing
    (exported,) = export_run(path, "npz", tmp_path / "listed.npz")
    with np.load(exported) as data:
        np.testing.assert_array_equal(data["samples/label"], [0, 1, 2])
