"""实验用的数据生成器 / The lab's data generators."""

from . import image_gen
from .image_gen import GrayScaleDataProvider, RgbDataProvider

__all__ = ["GrayScaleDataProvider", "RgbDataProvider", "image_gen"]
