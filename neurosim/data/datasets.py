"""MNIST and Fashion-MNIST: what they are, where they are looked for, and a light object over
them.

:func:`load_dataset` looks in these places, in this order, and takes the first that holds all
four files of the data set (each ``.gz`` or decompressed):

1. ``data_dir``: the folder ``data_dir/<name>/``, then ``data_dir`` itself;
2. the folder in the environment variable ``NEUROSIM_DATA``, by the same rule;
3. ``~/.cache/neurosim``, by the same rule (where ``neurosim data fetch`` puts the files when
   ``NEUROSIM_DATA`` is not set);
4. Keras' cache: ``~/.keras/datasets/mnist.npz`` (MNIST) or ``~/.keras/datasets/fashion-mnist/``;
5. torchvision's folders ``<root>/MNIST/raw`` and ``<root>/FashionMNIST/raw`` for the roots
   ``./data``, ``~/data`` and ``~/.cache/torchvision``;
6. ``/usr/share/datasets/fashion-mnist/`` (Fashion-MNIST, the Debian package
   ``dataset-fashion-mnist``).

Every file found is checked against the published checksums: the md5 of the canonical ``.gz``
file, else the sha256 of the decompressed content (a decompressed or recompressed copy). A
file that matches neither is an error, never a reason to look further.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosim.checks import check_integer, describe
from neurosim.data.idx import check_labels, is_gzip, read_idx_images, read_idx_labels
from neurosim.errors import DataError, ValidationError

PARTS = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10


@dataclass(frozen=True)
class DataFile:
    """One of a data set's four IDX files: its ``.gz`` name and published checksums."""

    name: str
    md5: str
    """md5 of the canonical ``.gz`` file."""
    raw_sha256: str | None = None
    """sha256 of the decompressed file, where published."""

    @property
    def raw_name(self) -> str:
        return self.name.removesuffix(".gz")


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its files keyed by :data:`PARTS`, where to download them, and the places
    other tools keep them."""

    files: Mapping[str, DataFile]
    mirrors: tuple[str, ...] = ()
    keras_archive: str | None = None
    """file in ``~/.keras/datasets`` with arrays x_train, y_train, x_test, y_test."""
    keras_archive_sha256: str | None = None
    keras_folder: str | None = None
    """folder in ``~/.keras/datasets`` with the four ``.gz`` files."""
    torchvision_folder: str | None = None
    system_folders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if tuple(self.files) != PARTS:
            raise ValidationError(
                f"DatasetSpec.files has keys {list(self.files)}; expected {list(PARTS)}"
            )
        if (self.keras_archive is None) != (self.keras_archive_sha256 is None):
            raise ValidationError(
                "DatasetSpec.keras_archive and keras_archive_sha256: expected both or neither"
            )


def _standard_files(md5s: tuple[str, ...], raw_sha256s: tuple[str, ...]) -> dict[str, DataFile]:
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    return {
        part: DataFile(name, md5, sha256)
        for part, name, md5, sha256 in zip(PARTS, names, md5s, raw_sha256s, strict=True)
    }


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        files=_standard_files(
            (
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
            (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        keras_archive="mnist.npz",
        keras_archive_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        torchvision_folder="MNIST",
    ),
    "fashion-mnist": DatasetSpec(
        files=_standard_files(
            (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
            (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        keras_folder="fashion-mnist",
        torchvision_folder="FashionMNIST",
        # Debian's package recompresses the files: their content, not their md5, matches
        system_folders=("/usr/share/datasets/fashion-mnist",),
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The registered data set ``name``; ValidationError listing the names otherwise."""
    if name not in DATASETS:
        raise ValidationError(f"data set {name!r}: expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def default_data_dir() -> Path:
    """Where ``neurosim data fetch`` puts data sets: ``NEUROSIM_DATA``, else
    ``~/.cache/neurosim``."""
    configured = os.environ.get("NEUROSIM_DATA")
    return Path(configured).expanduser() if configured else _neurosim_cache()


def _neurosim_cache() -> Path:
    return Path.home() / ".cache" / "neurosim"


@dataclass(frozen=True)
class Place:
    """A place :func:`load_dataset` looks: a folder of IDX files or a Keras archive."""

    path: Path
    found_via: str
    """why neurosim looks there, e.g. ``NEUROSIM_DATA``."""
    bare: bool = False
    """a folder named by the user that may hold another registered data set's files."""
    archive_sha256: str | None = None
    """set for a Keras ``.npz`` archive: its expected sha256."""


def search_places(
    name: str, data_dir: Path | str | None = None, spec: DatasetSpec | None = None
) -> list[Place]:
    """The places :func:`load_dataset` looks for data set ``name``, in order (see the module's
    docstring)."""
    spec = spec or dataset_spec(name)
    home = Path.home()
    roots = [(data_dir, "--data-dir"), (os.environ.get("NEUROSIM_DATA"), "NEUROSIM_DATA")]
    roots.append((_neurosim_cache(), "neurosim data fetch"))
    places = []
    for root, found_via in roots:
        if root:
            folder = Path(root).expanduser()
            places += [Place(folder / name, found_via), Place(folder, found_via, bare=True)]
    keras = home / ".keras" / "datasets"
    if spec.keras_archive:
        places.append(
            Place(keras / spec.keras_archive, "Keras", archive_sha256=spec.keras_archive_sha256)
        )
    if spec.keras_folder:
        places.append(Place(keras / spec.keras_folder, "Keras"))
    if spec.torchvision_folder:
        for root in (Path.cwd() / "data", home / "data", home / ".cache" / "torchvision"):
            places.append(Place(root / spec.torchvision_folder / "raw", "torchvision"))
    places += [Place(Path(folder), "system package") for folder in spec.system_folders]
    unique: dict[Path, Place] = {}
    for place in places:
        unique.setdefault(place.path, place)
    return list(unique.values())


class DatasetNotFoundError(DataError):
    """No place holds the data set; the message lists each place and how to get the files."""


def load_dataset(
    name: str, data_dir: Path | str | None = None, *, spec: DatasetSpec | None = None
) -> Dataset:
    """The data set ``name`` (``mnist`` or ``fashion-mnist``) from the first place that holds it
    (see the module's docstring), its files checked against the published checksums; the
    arrays are read on first access.

    ``spec`` replaces the registered description of ``name`` (files, checksums). Raises
    DatasetNotFoundError listing the places looked, or DataError for a corrupt file.
    """
    spec = spec or dataset_spec(name)
    looked = []
    for place in search_places(name, data_dir, spec):
        found = _dataset_at(name, spec, place)
        if isinstance(found, Dataset):
            return found
        looked.append(f"  {place.path} ({place.found_via}): {found}")
    file_names = ", ".join(data_file.name for data_file in spec.files.values())
    raise DatasetNotFoundError(
        f"data set {name} not found; looked in:\n"
        + "\n".join(looked)
        + f"\nget it with `neurosim data fetch {name}` (into $NEUROSIM_DATA or "
        f"~/.cache/neurosim), or put the files {file_names} (gzip-compressed or not) in a "
        f"folder DIR or DIR/{name}/ and give `--data-dir DIR` (to neurosim run, sweep or data "
        f"check; experiment.data_dir in a scenario) or set NEUROSIM_DATA=DIR"
    )


def _dataset_at(name: str, spec: DatasetSpec, place: Place) -> Dataset | str:
    """The data set at ``place``, or why it is not there."""
    if place.archive_sha256 is not None:
        if not place.path.is_file():
            return "no such file"
        _check_checksum(place.path, "sha256", place.archive_sha256)
        return Dataset(name, place, True, lambda part: _read_keras_part(place.path, part))
    if not place.path.is_dir():
        return "no such folder"
    files = {}
    for part, data_file in spec.files.items():
        for candidate in (place.path / data_file.name, place.path / data_file.raw_name):
            if candidate.is_file():
                files[part] = candidate
                break
    if not files:
        return "no files of the data set"
    if len(files) < len(PARTS):
        missing = [spec.files[part].name for part in PARTS if part not in files]
        return f"{len(files)} of {len(PARTS)} files; missing {', '.join(missing)}"
    verified = True
    for part, path in files.items():
        try:
            verified &= verify_file(path, spec.files[part])
        except DataError:
            owner = _owner(name, part, path) if place.bare else None
            if owner is None:
                raise
            return f"holds the {owner} files"
    return Dataset(name, place, verified, lambda part: _read_idx_part(files[part], part))


def _owner(name: str, part: str, path: Path) -> str | None:
    """The other registered data set whose file ``path`` is, if any."""
    for other, spec in DATASETS.items():
        if other == name:
            continue
        try:
            if verify_file(path, spec.files[part]):
                return other
        except DataError:
            continue
    return None


def verify_file(path: Path, data_file: DataFile) -> bool:
    """Check ``path`` against ``data_file``'s checksums: a gzip file by the md5 of the
    canonical ``.gz``, else (recompressed, or not compressed) by the sha256 of its content.
    True when a checksum matched, False when none is published for this form; DataError
    naming the file and the checksums when it does not match."""
    if is_gzip(path):
        md5 = file_checksum(path, "md5")
        if md5 == data_file.md5:
            return True
        mismatch = f"{path}: md5 {md5}, expected {data_file.md5} (the canonical {data_file.name})"
        if data_file.raw_sha256 is None:
            raise DataError(f"{mismatch}; {_REFETCH}")
        try:
            with gzip.GzipFile(path, "rb") as handle:
                content = hashlib.file_digest(handle, "sha256").hexdigest()
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{mismatch}, and it cannot be decompressed: {error}") from error
        if content != data_file.raw_sha256:
            raise DataError(
                f"{mismatch}, and its decompressed content has sha256 {content}, expected "
                f"{data_file.raw_sha256}; {_REFETCH}"
            )
        return True
    if data_file.raw_sha256 is None:
        return False
    _check_checksum(path, "sha256", data_file.raw_sha256)
    return True


_REFETCH = "the file is corrupt or another file: delete it and fetch it again"


def file_checksum(path: Path, algorithm: str) -> str:
    """Hex digest of the file's bytes (streamed, not read whole)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(
            handle, lambda: hashlib.new(algorithm, usedforsecurity=False)
        ).hexdigest()


def _check_checksum(path: Path, algorithm: str, expected: str) -> None:
    actual = file_checksum(path, algorithm)
    if actual != expected:
        raise DataError(f"{path}: {algorithm} {actual}, expected {expected}; {_REFETCH}")


def _read_idx_part(path: Path, part: str) -> np.ndarray:
    if part.endswith("images"):
        return read_idx_images(path, IMAGE_SHAPE)
    return read_idx_labels(path, N_CLASSES)


def _read_keras_part(path: Path, part: str) -> np.ndarray:
    split, kind = part.split("_")
    key = f"{'x' if kind == 'images' else 'y'}_{split}"
    # the archive's sha256 was checked, so its arrays are the canonical ones
    with np.load(path) as archive:
        values = archive[key]
    if kind == "images":
        return values.reshape(len(values), -1)
    check_labels(values, f"{path}[{key}]", N_CLASSES)
    return values.astype(np.uint8, copy=False)


class Dataset:
    """A data set on disk, read on first access of each array and kept as read-only uint8:
    images of shape (n, 784), labels of shape (n,) in 0-9.

    ``source`` is the file or folder it was found in, ``found_via`` why neurosim looked there,
    ``verified`` whether every file matched a published checksum.
    """

    def __init__(
        self, name: str, place: Place, verified: bool, read: Callable[[str], np.ndarray]
    ) -> None:
        self.name = name
        self.source = place.path
        self.found_via = place.found_via
        self.verified = verified
        self._read = read
        self._arrays: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, source={str(self.source)!r})"

    @property
    def train_images(self) -> np.ndarray:
        return self._array("train_images")

    @property
    def train_labels(self) -> np.ndarray:
        return self._array("train_labels")

    @property
    def test_images(self) -> np.ndarray:
        return self._array("test_images")

    @property
    def test_labels(self) -> np.ndarray:
        return self._array("test_labels")

    def split(self, n_validation: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(train_indices, validation_indices): a deterministic random carve of the TRAINING
        set into ``n_validation`` validation samples and the rest, both sorted. Tune on the
        validation part; the test set is never part of a split, so it stays unseen until the
        final evaluation."""
        n_train = len(self.train_labels)
        n_validation = check_integer("n_validation", n_validation, 0, n_train)
        seed = check_integer("seed", seed, 0)
        order = np.random.default_rng(seed).permutation(n_train)
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])

    def _array(self, part: str) -> np.ndarray:
        if part not in self._arrays:
            values = self._read(part)
            # cached arrays are shared by every caller: make accidental writes fail
            values.flags.writeable = False
            self._arrays[part] = values
        return self._arrays[part]


def batches(
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    batch_size: int,
    dtype: type[np.floating] = np.float32,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images scaled to [0, 1] as ``dtype``, labels) for ``indices`` in order, ``batch_size``
    at a time (the last batch may be smaller). Only each batch is converted, so a whole set
    never exists as floats."""
    if len(images) != len(labels):
        raise ValidationError(
            f"images has {len(images)} rows and labels {len(labels)}; expected the same number"
        )
    batch_size = check_integer("batch_size", batch_size, 1)
    indices = np.asarray(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValidationError(
            f"indices: array of shape {indices.shape} and dtype {indices.dtype}; expected a "
            "1-D integer array"
        )
    for start in range(0, len(indices), batch_size):
        batch = indices[start : start + batch_size]
        scaled = images[batch].astype(dtype)
        scaled /= 255
        yield scaled, labels[batch]


def one_hot(
    labels: np.ndarray, n_classes: int = N_CLASSES, dtype: type[np.number] = np.float32
) -> np.ndarray:
    """Labels as rows of a (n, n_classes) array: 1 in the label's column, 0 elsewhere."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or (
        labels.size and (labels.min() < 0 or labels.max() >= n_classes)
    ):
        raise ValidationError(
            f"labels: {describe(labels)}; expected integers in [0, {n_classes - 1}]"
        )
    return np.eye(n_classes, dtype=dtype)[labels]
