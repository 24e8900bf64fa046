"""Locating weight files: explicit file -> local cache -> publisher (Hugging Face Hub or URL with sha256).

Cache layout: ``$VISIONZOO_HOME/checkpoints/<name.tag>/<file>`` (``~/.cache/visionzoo`` without the
variable). Hub entries live in the Hugging Face cache (``HF_HUB_CACHE``/``HF_HOME``, read on each call),
unless a file was placed at the visionzoo path, which always wins.

Downloads stream into ``<file>.part``. A connection that drops mid-file is resumed with an HTTP
``Range`` request (automatically a few times, and again on the next call, since the ``.part`` file is
kept); the result is checked against the published sha256 and only then renamed into place, so the
cache never holds a partial or unverified file. A wrong sha256 deletes the download.

Zip releases (a ``.zip`` URL): the archive is downloaded the same way (the sha256 pins the archive),
the entry's `archive_member` is extracted to a temporary file beside its cache path and renamed into
place, and the archive is then deleted — the extracted checkpoint is the cache entry, and keeping both
would double the disk use. A member with an absolute path or ``..`` is refused. An archive placed in
the cache folder by hand (from an air-gapped transfer) is unpacked the same way without a download.

Concurrent processes (e.g. DDP ranks) fetching the same file wait on a lock; the first one downloads.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ..utils.files import atomic_write, publish_file
from .checkpoint import CheckpointError
from .entry import WeightEntry, unsafe_member_name

__all__ = [
    "DownloadInterrupted",
    "WeightsNotFoundError",
    "cache_dir",
    "cached_weight_path",
    "download_url",
    "extract_archive_member",
    "hf_cache_dir",
    "resolve_weight_file",
    "sha256_file",
]

_logger = logging.getLogger(__name__)
_CHUNK = 1 << 20
_RETRIES = 3
_RETRY_DELAY = 0.5  # seconds, times the retry number


class WeightsNotFoundError(FileNotFoundError):
    """Weights are neither local nor reachable; the message names the file to place and where."""


class DownloadInterrupted(ConnectionError):
    """The connection dropped before the whole file arrived; the ``.part`` file is kept for resuming."""


def cache_dir() -> Path:
    """Root of visionzoo's weight cache: ``$VISIONZOO_HOME``, else ``~/.cache/visionzoo``."""
    root = os.environ.get("VISIONZOO_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "visionzoo"


def hf_cache_dir() -> Path | None:
    """The Hugging Face hub cache as the environment says now (``HF_HUB_CACHE``, else ``HF_HOME/hub``).

    Read per call because huggingface_hub reads these variables only once, at import.
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return None


def _file_name(entry: WeightEntry) -> str:
    if entry.hf_hub_id:
        return entry.hf_filename or "model.safetensors"
    if entry.archive_member:
        return PurePosixPath(entry.archive_member.replace("\\", "/")).name
    if entry.url:
        return Path(urllib.parse.urlparse(entry.url).path).name
    if entry.file:
        return Path(entry.file).name
    raise ValueError("weight entry has no hf_hub_id, url or file")


def cached_weight_path(name_tag: str, entry: WeightEntry) -> Path:
    """Where the cache keeps the file of ``name.tag`` (for a zip release: the extracted member)."""
    return cache_dir() / "checkpoints" / name_tag / _file_name(entry)


def _archive_path(name_tag: str, entry: WeightEntry) -> Path:
    """Where a zip release is downloaded to (and may be placed by hand) before extraction."""
    return cache_dir() / "checkpoints" / name_tag / Path(urllib.parse.urlparse(entry.url).path).name


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(
    url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True, retries: int = _RETRIES
) -> Path:
    """Download `url` to `dest` atomically, resuming an interrupted download and checking `sha256`.

    An interruption is resumed up to `retries` times; after that the ``.part`` file stays for the next
    call to resume. A sha256 mismatch deletes the download and raises RuntimeError.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        shutil.copyfile(urllib.request.url2pathname(parsed.path), part)
    else:
        for attempt in range(retries + 1):
            try:
                _http_download(url, part, progress)
                break
            except DownloadInterrupted as e:
                if attempt == retries:
                    raise DownloadInterrupted(
                        f"download of {url} was interrupted {retries + 1} times ({e}); the partial file {part} "
                        "is kept: run the same command again to resume it"
                    ) from e
                _logger.warning("%s; resuming (retry %d of %d)", e, attempt + 1, retries)
                time.sleep(_RETRY_DELAY * attempt)
    if sha256:
        actual = sha256_file(part)
        if actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise RuntimeError(
                f"sha256 mismatch for {url}: expected {sha256}, got {actual}. The file was deleted; "
                "the download was corrupted or the published file changed."
            )
    return publish_file(part, dest)


def _content_range_start(header: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", header or "")
    return int(match.group(1)) if match else None


def _http_download(url: str, part: Path, progress: bool) -> None:
    """One HTTP request appending to (or restarting) `part`; raises DownloadInterrupted on a short read."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "visionzoo"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing after `offset`: complete, unless the .part is longer than the file
            total = (e.headers.get("Content-Range") or "").rpartition("/")[2]
            if not total.isdigit() or int(total) == offset:
                return
            part.unlink()
            raise DownloadInterrupted(f"{part} was longer than {url}; restarting") from e
        raise
    except (TimeoutError, socket.timeout) as e:
        raise DownloadInterrupted(f"connection to {url} timed out") from e
    with response:
        if (response.headers.get("Content-Type") or "").lower().startswith("text/html"):
            raise WeightsNotFoundError(
                f"{url} answered with a web page, not a weight file (a Google Drive/Dropbox sharing link?). "
                "Download the file in a browser and pass it as checkpoint_path=, or place it at "
                f"{part.with_name(part.name[: -len('.part')])}."
            )
        if offset and (response.status != 206 or _content_range_start(response.headers.get("Content-Range")) != offset):
            offset = 0  # the server ignored (or misread) the Range request: start over
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        written = 0
        with open(part, "ab" if offset else "wb") as f, tqdm(
            total=None if length is None else offset + length,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=part.name[: -len(".part")],
            disable=not progress,
        ) as bar:
            try:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    f.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, socket.timeout) as e:
                raise DownloadInterrupted(f"connection to {url} lost after {offset + written} bytes ({e})") from e
        if length is not None and written < length:
            # http.client returns b"" (no error) when the server closes early: check the length ourselves
            raise DownloadInterrupted(f"connection to {url} closed after {offset + written} of {offset + length} bytes")


def extract_archive_member(archive: str | os.PathLike, member: str, dest: str | os.PathLike) -> Path:
    """Extract `member` (a path in the zip, or a file name matched at any depth) to `dest`, atomically.

    Members with absolute paths or ``..`` are refused (CheckpointError), as are corrupt archives.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{archive} is not a readable zip archive ({e}); it may be truncated or corrupt") from e
    with zf:
        files = [i for i in zf.infolist() if not i.is_dir()]
        wanted = PurePosixPath(member.replace("\\", "/"))
        found = [i for i in files if i.filename == member] or [
            i for i in files if PurePosixPath(i.filename.replace("\\", "/")).name == wanted.name
        ]
        listing = ", ".join(i.filename for i in files[:12]) or "nothing"
        if not found:
            raise CheckpointError(f"{archive} has no member {member!r} (it holds: {listing})")
        if len(found) > 1:
            raise CheckpointError(f"{archive} has several members named {wanted.name!r}: {', '.join(i.filename for i in found)}")
        info = found[0]
        if unsafe_member_name(info.filename):
            raise CheckpointError(
                f"refusing to extract {info.filename!r} from {archive}: an absolute path or '..' could write outside "
                "the cache. The archive is not a genuine release; delete it and check where it came from."
            )
        try:
            with atomic_write(dest) as tmp, open(tmp, "wb") as out, zf.open(info) as src:
                shutil.copyfileobj(src, out, _CHUNK)
        except zipfile.BadZipFile as e:  # CRC mismatch while reading
            raise CheckpointError(f"{info.filename} in {archive} is corrupt ({e})") from e
    return dest


@contextlib.contextmanager
def _download_lock(dest: Path) -> Iterator[None]:
    """Serialise fetches of one cache file across processes (a lock file in the temp dir, not the cache)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    lock_dir = Path(tempfile.gettempdir()) / "visionzoo-locks"
    lock_dir.mkdir(exist_ok=True)
    name = hashlib.sha256(str(dest.absolute()).encode()).hexdigest()[:32] + ".lock"
    try:
        fd = os.open(lock_dir / name, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # another user's lock file: go on unlocked rather than fail
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _offline() -> bool:
    return any(
        os.environ.get(var, "0").strip().lower() in ("1", "true", "yes", "on") for var in ("HF_HUB_OFFLINE", "VISIONZOO_OFFLINE")
    )


def _remove_empty_dirs(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()  # only if empty


def _placement_hint(name_tag: str, entry: WeightEntry, cached: Path) -> str:
    if entry.hf_hub_id:
        hub = hf_cache_dir() or "HF_HOME/hub"
        what = (
            f"Place the file at {cached} ({cached.name} from https://huggingface.co/{entry.hf_hub_id}), "
            f"or fill the Hugging Face cache {hub}"
        )
    elif entry.is_archive:
        what = (
            f"Place the file at {cached} ({cached.name}: the member {entry.archive_member} of "
            f"{Path(entry.url).name}), or the archive itself at {_archive_path(name_tag, entry)}"
        )
    else:
        what = f"Place the file at {cached} ({cached.name} from {entry.url or entry.file})"
    return (
        f"{what}; e.g. run `python tools/download_weights.py {name_tag}` on a connected machine and copy its "
        f"cache ({cache_dir()}) here. Or pass checkpoint_path= to create_model."
    )


def resolve_weight_file(name_tag: str, entry: WeightEntry, progress: bool = True, url: str | None = None) -> Path:
    """Path of the weights of ``name.tag``: the entry's own file, the cache, or a fresh download.

    `url` downloads from a mirror instead of the entry's URL (same sha256, archive member and cache path).
    """
    if entry.file and Path(entry.file).expanduser().is_file():
        return Path(entry.file).expanduser()
    cached = cached_weight_path(name_tag, entry)
    if cached.is_file():
        return cached
    if entry.hf_hub_id:
        return _hub_file(name_tag, entry, cached)
    if entry.url:
        with _download_lock(cached):
            if cached.is_file():  # another process fetched it while we waited
                return cached
            return _url_file(name_tag, entry, cached, url or entry.url, progress)
    raise WeightsNotFoundError(f"weights for {name_tag}: {entry.file} does not exist. {_placement_hint(name_tag, entry, cached)}")


def _hub_file(name_tag: str, entry: WeightEntry, cached: Path) -> Path:
    try:
        from huggingface_hub import hf_hub_download

        return Path(
            hf_hub_download(
                entry.hf_hub_id,
                filename=_file_name(entry),
                local_files_only=_offline(),
                cache_dir=hf_cache_dir(),
                endpoint=os.environ.get("HF_ENDPOINT") or None,
            )
        )
    except Exception as e:  # network, offline mode, missing hub cache
        raise WeightsNotFoundError(
            f"weights for {name_tag} are not cached and could not be fetched from the Hugging Face Hub "
            f"({entry.hf_hub_id}: {type(e).__name__}: {e}). {_placement_hint(name_tag, entry, cached)}"
        ) from e


def _url_file(name_tag: str, entry: WeightEntry, cached: Path, url: str, progress: bool) -> Path:
    target = _archive_path(name_tag, entry) if entry.is_archive else cached
    try:
        if entry.is_archive and target.is_file():  # placed by hand: verify, then unpack without network
            if entry.sha256 and sha256_file(target) != entry.sha256.lower():
                raise RuntimeError(f"{target} does not match the published sha256 {entry.sha256}: delete it and fetch it again")
            _logger.info("unpacking %s found in the cache", target)
        else:
            if _offline():
                raise OSError("offline mode (HF_HUB_OFFLINE/VISIONZOO_OFFLINE) is set")
            download_url(url, target, sha256=entry.sha256, progress=progress)
    except RuntimeError:
        _remove_empty_dirs(cached.parent)
        raise
    except Exception as e:  # network down, offline mode, HTTP errors, interrupted downloads
        _remove_empty_dirs(cached.parent)
        raise WeightsNotFoundError(
            f"weights for {name_tag} are not cached and could not be fetched from {url} ({type(e).__name__}: {e}). "
            f"{_placement_hint(name_tag, entry, cached)}"
        ) from e
    if entry.is_archive:
        try:
            extract_archive_member(target, entry.archive_member, cached)
        except CheckpointError as e:
            target.unlink(missing_ok=True)
            _remove_empty_dirs(cached.parent)
            raise CheckpointError(f"{e} (the archive was deleted)") from e
        target.unlink()  # the extracted member is the cache entry (see the module docstring)
        _logger.info("extracted %s from %s to %s", entry.archive_member, url, cached)
    return cached
