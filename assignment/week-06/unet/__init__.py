"""第六周实验的 UNet 包 / The UNet package of the week-6 lab."""

from .dice_loss import DiceCoeff, JaccardCoeff, dice_coeff
from .eval import eval_net
from .unet_model import UNet, UNet_add, UNet_shallow
from .unet_parts import double_conv, down, inconv, outconv, up, up_add

__all__ = [
    "DiceCoeff",
    "JaccardCoeff",
    "UNet",
    "UNet_add",
    "UNet_shallow",
    "dice_coeff",
    "double_conv",
    "down",
    "eval_net",
    "inconv",
    "outconv",
    "up",
    "up_add",
]
