"""Export a run store to files that need neither zarr nor neurosim: NetCDF, CSV or NumPy .npz;
or its trained network as a GraphML topology.

``export_run(path, format, output=None)`` reads the store through ``open_run`` (its root
attributes, read first) and ``xarray.open_zarr`` (the groups), cuts ``trajectory`` along
``time`` to ``steps_done`` and ``weights`` along ``snapshot`` to ``snapshots_done``, and writes:

``netcdf``
    One NetCDF-3 file per group, ``NAME.<group>.nc`` (default ``NAME`` is the store path
    without its suffix; ``-o out.nc`` or ``-o out`` gives ``out.<group>.nc``). NetCDF-3 is what
    xarray's ``scipy`` engine writes, and it has no groups, hence one file per group; the
    netCDF4 library is not needed. Every file holds the group's arrays with their dims,
    coordinates and attributes, and the store's root attributes as global attributes, plus
    ``neurosim_group``. NetCDF-3 has no 64-bit or unsigned integers: such arrays are stored
    as ``int32`` (or ``float64`` when their values do not fit ``int32`` but are exact in it)
    with the attribute ``neurosim_dtype`` naming the original dtype; booleans round-trip as
    xarray encodes them (``int8`` with ``dtype: bool``), strings as UTF-8 characters.
    Attributes that are not a string, a float or an ``int32`` integer (the ``scenario`` dict,
    a ``None`` ``status_message``, booleans, lists, big integers) are stored as JSON text and
    listed in the attribute ``json_attributes`` (a JSON list of their names).
``csv``
    A folder (default: the store path with ``.csv``) with one CSV per group, ``<group>.csv``,
    in tidy long form: one row per value, with the columns ``group``, ``variable`` (the
    array's name), one column per dim of the group (the label where the dim has a coordinate,
    such as the step number in ``time``; the position otherwise; empty for a dim the array
    lacks) and ``value``. A scalar (a metric) is one row, never repeated on other rows;
    ``pandas.read_csv`` and ``pivot`` give an array back. Booleans are written
    ``True``/``False``; floats in the shortest text that reads back to the same value of
    their dtype. Beside them, ``attributes.json`` holds the root attributes and
    ``variables.json`` each array's dims, dtype, attributes (units among them) and file. A
    group with no arrays writes no CSV.
``npz``
    One ``.npz`` (default: the store path with ``.npz``) with every array as ``group/name``
    (native dtypes, strings as NumPy unicode), ``attributes`` (the root attributes, JSON text)
    and ``variables`` (each array's dims, dtype and attributes, JSON text); it loads with
    ``numpy.load`` and no pickle.

``graphml``
    The trained network (``export_graphml``): one GraphML file (default: the store path with
    ``.graphml``) of one weight snapshot, the last unless ``snapshot`` is given.

A store of any status exports what it has committed, and every export carries the root
attributes, so the files say the status (``status``, ``status_message``, ``steps_done``).

Nothing is overwritten: an existing output, a missing output directory, an output inside the
store, a path that is not a run store or an unknown format raise ``ValidationError`` before
anything is written. Files are written under temporary names and renamed into place at the
end; if anything fails midway (or the export is interrupted) every file written is removed.
A temporary name is hidden and names the exporting process (``.NAME.PID-TOKEN.tmp``): one
left by a killed export is removed by the next export to the same output once that process
no longer runs.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import xarray as xr
from xarray.backends.zarr import ZarrStore

from neurosim.errors import ValidationError
from neurosim.filesystem import check_output_file
from neurosim.model.topology import write_graphml
from neurosim.recording import GROUPS, RunReader, as_unicode, open_run
from neurosim.recording.location import StorePath, is_remote, local_name, store_path, zarr_url
from neurosim.recording.network import stored_graph
from neurosim.recording.reader import committed_lengths

FORMATS: Final = ("netcdf", "csv", "npz")
"""Formats ``export_run`` writes a store's groups in."""
NETWORK_FORMATS: Final = ("graphml",)
"""Formats ``export_run`` writes the trained network in."""

CSV_BLOCK_ROWS: Final = 1_000_000
"""CSV rows converted at a time: bounds the memory of a CSV export of a long trajectory."""

_INT32 = np.iinfo(np.int32)
_EXACT_FLOAT_INT = 2**53
_NETCDF_TYPES: Final = frozenset(
    np.dtype(name) for name in ("int8", "int16", "int32", "float32", "float64", "bool")
)


def export_run(
    path: str | os.PathLike[str],
    format: str,
    output: str | os.PathLike[str] | None = None,
    snapshot: int | None = None,
) -> list[Path]:
    """Export the run store at ``path`` as ``format`` (``netcdf``, ``csv``, ``npz`` or
    ``graphml``: ``export_graphml``, of weight snapshot ``snapshot``).

    ``output`` is the file (``npz``), folder (``csv``) or base name (``netcdf``: files
    ``<output without .nc>.<group>.nc``); by default it is derived from the store's path.
    Returns the files written. A path that is not a run store, an unknown format, or an output
    that exists, is inside the store or has no directory raise ``ValidationError`` (naming
    the path or format, and what is allowed) before anything is written. Anything that fails
    later (values NetCDF-3 cannot hold, a full disk, Ctrl-C) removes every file written so
    far and propagates.
    """
    if format not in (*FORMATS, *NETWORK_FORMATS):
        allowed = ", ".join((*FORMATS, *NETWORK_FORMATS))
        raise ValidationError(f"unknown export format {format!r}; allowed: {allowed}")
    if format == "graphml":
        return export_graphml(path, output, snapshot)
    if snapshot is not None:
        raise ValidationError(f"--snapshot {snapshot}: only --format graphml takes a snapshot")
    path = store_path(path)
    run = open_run(path)  # ValidationError naming the path if it is not a run store
    attributes = run.attributes  # before the data: the data on disk is never behind them
    groups = _groups(run)
    if format == "netcdf":
        base = _netcdf_base(path, output)
        targets = [base.with_name(f"{base.name}.{group}.nc") for group in groups]
    else:
        default = local_name(path).with_suffix(f".{format}")
        targets = [Path(output) if output is not None else default]
    _check_targets(path, targets)
    for target in targets:
        _remove_stale_temporaries(target)
    if format == "netcdf":
        return _export_netcdf(path, groups, attributes, targets)
    if format == "csv":
        return _export_csv(path, groups, attributes, targets[0])
    return _export_npz(path, groups, attributes, targets[0])


# --------------------------------------------------------------------------------------------
# reading


def _groups(run: RunReader) -> list[str]:
    present = run.groups()
    return [group for group in GROUPS if group in present] + sorted(
        group for group in present if group not in GROUPS
    )


def _read_group(path: StorePath, group: str, attributes: Mapping[str, Any]) -> xr.Dataset:
    """``group`` as a lazy Dataset cut to the committed steps, with strings as NumPy unicode.

    Opened with ``decode_cf=False``: values and attributes come as stored, whatever the
    attributes are called (a metric with ``units`` stays numbers).
    """
    # each array's own metadata: never behind the root attributes read before it; each array
    # cut to the committed length before they meet in one Dataset, since a writer killed in
    # the middle of a write leaves arrays resized to different lengths (which xarray refuses)
    store = ZarrStore.open_group(zarr_url(path), group=group, mode="r", consolidated=False)
    variables, _ = store.load()
    lengths = committed_lengths(dict(attributes), group)
    dataset = xr.Dataset(
        {
            name: variable.isel(
                {dim: slice(0, lengths[dim]) for dim in variable.dims if dim in lengths}
            )
            for name, variable in variables.items()
        }
    )
    dataset.set_close(store.close)
    # in one order however the file system lists the arrays
    dataset = dataset[[*sorted(dataset.data_vars, key=str.casefold), *dataset.coords]]
    dataset = dataset.drop_encoding()
    for name, variable in list(dataset.variables.items()):
        if variable.dtype.kind in "OT":
            strings = as_unicode(variable.values)
            if name in dataset.indexes:
                dataset = dataset.assign_coords({name: (variable.dims, strings, variable.attrs)})
            else:
                dataset[name] = variable.copy(data=strings)
    return dataset


def _names(dataset: xr.Dataset) -> list[str]:
    """Every array of the group: coordinates first, then data variables, each sorted."""
    return sorted(dataset.coords) + sorted(dataset.data_vars)


def _describe(dataset: xr.Dataset, group: str) -> dict[str, dict[str, Any]]:
    return {
        f"{group}/{name}": {
            "dims": list(map(str, dataset[name].dims)),
            "dtype": "str" if dataset[name].dtype.kind == "U" else str(dataset[name].dtype),
            "attrs": _plain_json(dict(dataset[name].attrs)),
        }
        for name in _names(dataset)
    }


# --------------------------------------------------------------------------------------------
# netcdf


def _netcdf_base(path: StorePath, output: str | os.PathLike[str] | None) -> Path:
    if output is None:
        return local_name(path).with_suffix("")
    base = Path(output)
    return base.with_suffix("") if base.suffix == ".nc" else base


def _export_netcdf(
    path: Path, groups: list[str], attributes: Mapping[str, Any], targets: list[Path]
) -> list[Path]:
    global_attributes = _netcdf_attributes(attributes, "the root attributes")
    with _staged_files(targets) as staged:
        for group, temporary in zip(groups, staged, strict=True):
            dataset = _netcdf_dataset(_read_group(path, group, attributes).load(), group)
            dataset.attrs = {**global_attributes, "neurosim_group": group}
            dataset.to_netcdf(temporary, engine="scipy")
    return targets


def _netcdf_dataset(dataset: xr.Dataset, group: str) -> xr.Dataset:
    """``dataset`` with every array in a type NetCDF-3 holds, checked for empty dims."""
    empty = [str(dim) for dim, size in dataset.sizes.items() if size == 0]
    misplaced = [
        f"{group}/{name} {dataset[name].dims}"
        for name in _names(dataset)
        if any(dim in dataset[name].dims[1:] for dim in empty)
    ]
    if len(empty) > 1 or misplaced:
        raise ValidationError(
            f"{group} cannot be written to NetCDF-3 (xarray's scipy engine): NetCDF-3 allows "
            f"one empty dim, and only as the first dim of the arrays over it; {group} has the "
            f"empty dims {empty}{' in ' + ', '.join(misplaced) if misplaced else ''}. "
            "Use --format npz or csv"
        )
    converted = {}
    for name in _names(dataset):
        variable = dataset[name].variable
        attrs = _netcdf_attributes(variable.attrs, f"{group}/{name}")
        converted[name] = xr.Variable(
            variable.dims, _netcdf_values(variable.values, attrs, f"{group}/{name}"), attrs
        )
    coords = {name: converted[name] for name in sorted(dataset.coords)}
    data = {name: converted[name] for name in sorted(dataset.data_vars)}
    return xr.Dataset(data, coords)


def _netcdf_values(values: np.ndarray, attrs: dict[str, Any], where: str) -> np.ndarray:
    """``values`` in a dtype NetCDF-3 holds exactly; a changed dtype is named in ``attrs``."""
    if values.dtype.kind == "U" or values.dtype in _NETCDF_TYPES:
        return values
    if values.dtype.kind == "f":  # float16 (or wider): float32 / float64
        target = np.dtype(np.float32 if values.dtype.itemsize < 4 else np.float64)
        if values.dtype.itemsize > 8:
            raise ValidationError(f"{where} has dtype {values.dtype}, which NetCDF-3 cannot hold")
    elif values.dtype.kind in "iu":
        low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
        if _INT32.min <= low and high <= _INT32.max:
            target = np.dtype(np.int32)
        elif low >= -_EXACT_FLOAT_INT and high <= _EXACT_FLOAT_INT:
            target = np.dtype(np.float64)
        else:
            raise ValidationError(
                f"{where} has {values.dtype} values from {low} to {high}, which NetCDF-3 "
                "cannot hold exactly; use --format npz or csv"
            )
    else:
        raise ValidationError(f"{where} has dtype {values.dtype}, which NetCDF-3 cannot hold")
    attrs["neurosim_dtype"] = str(values.dtype)
    return values.astype(target)


def _netcdf_attributes(attributes: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Strings, floats and int32 integers as they are; anything else as JSON text.

    The names of the JSON-encoded ones are listed in ``json_attributes`` (a JSON list), so
    ``{key: json.loads(value) if key in listed else value}`` gives the attributes back.
    """
    converted: dict[str, Any] = {}
    encoded = []
    for key, value in attributes.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str | float) or (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _INT32.min <= value <= _INT32.max
        ):
            converted[key] = value
        else:
            converted[key] = _json(value, f"{where}[{key!r}]")
            encoded.append(key)
    if encoded:
        converted["json_attributes"] = json.dumps(encoded)
    return converted


# --------------------------------------------------------------------------------------------
# csv


def _export_csv(
    path: Path, groups: list[str], attributes: Mapping[str, Any], target: Path
) -> list[Path]:
    with _staged_folder(target) as folder:
        written: list[str] = []
        variables: dict[str, dict[str, Any]] = {}
        for group in groups:
            dataset = _read_group(path, group, attributes)
            described = _describe(dataset, group)
            dims, names = _csv_columns(dataset)
            if names:
                file_name = f"{group}.csv"
                with open(folder / file_name, "w", newline="", encoding="utf-8") as stream:
                    _write_csv_table(dataset, group, dims, names, stream)
                written.append(file_name)
                for name in [*dims, *names]:
                    if f"{group}/{name}" in described:
                        described[f"{group}/{name}"]["files"] = [file_name]
            variables.update(described)
        (folder / "attributes.json").write_text(
            _json(dict(attributes), "the root attributes", indent=2) + "\n", encoding="utf-8"
        )
        (folder / "variables.json").write_text(
            _json(variables, "the variables", indent=2) + "\n", encoding="utf-8"
        )
        names = [*written, "attributes.json", "variables.json"]
    return [target / name for name in names]


CSV_LEADING_COLUMNS: Final = ("group", "variable")
CSV_VALUE_COLUMN: Final = "value"


def _csv_columns(dataset: xr.Dataset) -> tuple[tuple[str, ...], list[str]]:
    """A group's CSV: its dims (one column each, the largest array's first) and the arrays
    that have rows. Every data variable has rows; a coordinate has rows of its own only where
    it labels no dim that a data variable uses (else it is the labels of its dim's column)."""
    names = list(dataset.data_vars)
    used = {dim for name in names for dim in dataset[name].dims}
    names += [
        name
        for name in dataset.coords
        if name not in dataset.dims or not set(dataset[name].dims) <= used
    ]
    dims: list[str] = []
    for name in sorted(names, key=lambda name: -dataset[name].ndim):
        dims += [str(dim) for dim in dataset[name].dims if dim not in dims]
    clashes = set(dims) & {*CSV_LEADING_COLUMNS, CSV_VALUE_COLUMN}
    if clashes:
        raise ValidationError(
            f"dims {sorted(clashes)}: named like a column of the CSV export; use --format npz "
            "or netcdf"
        )
    return tuple(dims), names


def _write_csv_table(
    dataset: xr.Dataset, group: str, dims: tuple[str, ...], names: list[str], stream: TextIO
) -> None:
    """Write the arrays ``names`` of ``group`` in tidy long form: one row per value, with the
    group, the array's name, its position along each of ``dims`` (the label where the dim has
    a coordinate; empty for a dim the array lacks) and the value. A long array is written a
    block of rows along its first dim at a time."""
    columns = [*CSV_LEADING_COLUMNS, *dims, CSV_VALUE_COLUMN]
    stream.write(",".join(columns) + "\n")
    for name in names:
        array = dataset[name].reset_coords(drop=True).rename(CSV_VALUE_COLUMN)
        # positions where a dim has no labels, counted over the whole array, not each block
        array = array.assign_coords(
            {dim: np.arange(array.sizes[dim]) for dim in array.dims if dim not in array.coords}
        )
        if not array.dims:
            frame = array.expand_dims("row").to_dataframe().reset_index(drop=True)
            _write_rows(frame, group, name, columns, stream)
            continue
        first = array.dims[0]
        per_item = max(1, int(np.prod([array.sizes[dim] for dim in array.dims[1:]])))
        step = max(1, CSV_BLOCK_ROWS // per_item)
        for start in range(0, array.sizes[first], step):
            block = array.isel({first: slice(start, start + step)}).load()
            _write_rows(block.to_dataframe().reset_index(), group, name, columns, stream)


def _write_rows(frame: Any, group: str, name: str, columns: list[str], stream: TextIO) -> None:
    frame.insert(0, "variable", name)
    frame.insert(0, "group", group)
    frame.reindex(columns=columns).to_csv(stream, index=False, header=False)


# --------------------------------------------------------------------------------------------
# npz


def _export_npz(
    path: Path, groups: list[str], attributes: Mapping[str, Any], target: Path
) -> list[Path]:
    arrays: dict[str, np.ndarray] = {}
    variables: dict[str, dict[str, Any]] = {}
    for group in groups:
        dataset = _read_group(path, group, attributes).load()
        variables.update(_describe(dataset, group))
        for name in _names(dataset):
            arrays[f"{group}/{name}"] = np.asarray(dataset[name].values)
    arrays["attributes"] = np.array(_json(dict(attributes), "the root attributes"))
    arrays["variables"] = np.array(_json(variables, "the variables"))
    with _staged_files([target]) as (temporary,), open(temporary, "wb") as stream:
        np.savez(stream, **arrays)  # a file object: savez adds no .npz to the name
    return [target]


# graphml


def export_graphml(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    snapshot: int | None = None,
) -> list[Path]:
    """Write the trained network of the run store at ``path`` as a GraphML topology (default
    file: the store path with ``.graphml``): weight snapshot ``snapshot`` (None: the last),
    nodes named as the store's neurons with ``role``, ``layer`` and ``bias``, edges with
    ``weight`` and, where the run's topology gave one, ``delay``. The file reads back with
    ``read_graphml`` and runs as ``--topology`` with exactly these weights and biases."""
    path = store_path(path)
    graph = stored_graph(path, snapshot, "--snapshot")  # ValidationError: no store, no snapshot
    target = Path(output) if output is not None else local_name(path).with_suffix(".graphml")
    _check_targets(path, [target])
    _remove_stale_temporaries(target)
    with _staged_files([target]) as (temporary,):
        write_graphml(graph, temporary)
    return [target]


# --------------------------------------------------------------------------------------------
# outputs


def _check_targets(store: StorePath, targets: list[Path]) -> None:
    existing = [str(target) for target in targets if target.exists() or target.is_symlink()]
    if existing:
        raise ValidationError(
            f"cannot export {store}: {', '.join(existing)} already exist"
            f"{'s' if len(existing) == 1 else ''}; export never overwrites: remove "
            f"{'it' if len(existing) == 1 else 'them'} or choose another output with -o"
        )
    for target in targets:
        check_output_file(target, f"cannot export {store} to")
        if is_remote(store):
            continue
        inside = Path(store).resolve()
        directory = target.parent
        if directory.resolve() == inside or inside in directory.resolve().parents:
            raise ValidationError(
                f"cannot export {store} to {target}: that is inside the run store; choose an "
                "output outside it"
            )


@contextmanager
def _staged_files(targets: list[Path]) -> Iterator[list[Path]]:
    """Temporary files beside ``targets``, renamed onto them when the block succeeds.

    On any exception (or interruption) every temporary and every file already renamed is
    removed, and the exception propagates.
    """
    temporaries: list[Path] = []
    placed: list[Path] = []
    try:
        for target in targets:
            temporary = _temporary_name(target)
            temporary.touch(exist_ok=False)  # permissions from the umask, as for any new file
            temporaries.append(temporary)
        yield temporaries
        for temporary, target in zip(temporaries, targets, strict=True):
            _place(temporary, target)
            placed.append(target)
    except BaseException:
        for leftover in [*temporaries, *placed]:
            leftover.unlink(missing_ok=True)
        raise


@contextmanager
def _staged_folder(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, renamed onto it when the block succeeds."""
    folder = _temporary_name(target)
    folder.mkdir()
    try:
        yield folder
        _place(folder, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")


def _remove_stale_temporaries(target: Path) -> None:
    """Remove the temporaries of exports to ``target`` whose process no longer runs (killed
    before it could remove them); those of a running export are left alone."""
    prefix = f".{target.name}."
    for leftover in target.parent.glob(f"{glob.escape(prefix)}*-*.tmp"):
        pid = leftover.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _process_runs(int(pid)):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _place(temporary: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():  # appeared while the export ran
        raise ValidationError(f"{target} appeared during the export; it is left as it is")
    temporary.rename(target)


# --------------------------------------------------------------------------------------------
# JSON


def _json(value: Any, where: str, indent: int | None = None) -> str:
    try:
        return json.dumps(value, indent=indent, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as error:
        raise ValidationError(f"{where} cannot be written as JSON: {error}") from error


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{value!r} of type {type(value).__name__} is not JSON")


def _plain_json(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as plain Python (for JSON)."""
    return json.loads(_json(value, "an attribute"))
