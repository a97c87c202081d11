"""Hostile uploads to the app (issue 31): the app is a server, so an upload may never read another file of the server
or make it fetch a URL, may not make it decode gigabytes, and leaves nothing behind when the session ends. Through
`read_upload` / `AppSession.load_upload` (what the page's upload event calls) and the launch settings."""

from __future__ import annotations

import numpy as np
import rasterio

from earthgptx_hf.app.scene import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, read_upload
from earthgptx_hf.app.session import AppSession

from .geo_inputs import SECRET, no_request, outside_geotiff, raw_vrt, secret_file, source_vrt, wms_file
from .harness import Hostile, parametrize, run_case

REFUSED = r"Files are opened only as PNG, JPEG, \(Geo\)TIFF, BMP, GIF or WebP \(a GDAL VRT or WMS description"


def not_leaked(call):
    """`call` must raise; if it returned a scene, fail showing whether the secret's bytes are in it."""
    def run(tmp):
        scene = call(tmp)
        leaked = SECRET[:16] in np.asarray(scene.display)[..., 0].tobytes()
        raise AssertionError(f"the upload was accepted (the server file's bytes leaked: {leaked})")
    return run


def bomb_tiff(tmp, side=10_000):
    """A deflate-compressed, sparse 10,000 x 10,000 uint16 TIFF: a few KB on disk, 200 MB as pixels."""
    path = tmp / "bomb.tif"
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=1, dtype="uint16", tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True):
        pass
    return str(path)


def big_png(tmp):
    from PIL import Image

    path = tmp / "big.png"
    Image.new("L", (6000, 5000)).save(path)  # 30 megapixels, more than the app takes
    return str(path)


def linked(tmp):
    secret = secret_file(tmp)
    link = tmp / "scene.png"
    link.symlink_to(secret)
    return str(link)


def session_cleanup(tmp):
    """A session that wrote a result and was given an upload it owns (a bad one: owned files go even unread)."""
    session = AppSession(pipe=None)
    folder = session.output_dir
    (folder / "earthgptx_results.json").write_text("{}")
    upload = tmp / "gradio" / "scene.png"
    upload.parent.mkdir()
    upload.write_bytes(b"not an image")
    try:
        session.load_upload(upload, owned=True)
    except ValueError:
        pass
    session.close()
    return folder, upload


def launch_settings(tmp):
    from earthgptx_hf.app.ui import launch_kwargs

    return launch_kwargs()


CASES = [
    Hostile("VRT raw band over a server file named scene.tif", not_leaked(
        lambda t: read_upload(raw_vrt(t, "scene.tif", secret_file(t)))), raises=ValueError, match=REFUSED),
    Hostile("VRT over a GeoTIFF outside the upload folder named scene.png", not_leaked(
        lambda t: read_upload(source_vrt(t, "scene.png", outside_geotiff(t)))), raises=ValueError, match=REFUSED),
    Hostile("VRT whose source is /vsicurl/ to a local server (no request)",
            no_request(lambda t, url: read_upload(source_vrt(t, "scene.tif", f"/vsicurl/{url}/private.tif"))),
            raises=ValueError, match=REFUSED),
    Hostile("GDAL_WMS description named scene.tif (no request)",
            no_request(lambda t, url: read_upload(wms_file(t, "scene.tif", url))), raises=ValueError, match=REFUSED),
    Hostile("a symlink to a server file", lambda t: read_upload(linked(t)), raises=ValueError,
            match=r"'scene.png' is not a regular file \(an upload is never a link\)"),
    Hostile("10,000^2 uint16 deflate TIFF refused from its header", lambda t: read_upload(bomb_tiff(t)),
            raises=ValueError, match=rf"larger than the app takes: .*The app's limit is {MAX_UPLOAD_PIXELS:,} pixels",
            seconds=10),
    Hostile("30-megapixel PNG refused from its header", lambda t: read_upload(big_png(t)), raises=ValueError,
            match=r"more than max_pixels=25,000,000"),
    Hostile("upload over the byte cap", lambda t: read_upload(big_png(t), max_bytes=1000), raises=ValueError,
            match=r"'big.png' is [\d,]+ bytes; the app takes uploads of at most 1,000 bytes"),
    Hostile("Gradio refuses large files before storing them", launch_settings,
            check=lambda kwargs: _equal(kwargs["max_file_size"], MAX_UPLOAD_BYTES)),
    Hostile("a session's temporary folder and uploads are deleted when it ends", session_cleanup,
            check=lambda paths: _equal([p.exists() for p in paths], [False, False])),
]


def _equal(value, expected):
    assert value == expected, (value, expected)


@parametrize(CASES)
def test_hostile_app_upload(case, tmp_path):
    run_case(case, tmp_path)


def test_the_page_cleans_up_uploads_and_sessions():
    """The Blocks page deletes Gradio's cached uploads and calls `AppSession.close` when a session ends."""
    from earthgptx_hf.app import ui

    model = type("Model", (), {"num_parameters": lambda self: 1})()
    demo = ui.build_app(type("Pipe", (), {"model": model})())
    assert demo.delete_cache == (ui.CACHE_SECONDS, ui.CACHE_SECONDS)
    states = [block for block in demo.blocks.values() if type(block).__name__ == "State"]
    assert [state.delete_callback for state in states] == [ui._close_session]
    closed = []
    ui._close_session(type("Session", (), {"close": lambda self: closed.append(True)})())
    ui._close_session(None)
    assert closed == [True]
