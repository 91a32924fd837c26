"""Data sets: MNIST and Fashion-MNIST, found on disk or fetched, checked by checksum.

- :func:`load_dataset`: the first copy found (``--data-dir``, ``NEUROSIM_DATA``,
  ``~/.cache/neurosim``, Keras' and torchvision's caches, the Debian package), as a
  :class:`Dataset` that reads each array on first access;
- :func:`batches`, :func:`one_hot`: float batches and targets, converted a batch at a time;
- :func:`fetch_dataset`: download the four files from public mirrors;
- :func:`read_idx_images`, :func:`read_idx_labels`: the IDX format, gzip-compressed or raw.
"""

from __future__ import annotations

from neurosim.data.datasets import (
    DATASETS,
    PARTS,
    DataFile,
    Dataset,
    DatasetNotFoundError,
    DatasetSpec,
    Place,
    batches,
    dataset_spec,
    default_data_dir,
    file_checksum,
    load_dataset,
    one_hot,
    search_places,
    verify_file,
)
from neurosim.data.fetch import fetch_dataset
from neurosim.data.idx import read_idx_images, read_idx_labels

__all__ = [
    "DATASETS",
    "PARTS",
    "DataFile",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetSpec",
    "Place",
    "batches",
    "dataset_spec",
    "default_data_dir",
    "fetch_dataset",
    "file_checksum",
    "load_dataset",
    "one_hot",
    "read_idx_images",
    "read_idx_labels",
    "search_places",
    "verify_file",
]
