"""The mask stitching's resampling is rasterio's nearest neighbour, pixel for pixel (`stitching.nearest_indices`
keeps a hand-written version for its strips and its speed: its docstring)."""

import numpy as np
import pytest
from rasterio.enums import Resampling
from rasterio.io import MemoryFile

from earthgptx_hf.geo.stitching import nearest_indices


def rasterio_nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    with MemoryFile() as memory, memory.open(driver="MEM", width=mask.shape[1], height=mask.shape[0], count=1,
                                             dtype="uint8") as dataset:
        dataset.write(mask.astype(np.uint8), 1)
        return dataset.read(1, out_shape=shape, resampling=Resampling.nearest).astype(bool)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("seed", range(4))
def test_nearest_indices_resample_as_rasterio_does(seed):
    rng = np.random.default_rng(seed)
    shapes = [(64, 64, 448, 448), (64, 64, 300, 500), (448, 448, 56, 56), (3, 5, 1000, 999), (7, 7, 7, 7)]
    shapes += [tuple(int(v) for v in rng.integers(1, 400, 4)) for _ in range(30)]
    for mask_h, mask_w, height, width in shapes:
        mask = rng.random((mask_h, mask_w)) > 0.5
        ours = mask[nearest_indices(mask_h, height)][:, nearest_indices(mask_w, width)]
        assert np.array_equal(ours, rasterio_nearest(mask, (height, width))), (mask_h, mask_w, height, width)
