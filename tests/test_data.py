"""Data sets: IDX files, checksums, where copies are found, splits and batches, downloads and the
``neurosim data`` command, on tiny files written here (and the real MNIST where present)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import re
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import EXIT_FAILED, EXIT_OK, main
from neurosim.data import (
    DATASETS,
    PARTS,
    DataFile,
    Dataset,
    DatasetNotFoundError,
    DatasetSpec,
    Place,
    batches,
    fetch_dataset,
    load_dataset,
    one_hot,
    read_idx_images,
    read_idx_labels,
)
from neurosim.errors import DataError, ValidationError

try:
    from tests.real_data import REQUIRE_DATA, real_mnist
except ImportError:  # pytest put tests/ itself on sys.path
    from real_data import REQUIRE_DATA, real_mnist

REAL_DATA = Path(
    os.environ.get("NEUROSIM_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
RNG = np.random.default_rng(0)
TRAIN_IMAGES = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
TRAIN_LABELS = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
TEST_IMAGES = RNG.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
TEST_LABELS = np.array([7, 2, 1], dtype=np.uint8)
ARRAYS = dict(zip(PARTS, (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS), strict=True))
NAMES = dict(zip(PARTS, (spec.name for spec in DATASETS["mnist"].files.values()), strict=True))


def idx_bytes(values: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: images (3 dimensions) or labels (1)."""
    magic = 2051 if values.ndim == 3 else 2049
    return struct.pack(f">{1 + values.ndim}I", magic, *values.shape) + values.tobytes()


def gzipped(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def write_tiny(folder: Path, compress: bool = True) -> Path:
    """The tiny data set's four files in ``folder``, gzip-compressed or raw."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, values in ARRAYS.items():
        data = idx_bytes(values)
        if compress:
            (folder / NAMES[part]).write_bytes(gzipped(data))
        else:
            (folder / NAMES[part].removesuffix(".gz")).write_bytes(data)
    return folder


def tiny_spec(**places: object) -> DatasetSpec:
    """The tiny data set's files and checksums (as written by :func:`write_tiny`)."""
    files = {
        part: DataFile(
            NAMES[part],
            hashlib.md5(gzipped(idx_bytes(values))).hexdigest(),
            hashlib.sha256(idx_bytes(values)).hexdigest(),
        )
        for part, values in ARRAYS.items()
    }
    return DatasetSpec(files=files, **places)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch) -> None:
    """No real caches: HOME and the working folder are empty, NEUROSIM_DATA is unset."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def test_idx_files_read_back_exactly_gzip_or_raw_whatever_the_name(tmp_path) -> None:
    raw = write_tiny(tmp_path / "raw", compress=False)
    packed = write_tiny(tmp_path / "packed")
    for folder in (raw, packed):
        for part, values in ARRAYS.items():
            path = next(folder.glob(NAMES[part].removesuffix(".gz") + "*"))
            if part.endswith("images"):
                read = read_idx_images(path)
                assert read.dtype == np.uint8 and read.shape == (len(values), 784)
                np.testing.assert_array_equal(read, values.reshape(len(values), 784))
            else:
                np.testing.assert_array_equal(read_idx_labels(path), values)
    # compression is told by the content, not by the name
    misnamed = tmp_path / "images.gz"
    misnamed.write_bytes(idx_bytes(TRAIN_IMAGES))
    np.testing.assert_array_equal(read_idx_images(misnamed), TRAIN_IMAGES.reshape(5, 784))


@pytest.mark.parametrize(
    ("content", "reader", "message"),
    [
        (idx_bytes(TRAIN_LABELS), read_idx_images, "is that of IDX labels; expected 2051"),
        (b"\x00\x00\x08\x01\x00", read_idx_labels, "too short for an IDX labels header"),
        (
            idx_bytes(TRAIN_IMAGES)[:-1000],
            read_idx_images,
            "expected 3920 bytes after the header, found 2920",
        ),
        (idx_bytes(TRAIN_IMAGES) + b"\x00", read_idx_images, "more data than the header"),
        (idx_bytes(np.zeros((2, 28, 27), np.uint8)), read_idx_images, "28 x 27; expected 28 x 28"),
        (idx_bytes(np.array([3, 10], np.uint8)), read_idx_labels, "label 10 at index 1"),
        (gzipped(idx_bytes(TRAIN_IMAGES))[:-300], read_idx_images, "cannot read"),
        (gzipped(idx_bytes(TRAIN_LABELS))[:-8] + b"\xff" * 8, read_idx_labels, "cannot read"),
    ],
    ids=["magic", "header", "truncated", "longer", "shape", "label", "gzip-cut", "gzip-crc"],
)
def test_bad_idx_files_raise_data_error_naming_the_file(tmp_path, content, reader, message):
    path = tmp_path / "broken-idx-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError) as raised:
        reader(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_a_corrupt_copy_is_an_error_naming_file_and_checksums(tmp_path) -> None:
    spec = tiny_spec()
    folder = write_tiny(tmp_path / "data" / "tiny")
    assert load_dataset("tiny", tmp_path / "data", spec=spec).verified
    path = folder / NAMES["train_labels"]
    path.write_bytes(gzipped(idx_bytes(TRAIN_LABELS[::-1])))
    # a valid copy further down the search order must not hide the corrupt one
    write_tiny(tmp_path / "home" / ".cache" / "neurosim" / "tiny")
    with pytest.raises(DataError) as raised:
        load_dataset("tiny", tmp_path / "data", spec=spec)
    text = str(raised.value)
    assert str(path) in text and spec.files["train_labels"].md5 in text
    assert hashlib.md5(path.read_bytes()).hexdigest() in text
    assert spec.files["train_labels"].raw_sha256 in text


def test_recompressed_and_raw_copies_are_verified_by_content(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for part, values in ARRAYS.items():
        (folder / NAMES[part]).write_bytes(gzipped(idx_bytes(values), level=9))
    dataset = load_dataset("tiny", folder, spec=tiny_spec())
    assert dataset.verified and dataset.source == folder
    raw = write_tiny(tmp_path / "raw", compress=False)
    assert load_dataset("tiny", raw, spec=tiny_spec()).verified
    unpublished = {part: DataFile(file.name, file.md5) for part, file in tiny_spec().files.items()}
    dataset = load_dataset("tiny", raw, spec=DatasetSpec(files=unpublished))
    assert not dataset.verified
    np.testing.assert_array_equal(dataset.test_labels, TEST_LABELS)


def test_not_found_lists_every_place_and_how_to_get_the_files(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError) as raised:
        load_dataset("mnist", tmp_path / "nowhere")
    text = str(raised.value)
    home = tmp_path / "home"
    for place in (
        tmp_path / "nowhere" / "mnist",
        home / ".cache" / "neurosim",
        home / ".keras" / "datasets" / "mnist.npz",
        tmp_path / "data" / "MNIST" / "raw",
        home / "data" / "MNIST" / "raw",
        home / ".cache" / "torchvision" / "MNIST" / "raw",
    ):
        assert f"{place} (" in text
    assert "neurosim data fetch mnist" in text
    assert "--data-dir" in text and "NEUROSIM_DATA" in text


def test_search_order(tmp_path, monkeypatch) -> None:
    spec = tiny_spec(torchvision_folder="Tiny")
    given = write_tiny(tmp_path / "given")
    from_environment = write_tiny(tmp_path / "environment" / "tiny")
    monkeypatch.setenv("NEUROSIM_DATA", str(tmp_path / "environment"))
    assert load_dataset("tiny", given, spec=spec).source == given
    dataset = load_dataset("tiny", spec=spec)
    assert dataset.source == from_environment and dataset.found_via == "NEUROSIM_DATA"
    monkeypatch.delenv("NEUROSIM_DATA")
    torchvision = write_tiny(tmp_path / "data" / "Tiny" / "raw", compress=False)
    assert load_dataset("tiny", spec=spec).source == torchvision
    partial = tmp_path / "given-partly"
    partial.mkdir()
    (partial / NAMES["train_images"]).write_bytes((given / NAMES["train_images"]).read_bytes())
    assert load_dataset("tiny", partial, spec=spec).source == torchvision


def test_keras_archive_under_home(tmp_path) -> None:
    archive = tmp_path / "home" / ".keras" / "datasets" / "tiny.npz"
    archive.parent.mkdir(parents=True)
    np.savez(
        archive, x_train=TRAIN_IMAGES, y_train=TRAIN_LABELS, x_test=TEST_IMAGES, y_test=TEST_LABELS
    )
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = tiny_spec(keras_archive="tiny.npz", keras_archive_sha256=sha256)
    dataset = load_dataset("tiny", spec=spec)
    assert dataset.source == archive and dataset.found_via == "Keras" and dataset.verified
    np.testing.assert_array_equal(dataset.train_images, TRAIN_IMAGES.reshape(5, 784))
    np.testing.assert_array_equal(dataset.test_labels, TEST_LABELS)
    wrong = tiny_spec(keras_archive="tiny.npz", keras_archive_sha256="0" * 64)
    with pytest.raises(DataError, match=f"{archive}: sha256 {sha256}, expected 0000"):
        load_dataset("tiny", spec=wrong)


def test_a_folder_holding_another_data_set_is_passed_over(tmp_path, monkeypatch) -> None:
    other = tiny_spec()
    mine = DatasetSpec(
        files={part: DataFile(file.name, "0" * 32, "1" * 64) for part, file in other.files.items()}
    )
    monkeypatch.setitem(DATASETS, "other", other)
    folder = write_tiny(tmp_path / "folder")
    with pytest.raises(
        DatasetNotFoundError, match=re.escape(f"{folder} (--data-dir): holds the other")
    ):
        load_dataset("mine", folder, spec=mine)
    # the same files in the data set's own folder are corrupt copies, not another data set
    write_tiny(folder / "mine")
    with pytest.raises(DataError, match="md5"):
        load_dataset("mine", folder, spec=mine)


def test_arrays_are_read_once_on_first_access_and_read_only() -> None:
    reads = []

    def read(part: str) -> np.ndarray:
        reads.append(part)
        values = ARRAYS[part]
        return values.reshape(len(values), -1).copy()

    dataset = Dataset("tiny", Place(Path("tiny"), "test"), True, read)
    assert reads == []
    assert dataset.train_labels is dataset.train_labels
    assert reads == ["train_labels"]
    with pytest.raises(ValueError, match="read-only"):
        dataset.train_labels[0] = 1
    train, validation = dataset.split(2, seed=3)
    assert reads == ["train_labels"]  # a split never reads the test set
    again = dataset.split(2, seed=3)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(validation, again[1])
    assert len(validation) == 2 and not set(train) & set(validation)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(5))
    seeds = {tuple(dataset.split(2, seed=seed)[1]) for seed in range(10)}
    assert len(seeds) > 1
    with pytest.raises(ValidationError, match="n_validation = 6"):
        dataset.split(6, seed=0)


def test_batches_scale_to_unit_floats_a_batch_at_a_time() -> None:
    images = TRAIN_IMAGES.reshape(5, 784)
    indices = np.array([4, 0, 2, 1, 3])
    seen = list(batches(images, TRAIN_LABELS, indices, batch_size=2))
    assert [len(labels) for _, labels in seen] == [2, 2, 1]
    for start, (batch, labels) in enumerate(seen):
        rows = indices[2 * start : 2 * start + 2]
        assert batch.dtype == np.float32 and batch.min() >= 0.0 and batch.max() <= 1.0
        np.testing.assert_allclose(batch, images[rows] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(labels, TRAIN_LABELS[rows])
    batch, _ = next(batches(images, TRAIN_LABELS, indices, 5, dtype=np.float64))
    assert batch.dtype == np.float64
    with pytest.raises(ValidationError, match="the same number"):
        next(batches(images, TEST_LABELS, indices, 2))
    with pytest.raises(ValidationError, match="batch_size"):
        next(batches(images, TRAIN_LABELS, indices, 0))


def test_one_hot() -> None:
    targets = one_hot(np.array([2, 0]), n_classes=3)
    np.testing.assert_array_equal(targets, [[0, 0, 1], [1, 0, 0]])
    assert targets.dtype == np.float32
    with pytest.raises(ValidationError, match=r"\[0, 2\]"):
        one_hot(np.array([3]), n_classes=3)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """Keep the test output clean."""


@pytest.fixture
def mirrors(tmp_path):
    """A local web server; ``good/`` serves the tiny files, ``bad/`` damaged ones, ``missing/``
    nothing (404). Yields the server's base URL."""
    served = tmp_path / "served"
    write_tiny(served / "good")
    bad = write_tiny(served / "bad")
    for path in bad.iterdir():
        damaged = bytearray(path.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        path.write_bytes(bytes(damaged))
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_fetch_falls_back_to_the_next_mirror_and_keeps_verified_files(tmp_path, mirrors):
    spec = tiny_spec()
    lines: list[str] = []
    folder = fetch_dataset(
        "tiny",
        tmp_path / "store",
        [f"{mirrors}/missing/", f"{mirrors}/good"],
        spec,
        log=lines.append,
    )
    assert folder == tmp_path / "store" / "tiny"
    assert sorted(path.name for path in folder.iterdir()) == sorted(NAMES.values())
    assert all("downloaded from" in line and "/good/" in line for line in lines)
    np.testing.assert_array_equal(
        load_dataset("tiny", tmp_path / "store", spec=spec).test_labels, TEST_LABELS
    )
    # present and verified: nothing is downloaded, so a dead mirror does not matter
    lines.clear()
    fetch_dataset("tiny", tmp_path / "store", [f"{mirrors}/missing/"], spec, log=lines.append)
    assert all("present, md5 verified" in line for line in lines) and len(lines) == 4


def test_fetch_rejects_corrupt_downloads_and_leaves_no_file(tmp_path, mirrors) -> None:
    spec = tiny_spec()
    with pytest.raises(DataError) as raised:
        fetch_dataset("tiny", tmp_path / "store", [f"{mirrors}/missing", f"{mirrors}/bad"], spec)
    text = str(raised.value)
    name = NAMES["train_images"]
    assert f"{mirrors}/missing/{name}: HTTP Error 404" in text
    assert f"{mirrors}/bad/{name}: md5 " in text and spec.files["train_images"].md5 in text
    assert list((tmp_path / "store" / "tiny").iterdir()) == []


def test_cli_data_check(tmp_path, monkeypatch, capsys) -> None:
    for name in list(DATASETS):
        monkeypatch.delitem(DATASETS, name)
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec())
    folder = write_tiny(tmp_path / "given" / "tiny")
    assert main(["data", "check", "--data-dir", str(tmp_path / "given")]) == EXIT_OK
    assert f"tiny: {folder} (--data-dir); checksums verified" in capsys.readouterr().out
    assert main(["data", "check"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("tiny: missing; data set tiny not found")
    assert "neurosim data fetch tiny" in out
    (folder / NAMES["test_images"]).write_bytes(b"\x1f\x8b broken")
    assert main(["data", "check", "--data-dir", str(tmp_path / "given")]) == EXIT_FAILED
    assert "tiny: corrupt: " in capsys.readouterr().out


def test_cli_data_fetch(tmp_path, monkeypatch, mirrors, capsys) -> None:
    monkeypatch.setitem(DATASETS, "mnist", tiny_spec())
    store = tmp_path / "store"
    arguments = ["data", "fetch", "mnist", "--data-dir", str(store), "--mirror"]
    assert main([*arguments, f"{mirrors}/good/"]) == EXIT_OK
    assert f"mnist: the four files are in {store / 'mnist'}" in capsys.readouterr().out
    monkeypatch.setenv("NEUROSIM_DATA", str(tmp_path / "environment"))
    assert main(["data", "fetch", "mnist", "--mirror", f"{mirrors}/missing/"]) == EXIT_FAILED
    error = capsys.readouterr().err
    assert error.startswith("neurosim: error: could not fetch") and "404" in error
    assert str(tmp_path / "environment" / "mnist") in error


def test_missing_real_data_is_skipped_unless_required(tmp_path, monkeypatch) -> None:
    """Without NEUROSIM_REQUIRE_DATA a real-data test skips where the data set is absent; with
    it set to 1 (as CI does wherever it sets NEUROSIM_DATA) it fails, naming where it looked."""
    nowhere = tmp_path / "nowhere"
    for unset in (None, "0", ""):
        if unset is None:
            monkeypatch.delenv(REQUIRE_DATA, raising=False)
        else:
            monkeypatch.setenv(REQUIRE_DATA, unset)
        with pytest.raises(pytest.skip.Exception, match="MNIST not found"):
            real_mnist(nowhere)
    monkeypatch.setenv(REQUIRE_DATA, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE_DATA}=1") as raised:
        real_mnist(nowhere)
    assert f"{nowhere / 'mnist'} (--data-dir)" in str(raised.value)
    # a data set that is there is returned whatever the variable says
    monkeypatch.setitem(DATASETS, "mnist", tiny_spec())
    found = write_tiny(tmp_path / "found" / "mnist")
    assert real_mnist(found.parent).source == found


def test_real_mnist() -> None:
    """The real MNIST in ``NEUROSIM_DATA`` (else ../shared/data): skipped where it is absent,
    failed there when ``NEUROSIM_REQUIRE_DATA=1``."""
    dataset = real_mnist(REAL_DATA)
    assert dataset.source in (REAL_DATA, REAL_DATA / "mnist")
    assert dataset.verified
    assert dataset.train_images.shape == (60000, 784) and dataset.test_images.shape == (10000, 784)
    assert len(dataset.test_labels) == 10000
    assert np.bincount(dataset.train_labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]  # fmt: skip
    assert dataset.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
