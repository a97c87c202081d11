"""Images of `pipeline("visual-prompting")` from paths and http(s) URLs: a total download deadline and a size cap.

This module fetches; it does not decode. A download comes back as an `io.BytesIO` named by its URL, which the image
processor opens and decodes (`multi_source.open_image`, the one owner of the file rule: the errors name the argument,
its index and the source, here the URL).

Part of the pipeline's remote code in saved checkpoints (copied next to `visual_prompting.py`): it imports nothing
from `earthgptx_hf`. The HTTP client is urllib's, with a watchdog: the clients at hand (urllib, httpx) bound each read
or operation, not a whole download, so a server that sends a byte every half second would hold them indefinitely.
"""

from __future__ import annotations

import http.client
import io
import math
import numbers
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

DEFAULT_TIMEOUT = 30.0  # seconds: a total deadline for one URL image (connection, headers and body)
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 2**20  # 64 MiB
_CHUNK = 64 * 1024
_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def is_tensor(value) -> bool:
    """A torch tensor (checked by module: io.BytesIO has a `detach` method too)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _positive_number(value, name: str, default: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a finite number of seconds greater than 0 ({default}).")
    return float(value)


def _positive_int(value, name: str, default: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} must be a whole number at least 1 ({default}).")
    return int(value)


def check_timeout(timeout) -> float:
    """`timeout` (None: the 30 s default) as seconds, or a ValueError naming it."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    return _positive_number(timeout, "timeout", f"the total deadline of one URL download, default {DEFAULT_TIMEOUT:g}")


def check_max_download_bytes(max_download_bytes) -> int:
    """`max_download_bytes` (None: the 64 MiB default), or a ValueError naming it."""
    if max_download_bytes is None:
        return DEFAULT_MAX_DOWNLOAD_BYTES
    return _positive_int(max_download_bytes, "max_download_bytes",
                         f"the largest URL image in bytes, default {DEFAULT_MAX_DOWNLOAD_BYTES:,}")


def _deadline_opener(sockets: list) -> urllib.request.OpenerDirector:
    """An opener for http(s) only (redirects to ftp:// or file:// fail) whose connections record their sockets, so
    that a watchdog can cut them at the deadline."""

    class Connection(http.client.HTTPConnection):
        def connect(self):
            super().connect()
            sockets.append(self.sock)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self):
            super().connect()
            sockets.append(self.sock)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Connection, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(SecureConnection, req, context=self._context)

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), Handler(), SecureHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPErrorProcessor(), urllib.request.UnknownHandler()):
        opener.add_handler(handler)
    return opener


def download(url: str, timeout: float | None = None, max_download_bytes: int | None = None,
             where: str = "images") -> bytes:
    """The body of an http(s) URL, within a total deadline (`timeout` seconds for the connection, the headers and the
    whole body, not per read) and a size cap (`max_download_bytes`: a larger Content-Length is refused before the body
    is read, and the bytes are counted while streaming, for servers that send none or lie)."""
    timeout, limit = check_timeout(timeout), check_max_download_bytes(max_download_bytes)
    deadline = time.monotonic() + timeout
    sockets, expired = [], threading.Event()

    def expire():  # shutdown (not close) interrupts a blocked recv on the socket
        expired.set()
        for sock in list(sockets):
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def too_slow():
        return TimeoutError(f"{where} ({url!r}) was not downloaded within timeout={timeout:g} s (a deadline for the "
                            "whole download, not per read); pass a larger timeout= if the server is just slow.")

    def too_large(size: str):
        return ValueError(f"{where} ({url!r}) is {size}, more than max_download_bytes={limit:,}; pass a larger "
                          "max_download_bytes= if the image is expected to be this large.")

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            response = _deadline_opener(sockets).open(url, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            raise ValueError(f"{where} ({url!r}) could not be downloaded: the server answered HTTP {err.code} "
                             f"{err.reason}.") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            if expired.is_set() or isinstance(err, TimeoutError) or isinstance(getattr(err, "reason", None),
                                                                              TimeoutError):
                raise too_slow() from None
            reason = getattr(err, "reason", None) or err
            if str(reason).startswith("unknown url type"):  # only http(s) handlers: a redirect elsewhere ends here
                reason = f"the server redirected it to a URL that is not http(s) ({reason})"
            raise ConnectionError(f"{where} ({url!r}) could not be downloaded: {reason}") from err
        with response:
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > limit:
                raise too_large(f"{int(declared):,} bytes (its Content-Length)")
            chunks, total = [], 0
            while True:
                try:
                    chunk = response.read1(_CHUNK)  # returns what one read brings: the deadline is checked often
                except (OSError, http.client.HTTPException) as err:
                    if expired.is_set() or isinstance(err, TimeoutError):
                        raise too_slow() from None
                    raise ConnectionError(f"{where} ({url!r}) could not be downloaded: {err!r}") from err
                if expired.is_set() or time.monotonic() > deadline:
                    raise too_slow()
                if not chunk:
                    return b"".join(chunks)
                total += len(chunk)
                if total > limit:
                    raise too_large(f"more than {limit:,} bytes (counted while downloading)")
                chunks.append(chunk)
    finally:
        watchdog.cancel()


def load_pipeline_image(image, timeout: float | None = None, where: str = "images", *,
                        max_download_bytes: int | None = None):
    """Fetches one image argument: PIL / numpy / torch pass through unchanged; a path is returned as it is once it
    names a file; an http(s) URL is downloaded (see `download`: `timeout` is a total deadline in seconds, 30 by
    default; `max_download_bytes` caps the body, 64 MiB by default) into an `io.BytesIO` whose `name` is the URL.
    Paths and downloads are opened and decoded by the image processor."""
    if isinstance(image, os.PathLike):
        image = os.fspath(image)
    if isinstance(image, str):
        scheme = _URL_SCHEME.match(image)
        if scheme and scheme.group(1).lower() in ("http", "https"):
            data = io.BytesIO(download(image, timeout, max_download_bytes, where))
            data.name = image  # how the image processor's errors name the download
            return data
        if scheme:
            hint = " (pass the local path itself)" if scheme.group(1).lower() == "file" else ""
            raise ValueError(f"{where} is the URL {image!r}, whose scheme {scheme.group(1)!r} is not supported: only "
                             f"http:// and https:// images are downloaded{hint}.")
        if not os.path.isfile(image):
            raise ValueError(f"{where} is {image!r}, which is neither a file nor an http(s) URL.")
        return image
    if isinstance(image, (Image.Image, np.ndarray)) or is_tensor(image):
        return image
    raise TypeError(f"{where} must be a PIL image, a path, a URL, a numpy array or a torch tensor, got "
                    f"{type(image).__name__}.")


__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_MAX_DOWNLOAD_BYTES", "check_timeout",
           "check_max_download_bytes", "download", "load_pipeline_image", "is_tensor"]
