"""带精确标签的合成图片:噪声背景上的圆盘 / Synthetic images with exact labels: discs on a noisy ground.

调用 provider(n) 得到 (X, Y):X 形状 (n, nx, ny, C),数值在 [0, 1];Y 形状 (n, nx, ny, 2),
one-hot 编码,通道 0 为背景、通道 1 为前景(圆盘)。
Calling provider(n) returns (X, Y): X shaped (n, nx, ny, C) with values in [0, 1]; Y shaped
(n, nx, ny, 2), one-hot, channel 0 the background and channel 1 the foreground (the discs).
"""

import numpy as np


class _DiscProvider:
    """灰度与彩色两种生成器的共同部分 / What the gray and colour providers share."""

    channels = 1
    n_class = 2

    def __init__(self, nx, ny, cnt=10, sigma=20, border=None, r_min=None, r_max=None, seed=None, rng=None):
        if seed is not None and rng is not None:
            raise ValueError("seed 与 rng 只能给一个 / pass seed or rng, not both")
        self.nx = nx
        self.ny = ny
        self.cnt = cnt
        self.sigma = sigma
        # 默认值按图片平均边长的比例取 / the defaults scale with the mean side of the image
        side = (nx + ny) / 2
        self.border = int(0.2 * side) if border is None else border
        self.r_min = int(0.05 * side) if r_min is None else r_min
        self.r_max = int(0.3 * side) if r_max is None else r_max
        self.rng = rng if rng is not None else np.random.default_rng(seed)

    def __call__(self, n):
        X = np.empty((n, self.nx, self.ny, self.channels))
        Y = np.empty((n, self.nx, self.ny, 2))
        for i in range(n):
            image, mask = self._draw()
            X[i] = image
            Y[i, ..., 0] = ~mask
            Y[i, ..., 1] = mask
        return X, Y

    def _draw(self):
        """一张图和它的前景掩码 / One image and its foreground mask."""
        rng = self.rng
        image = np.ones((self.nx, self.ny, self.channels))
        mask = np.zeros((self.nx, self.ny), dtype=bool)
        rows = np.arange(self.nx)[:, None]
        cols = np.arange(self.ny)[None, :]
        for _ in range(self.cnt):
            a = rng.integers(self.border, self.nx - self.border)
            b = rng.integers(self.border, self.ny - self.border)
            r = rng.integers(self.r_min, self.r_max)
            disc = (rows - a) ** 2 + (cols - b) ** 2 <= r * r
            mask |= disc
            image[disc] = rng.integers(1, 255, size=self.channels)
        image += rng.normal(scale=self.sigma, size=image.shape)
        return _normalise(image), mask


def _normalise(image):
    """取绝对值后线性拉伸到 [0, 1] / Absolute value, then stretched linearly onto [0, 1]."""
    image = np.abs(image)
    image -= image.min()
    top = image.max()
    # 没有圆盘也没有噪声时整张图是常数,不能除以 0 / a blank, noiseless image is constant: avoid 0 / 0
    return image / top if top > 0 else image


class GrayScaleDataProvider(_DiscProvider):
    """单通道灰度图 / One-channel gray images."""

    channels = 1


class RgbDataProvider(_DiscProvider):
    """三通道彩色图,每个圆盘一种随机颜色 / Three-channel colour images, each disc its own random colour."""

    channels = 3
