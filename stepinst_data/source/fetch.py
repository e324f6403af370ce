"""Locate a SUP-NATINST checkout: a local folder, or the official repository archive by URL.

An archive is downloaded once into the cache; its sha256 is recorded beside it and verified on
every reuse, so a corrupted or swapped file is caught instead of silently building other data.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from ..atomic import atomic_write
from .natinst import NatInstError

logger = logging.getLogger(__name__)

OFFICIAL_ARCHIVE_URL = "https://github.com/allenai/natural-instructions/archive/refs/heads/master.zip"


def default_cache_dir() -> Path:
    """``$STEPINST_CACHE``, else ``$XDG_CACHE_HOME/stepinst``, else ``~/.cache/stepinst``."""
    if os.environ.get("STEPINST_CACHE"):
        return Path(os.environ["STEPINST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stepinst"


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path) -> str:
    """Stream ``url`` to ``dest`` atomically; return the sha256 of what arrived."""
    digest = hashlib.sha256()
    try:
        with atomic_write(dest, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except Exception as e:
        raise NatInstError(f"could not download the SUP-NATINST archive from {url}: {e}") from e
    return digest.hexdigest()


def _extract(archive: Path, dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=dest.name + ".part-"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        else:
            raise NatInstError(f"{archive}: not a zip or tar archive")
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def find_checkout_root(folder: Path) -> Path:
    """The folder holding ``tasks/`` and ``splits/`` (archives nest it one level down)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "tasks").is_dir() and (candidate / "splits").is_dir():
            return candidate
    raise NatInstError(f"{folder}: no tasks/ and splits/ folders found; is this a SUP-NATINST checkout?")


def fetch_archive(url: str, cache_dir: Path, expected_sha256: str | None = None) -> Path:
    """Download (once) and extract the archive at ``url``; return the checkout root."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    folder = cache_dir / "natinst" / key
    archive, checksum_file, extracted = folder / "archive", folder / "archive.sha256", folder / "extracted"
    if archive.is_file() and checksum_file.is_file():
        recorded = checksum_file.read_text().strip()
        actual = _sha256_file(archive)
        if actual != recorded:
            raise NatInstError(
                f"{archive}: checksum {actual} does not match the one recorded at download "
                f"({recorded}); the cached archive is corrupted. Delete {folder} to download again."
            )
    else:
        logger.info("downloading %s into %s", url, folder)
        recorded = _download(url, archive)
        checksum_file.write_text(recorded + "\n")
        shutil.rmtree(extracted, ignore_errors=True)
    if expected_sha256 and recorded != expected_sha256.lower():
        raise NatInstError(f"{url}: archive sha256 is {recorded}, expected {expected_sha256}")
    if not extracted.is_dir():
        _extract(archive, extracted)
    return find_checkout_root(extracted)


def resolve_natinst(location: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """Turn ``--natinst`` (a folder or an archive URL) into a local checkout root.

    The one place that opens a corpus: ``cache_dir`` None means :func:`default_cache_dir`.
    """
    location = str(location)
    if is_url(location):
        return fetch_archive(location, Path(cache_dir) if cache_dir else default_cache_dir())
    path = Path(location).expanduser()
    if not path.is_dir():
        raise NatInstError(
            f"--natinst {location}: no such folder. Pass a SUP-NATINST checkout or the archive "
            f"URL ({OFFICIAL_ARCHIVE_URL})."
        )
    return find_checkout_root(path)
