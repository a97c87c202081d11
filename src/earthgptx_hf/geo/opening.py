"""The one owner of opening a raster that comes from a user, an upload or a dataset: files open only as what they are.

GDAL opens dozens of formats, some of which are descriptions of other data: a VRT names other files (even raw bytes
of any file, e.g. `/etc/passwd`), a WMS or `/vsicurl/` file names URLs that GDAL would fetch. A file named `.tif` or
`.png` can be either. So an untrusted raster is opened here, and only so:

- **Format allow-list** (`RASTER_FORMATS`): GeoTIFF (classic and BigTIFF, including Cloud-Optimised GeoTIFFs), PNG and
  JPEG, recognised by their first bytes and opened with that one GDAL driver (`rasterio.open(path, driver=...)`), so
  that GDAL never guesses. Anything else (VRT, WMS, ENVI, JPEG 2000, HDF, NetCDF, ...) is refused naming the source.
  (The processor reads PNG, JPEG, BMP, GIF and WebP through PIL; `multi_source.PIL_FORMATS`.)
- **Local files only**: a GDAL virtual path (`/vsicurl/`, `/vsizip/`, any `/vsi...`) or a URL (`http://`, `s3://`,
  `zip://`, ...) is refused; the path must name a regular file.
- **GDAL's reach switched off** for these reads (`untrusted_env`): VRT raw-raster bands, sibling-file discovery
  (`.aux.xml`, `.ovr`, `.msk` sidecars) and auxiliary (PAM) files, and `/vsicurl/` requests.

Opting in: `allow_virtual=True` (`--allow-virtual`) opens a trusted path as GDAL would, any driver, any local
`/vsi` path; `allow_remote=True` (`--allow-remote`) downloads an http(s) URL (or `/vsicurl/` + URL) within the
pipeline's total deadline and size cap (`pipelines.image_loading.download`: 30 s, 64 MiB by default) to a temporary
file, which is then opened as above and deleted afterwards (`local_scene`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

GDAL_CACHE_MB = 64  # GDAL's block cache: bounded, so memory does not grow with the scene (GDAL's default: 5 % RAM)
# the GDAL driver of each allowed format, and the first bytes that identify it
RASTER_FORMATS = {
    "GTiff": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),  # TIFF, BigTIFF (GeoTIFF, COG)
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
}
REMOTE_PREFIXES = ("/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift", "/vsihdfs",
                   "/vsiwebhdfs")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# GDAL configuration of every untrusted read (https://gdal.org/user/security.html)
UNTRUSTED_GDAL_OPTIONS = {
    "GDAL_VRT_ENABLE_RAWRASTERBAND": "NO",  # no VRT band over the raw bytes of another file
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no sidecar discovery next to the file
    "GDAL_PAM_ENABLED": "NO",  # no .aux.xml read or written next to an input
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".earthgptx-network-off",  # /vsicurl/ fetches no file
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
}


def gdal_env(**options) -> rasterio.Env:
    """The GDAL environment of every read and write of this package: a bounded block cache (and `options`)."""
    # rasterio hands an integer GDAL_CACHEMAX to GDALSetCacheMax64, which takes bytes (64 would be a 64-byte cache:
    # every window's blocks decompressed again, 13x slower reads on a dense scene; docs/performance.md)
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20, **options)


def untrusted_env() -> rasterio.Env:
    """`gdal_env` with GDAL's reach switched off (`UNTRUSTED_GDAL_OPTIONS`)."""
    return gdal_env(**UNTRUSTED_GDAL_OPTIONS)


def _head(source, size: int = 16) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            return file.read(size)
    position = source.tell()
    head = source.read(size)
    source.seek(position)
    return head if isinstance(head, bytes) else b""


def sniff_format(source) -> str | None:
    """The GDAL driver of `source` (a path or a binary file object) by its first bytes, when its format is one of
    `RASTER_FORMATS`; else None."""
    try:
        head = _head(source)
    except OSError:
        return None
    return next((driver for driver, magics in RASTER_FORMATS.items() if head.startswith(magics)), None)


def _label(source) -> str:
    return repr(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else \
        repr(str(getattr(source, "name", "") or type(source).__name__))


def is_virtual_path(path: str) -> bool:
    """A GDAL virtual path (`/vsi...`) or a URL-like string (`scheme://`), which rasterio hands to GDAL's network and
    archive handlers."""
    return path.startswith("/vsi") or bool(_SCHEME.match(path))


def is_remote_path(path: str) -> bool:
    """An http(s) URL or a GDAL network path (`/vsicurl/`, `/vsis3/`, ...)."""
    scheme = _SCHEME.match(path)
    return path.startswith(REMOTE_PREFIXES) or bool(scheme and scheme.group(1).lower() in ("http", "https"))


def _refusal(where: str, source) -> str:
    try:
        head = _head(source)
    except OSError:
        head = b""
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        kind = "an XML description (a GDAL VRT or WMS file names other files or URLs)"
    elif not head:
        kind = "empty (0 bytes)"
    else:
        kind = f"not an allowed raster format (its first bytes are {head[:8]!r})"
    return (f"{where} ({_label(source)}) is {kind}; rasters from users, uploads and datasets are opened only as "
            "GeoTIFF/COG, PNG or JPEG, recognised by their first bytes. Convert it (e.g. gdal_translate -of GTiff), "
            "or, for a trusted file, pass allow_virtual=True (--allow-virtual).")


def open_raster(source, where: str = "scene", allow_virtual: bool = False):
    """`rasterio.open` of an untrusted raster (the module docstring): a path or a binary file object of an allowed
    format, opened with its one driver under `untrusted_env`. With `allow_virtual`, any source GDAL opens (trusted).
    Raises ValueError naming `where`, the source and what is valid."""
    driver = None
    if not allow_virtual:
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if is_virtual_path(path):
                raise ValueError(f"{where} ({path!r}) is a GDAL virtual path or a URL, which is not opened for a "
                                 "file from a user: pass a local file; allow_remote=True (--allow-remote) downloads "
                                 "an http(s) scene within a deadline and a size cap, allow_virtual=True "
                                 "(--allow-virtual) opens a trusted GDAL path.")
            if not os.path.isfile(path):
                raise ValueError(f"{where} ({path!r}) is not a file.")
            source = os.path.abspath(path)  # rasterio parses no scheme out of an absolute local path
        driver = sniff_format(source)
        if driver is None:
            raise ValueError(_refusal(where, source))
    try:
        with (gdal_env() if allow_virtual else untrusted_env()), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain TIFF: `crs` is None, that is all
            return rasterio.open(source, driver=driver)
    except (RasterioIOError, OSError) as error:
        raise ValueError(f"{where} ({_label(source)}) could not be opened as a raster: {error}") from None


@contextlib.contextmanager
def local_scene(source, where: str = "scene", allow_remote: bool = False, timeout: float | None = None,
                max_download_bytes: int | None = None):
    """`source` as a local path for `open_raster`: itself, or, for an http(s) URL or `/vsicurl/` + URL with
    `allow_remote`, a temporary copy downloaded within `timeout` (a total deadline) and `max_download_bytes` (the
    pipeline's `download`), deleted on exit. Other remote paths are refused naming the source."""
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    if path is None or not is_remote_path(path):
        yield source
        return
    url = path[len("/vsicurl/"):] if path.startswith("/vsicurl/") else path
    if not allow_remote or not _SCHEME.match(url) or _SCHEME.match(url).group(1).lower() not in ("http", "https"):
        hint = "pass allow_remote=True (--allow-remote) to download it" if allow_remote is False and \
            url.lower().startswith(("http://", "https://")) else "download it first and pass the local file"
        raise ValueError(f"{where} ({path!r}) is a remote path; remote scenes are not read by default: {hint} "
                         "(http(s) only, within the pipeline's deadline and size cap).")
    from ..models.earthgptx.visual_prompting import download

    data = download(url, timeout, max_download_bytes, where)
    handle, temporary = tempfile.mkstemp(prefix="earthgptx_scene_", suffix=".download")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        yield temporary
    finally:
        os.unlink(temporary)


__all__ = ["open_raster", "local_scene", "sniff_format", "gdal_env", "untrusted_env", "is_virtual_path",
           "is_remote_path", "RASTER_FORMATS", "UNTRUSTED_GDAL_OPTIONS", "GDAL_CACHE_MB"]
