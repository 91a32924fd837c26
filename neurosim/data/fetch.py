"""Download a data set's four ``.gz`` files from its public mirrors, each checked by md5."""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from neurosim.data.datasets import DataFile, DatasetSpec, dataset_spec, file_checksum
from neurosim.errors import DataError

TIMEOUT_S = 60.0


def fetch_dataset(
    name: str,
    data_dir: Path | str,
    mirrors: Sequence[str] | None = None,
    spec: DatasetSpec | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download data set ``name`` into ``data_dir/<name>/`` and return that folder.

    Each file is tried from each mirror in order (default: the data set's public mirrors)
    until one gives bytes with the expected md5; it is written to a temporary file in the same
    folder and renamed into place only then, so no half file is ever left. Files already there
    with the right md5 are kept. ``spec`` replaces the registered description of ``name``;
    ``log`` receives a line per file. DataError, listing every URL tried and its error, when a
    file cannot be had from any mirror.
    """
    spec = spec or dataset_spec(name)
    mirrors = list(spec.mirrors if mirrors is None else mirrors)
    if not mirrors:
        raise DataError(
            f"no mirror to fetch {name} from; give at least one mirror URL (--mirror URL)"
        )
    folder = Path(data_dir).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    for data_file in spec.files.values():
        target = folder / data_file.name
        if target.is_file() and file_checksum(target, "md5") == data_file.md5:
            _report(log, f"{target}: present, md5 verified")
            continue
        url = _download(data_file, folder, mirrors)
        _report(log, f"{target}: downloaded from {url}, md5 verified")
    return folder


def _download(data_file: DataFile, folder: Path, mirrors: Sequence[str]) -> str:
    """Put ``data_file`` into ``folder`` from the first mirror that serves it intact; the URL."""
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{data_file.name}"
        handle, temporary_name = tempfile.mkstemp(prefix=f".{data_file.name}.", dir=folder)
        temporary = Path(temporary_name)
        try:
            with (
                os.fdopen(handle, "wb") as output,
                urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
            ):
                shutil.copyfileobj(response, output)
            md5 = file_checksum(temporary, "md5")
            if md5 == data_file.md5:
                os.replace(temporary, folder / data_file.name)
                return url
            failures.append(f"{url}: md5 {md5}, expected {data_file.md5} (discarded)")
        except (OSError, http.client.HTTPException, ValueError) as error:
            # URLError and HTTPError are OSErrors; ValueError is a malformed URL
            failures.append(f"{url}: {error}")
        finally:
            temporary.unlink(missing_ok=True)
    tried = "\n".join(f"  {failure}" for failure in failures)
    raise DataError(
        f"could not fetch {data_file.name} into {folder}; tried:\n{tried}\n"
        "files fetched before it are kept; try again later, pass another --mirror URL, or copy "
        "the files into that folder by hand"
    )


def _report(log: Callable[[str], None] | None, line: str) -> None:
    if log is not None:
        log(line)
