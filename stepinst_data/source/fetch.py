"""Locate a SUP-NATINST checkout: a local folder, or the official repository archive by URL.

An archive is downloaded once into the cache; its sha256 is recorded beside it and verified on
every reuse, so a corrupted or swapped file is caught instead of silently building other data.
"""

from __future__ import annotations

import functools
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
from .digest import sha256_file
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


def _is_archive(path: Path) -> bool:
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


def _head(path: Path, size: int = 60) -> str:
    """The first bytes of a download, to show what the URL served instead of an archive."""
    with open(path, "rb") as f:
        return repr(f.read(size))


def _download(url: str, dest: Path) -> str:
    """Stream ``url`` to ``dest`` atomically; return the sha256 of what arrived.

    What is not a zip or tar archive (an HTML error page, a login wall) is never swapped into the
    cache, so the next run downloads again instead of failing forever on the cached file.
    """
    digest = hashlib.sha256()
    try:
        check = functools.partial(_check_is_archive, url=url, dest=dest)  # raising discards the download
        with atomic_write(dest, "wb", check=check) as out, urllib.request.urlopen(url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except NatInstError:
        raise
    except Exception as e:
        raise NatInstError(f"could not download the SUP-NATINST archive from {url}: {e}") from e
    return digest.hexdigest()


def _check_is_archive(path: Path, url: str, dest: Path) -> None:
    if not _is_archive(path):
        raise NatInstError(
            f"{url} served {path.stat().st_size} bytes that are not a zip or tar archive "
            f"(it starts with {_head(path)}); nothing was kept in the cache {dest.parent}. "
            f"Check the URL: --natinst takes a SUP-NATINST checkout folder or its archive URL "
            f"({OFFICIAL_ARCHIVE_URL})."
        )


def _extract(archive: Path, dest: Path, url: str) -> None:
    """Extract into ``dest`` atomically; a broken archive is removed from the cache, naming the URL."""
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=dest.name + ".part-"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        _forget(archive)
        raise NatInstError(
            f"the archive downloaded from {url} cannot be extracted ({type(e).__name__}: {e}); it was "
            f"removed from the cache ({archive}). Run again to download it again."
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _forget(archive: Path) -> None:
    """Remove a cached archive and its checksum (both written by stepinst)."""
    archive.unlink(missing_ok=True)
    archive.with_name(archive.name + ".sha256").unlink(missing_ok=True)


def find_checkout_root(folder: Path) -> Path:
    """The folder holding ``tasks/`` and ``splits/`` (archives nest it one level down)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "tasks").is_dir() and (candidate / "splits").is_dir():
            return candidate
    raise NatInstError(f"{folder}: no tasks/ and splits/ folders found; is this a SUP-NATINST checkout?")


def _archive_folder(url: str, cache_dir: Path) -> Path:
    return cache_dir / "natinst" / hashlib.sha256(url.encode()).hexdigest()[:16]


def recorded_archive_sha256(url: str, cache_dir: Path) -> str | None:
    """The sha256 recorded when the archive at ``url`` was downloaded into ``cache_dir``, if it was."""
    checksum_file = _archive_folder(url, cache_dir) / "archive.sha256"
    return checksum_file.read_text().strip() if checksum_file.is_file() else None


def fetch_archive(url: str, cache_dir: Path, expected_sha256: str | None = None) -> Path:
    """Download (once) and extract the archive at ``url``; return the checkout root."""
    folder = _archive_folder(url, cache_dir)
    archive, checksum_file, extracted = folder / "archive", folder / "archive.sha256", folder / "extracted"
    if archive.is_file() and not _is_archive(archive):  # cached by an older stepinst that kept anything
        logger.warning("%s (from %s) is not a zip or tar archive; removing it and downloading again", archive, url)
        _forget(archive)
    if archive.is_file() and checksum_file.is_file():
        recorded = checksum_file.read_text().strip()
        actual = sha256_file(archive)
        if actual != recorded:
            raise NatInstError(
                f"{archive}: checksum {actual} does not match the one recorded at download "
                f"({recorded}); the cached archive is corrupted. Delete {folder} to download again."
            )
    else:
        logger.info("downloading %s into %s", url, folder)
        recorded = _download(url, archive)
        with atomic_write(checksum_file) as f:  # a torn checksum would condemn a good archive
            f.write(recorded + "\n")
        shutil.rmtree(extracted, ignore_errors=True)
    if expected_sha256 and recorded != expected_sha256.lower():
        raise NatInstError(f"{url}: archive sha256 is {recorded}, expected {expected_sha256}")
    if not extracted.is_dir():
        _extract(archive, extracted, url)
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
