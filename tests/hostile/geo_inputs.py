"""Builders of hostile rasters, prompts and servers for the geo, app and output tables: GDAL VRT and WMS descriptions
disguised as `.tif` / `.png`, files outside the root, a slow local server, and the stand-in pipeline of tests/geo."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time

import numpy as np
import rasterio

from tests.geo.conftest import PromptMaskPipeline, write_geotiff

SECRET = b"root:x:0:0:root:/root:/bin/bash\n" * 4  # what a VRT raw band would leak


def secret_file(tmp):
    """A file outside any root the tests give (`tmp/outside/passwd`), with recognisable bytes."""
    (tmp / "outside").mkdir(exist_ok=True)
    path = tmp / "outside" / "passwd"
    path.write_bytes(SECRET)
    return path


def raw_vrt(tmp, name: str, target) -> str:
    """A VRT whose raw band reads the bytes of `target` (any file), saved as `name`."""
    (tmp / "in").mkdir(exist_ok=True)
    path = tmp / "in" / name
    path.write_text(f"""<VRTDataset rasterXSize="16" rasterYSize="4">
  <VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">
    <SourceFilename relativetoVRT="0">{target}</SourceFilename>
    <ImageOffset>0</ImageOffset><PixelOffset>1</PixelOffset><LineOffset>16</LineOffset>
  </VRTRasterBand>
</VRTDataset>""")
    return str(path)


def source_vrt(tmp, name: str, source: str, size=(16, 16)) -> str:
    """A VRT whose band is band 1 of `source` (a GeoTIFF elsewhere, or a `/vsicurl/` URL), saved as `name`."""
    (tmp / "in").mkdir(exist_ok=True)
    path = tmp / "in" / name
    w, h = size
    path.write_text(f"""<VRTDataset rasterXSize="{w}" rasterYSize="{h}">
  <VRTRasterBand dataType="Byte" band="1">
    <SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/><DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>""")
    return str(path)


def wms_file(tmp, name: str, url: str) -> str:
    """A GDAL WMS description (`<GDAL_WMS>`) of a server at `url`, saved as `name`."""
    (tmp / "in").mkdir(exist_ok=True)
    path = tmp / "in" / name
    path.write_text(f"""<GDAL_WMS><Service name="TMS"><ServerUrl>{url}/${{z}}/${{x}}/${{y}}.png</ServerUrl></Service>
<DataWindow><UpperLeftX>-20037508.34</UpperLeftX><UpperLeftY>20037508.34</UpperLeftY>
<LowerRightX>20037508.34</LowerRightX><LowerRightY>-20037508.34</LowerRightY><TileLevel>1</TileLevel>
<TileCountX>1</TileCountX><TileCountY>1</TileCountY><YOrigin>top</YOrigin></DataWindow>
<Projection>EPSG:3857</Projection><BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY><BandsCount>3</BandsCount>
</GDAL_WMS>""")
    return str(path)


def outside_geotiff(tmp) -> str:
    """A GeoTIFF outside the root whose pixels are all 201 (what a VRT over it would show)."""
    (tmp / "outside").mkdir(exist_ok=True)
    return str(write_geotiff(tmp / "outside" / "private.tif", np.full((16, 16), 201, np.uint8)))


def geotiff(tmp, name: str = "scene.tif", array=None, **kwargs) -> str:
    array = np.random.default_rng(0).integers(20, 230, (96, 128, 3), dtype=np.uint8) if array is None else array
    return str(write_geotiff(tmp / name, array, **kwargs))


def palette_tiff(tmp) -> str:
    """A one-band palette TIFF: index 1 is pure red, index 2 pure blue."""
    values = np.zeros((40, 48), np.uint8)
    values[:, 24:] = 1
    values[:20] += 1
    path = tmp / "palette.tif"
    with rasterio.open(path, "w", driver="GTiff", width=48, height=40, count=1, dtype="uint8",
                       photometric="palette") as dataset:
        dataset.write(values, 1)
        dataset.write_colormap(1, {0: (0, 0, 0, 255), 1: (255, 0, 0, 255), 2: (0, 0, 255, 255)})
    return str(path)


def complex_tiff(tmp) -> str:
    """A single-look complex (SLC) band, CFloat32."""
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(64, 64)) + 1j * rng.normal(size=(64, 64))).astype(np.complex64)
    path = tmp / "slc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype="complex64") as dataset:
        dataset.write(data, 1)
    return str(path)


def nodata_uint8(tmp) -> str:
    """A uint8 GeoTIFF whose every pixel is its no-data value."""
    return geotiff(tmp, "empty.tif", np.zeros((40, 40), np.uint8), nodata=0)


def sparse_huge(tmp, side: int = 10**6) -> str:
    """A sparse, tiled GeoTIFF whose header claims `side` x `side` pixels (a few KB on disk)."""
    path = tmp / "huge.tif"
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=1, dtype="uint8", tiled=True,
                       blockxsize=512, blockysize=512, sparse_ok=True, compress="deflate", BIGTIFF="YES",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(500000, 4600000, 10, 10)):
        pass
    return str(path)


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list = []
    slow = False

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        if type(self).slow:
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(400):  # a byte every half second: 200 s
                    self.wfile.write(b"I")
                    self.wfile.flush()
                    time.sleep(0.5)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up: what the deadline is for
                pass
            return
        self.send_response(404)
        self.end_headers()

    def do_HEAD(self):  # noqa: N802
        type(self).requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def recording_server(slow: bool = False):
    """A local HTTP server that records the paths asked of it (`server.requests`); `slow`: it answers a byte every
    half second."""
    handler = type("Recorder", (_Recorder,), {"requests": [], "slow": slow})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def stub_predictor(**kwargs):
    """A `ScenePredictor` around the stand-in pipeline of tests/geo (masks = the prompts)."""
    from earthgptx_hf.geo import ScenePredictor

    return ScenePredictor(PromptMaskPipeline(), batch_size=2, progress=False, model_id="stub", **kwargs)


def no_request(call):
    """Runs `call(tmp, url)` against a recording server; fails if the server was asked anything, else re-raises what
    `call` raised (or returns its result)."""
    def run(tmp):
        with recording_server() as (url, requests):
            try:
                return call(tmp, url)
            finally:
                assert requests == [], f"the server was asked {requests}"
    return run


__all__ = ["no_request", "SECRET", "secret_file", "raw_vrt", "source_vrt", "wms_file", "outside_geotiff", "geotiff",
           "palette_tiff", "complex_tiff", "nodata_uint8", "sparse_huge", "recording_server", "stub_predictor"]
