"""Locating weight files: explicit file -> local cache -> publisher (Hugging Face Hub or URL with sha256).

Downloads stream into ``<name>.part`` (resumed with an HTTP Range request after an interruption),
are checked against the published sha256 and only then renamed into place, so the cache never holds
a partial or unverified file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .entry import WeightEntry

__all__ = ["cache_dir", "cached_weight_path", "download_url", "resolve_weight_file", "sha256_file", "WeightsNotFoundError"]

_logger = logging.getLogger(__name__)
_CHUNK = 1 << 20


class WeightsNotFoundError(FileNotFoundError):
    """Weights are neither local nor reachable; the message names the file to place and where."""


def cache_dir() -> Path:
    """Root of visionzoo's weight cache: ``$VISIONZOO_HOME``, else ``~/.cache/visionzoo``."""
    root = os.environ.get("VISIONZOO_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "visionzoo"


def _file_name(entry: WeightEntry) -> str:
    if entry.hf_hub_id:
        return entry.hf_filename or "model.safetensors"
    if entry.url:
        return Path(urllib.parse.urlparse(entry.url).path).name
    if entry.file:
        return Path(entry.file).name
    raise ValueError("weight entry has no hf_hub_id, url or file")


def cached_weight_path(name_tag: str, entry: WeightEntry) -> Path:
    """Where the cache keeps the file of ``name.tag``."""
    return cache_dir() / "checkpoints" / name_tag / _file_name(entry)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True) -> Path:
    """Download `url` to `dest` atomically, resuming a previous partial download and checking `sha256`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        shutil.copyfile(urllib.request.url2pathname(parsed.path), part)
    else:
        _http_download(url, part, progress)
    if sha256:
        actual = sha256_file(part)
        if actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise RuntimeError(
                f"sha256 mismatch for {url}: expected {sha256}, got {actual}. The file was deleted; "
                "the download was corrupted or the published file changed."
            )
    os.replace(part, dest)
    return dest


def _http_download(url: str, part: Path, progress: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "visionzoo"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file is already complete
            return
        raise
    with response:
        resumed = offset and response.status == 206
        if offset and not resumed:
            offset = 0  # server ignored the Range request: start over
        total = response.headers.get("Content-Length")
        total = int(total) + offset if total is not None else None
        mode = "ab" if resumed else "wb"
        with open(part, mode) as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                bar.update(len(chunk))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or os.environ.get(
        "VISIONZOO_OFFLINE", "0"
    ).lower() in ("1", "true", "yes")


def resolve_weight_file(name_tag: str, entry: WeightEntry, progress: bool = True) -> Path:
    """Path of the weights of ``name.tag``: the entry's own file, the cache, or a fresh download."""
    if entry.file and Path(entry.file).expanduser().is_file():
        return Path(entry.file).expanduser()
    cached = cached_weight_path(name_tag, entry)
    if cached.is_file():
        return cached
    where = entry.hf_hub_id or entry.url or entry.file
    try:
        if entry.hf_hub_id:
            from huggingface_hub import hf_hub_download

            # offline is read per call (huggingface_hub reads HF_HUB_OFFLINE only once, at import)
            return Path(hf_hub_download(entry.hf_hub_id, filename=_file_name(entry), local_files_only=_offline()))
        if entry.url:
            if _offline():
                raise OSError("offline mode (HF_HUB_OFFLINE/VISIONZOO_OFFLINE) is set")
            return download_url(entry.url, cached, sha256=entry.sha256, progress=progress)
    except RuntimeError:
        raise
    except Exception as e:  # network, offline mode, missing hub cache
        raise WeightsNotFoundError(
            f"weights for {name_tag} are not available offline and could not be fetched from {where} ({e}). "
            f"Place the file at {cached} (e.g. with tools/download_weights.py {name_tag} on a connected machine), "
            "or pass checkpoint_path= to create_model."
        ) from e
    raise WeightsNotFoundError(f"weights for {name_tag} not found: place the file at {cached}")
