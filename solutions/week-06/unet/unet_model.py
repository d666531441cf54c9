"""三个 UNet:原版、浅层版和相加版 / Three UNets: the original, a shallow one, and one that adds skips.

网络输出 logits(未经 sigmoid),形状为 B x n_classes x H x W。
The networks output logits (no sigmoid), shaped B x n_classes x H x W.
"""

import torch.nn as nn

from .unet_parts import down, inconv, outconv, up, up_add


class UNet(nn.Module):
    """原版 UNet:下采样四次,共五层 / The original UNet: four downsamplings, five levels."""

    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.inc = inconv(n_channels, 64)
        self.down1 = down(64, 128)
        self.down2 = down(128, 256)
        self.down3 = down(256, 512)
        self.down4 = down(512, 512)
        # up 的第一个参数是拼接后的通道数 / up's first argument counts the concatenated channels
        self.up1 = up(1024, 256)
        self.up2 = up(512, 128)
        self.up3 = up(256, 64)
        self.up4 = up(128, 64)
        self.outc = outconv(64, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


class UNet_shallow(nn.Module):
    """浅层 UNet:只下采样两次,共三层 / A shallow UNet: two downsamplings, three levels."""

    def __init__(self, n_channels, n_classes):
        super().__init__()
        # BEGIN SOLUTION Q6
        # PROMPT: 仿照 UNet.__init__,只保留两次下采样(共三层),通道数自选,
        # PROMPT: 但每个 up 的输入通道数必须等于拼接后的通道数。
        # PROMPT: Following UNet.__init__, keep only two downsamplings (three levels). Choose the
        # PROMPT: widths yourself, but each up's input count must equal the concatenated channels.
        self.inc = inconv(n_channels, 64)
        self.down1 = down(64, 128)
        self.down2 = down(128, 128)
        self.up1 = up(256, 64)
        self.up2 = up(128, 64)
        self.outc = outconv(64, n_classes)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION Q6
        # PROMPT: 编码两次、解码两次,每次解码都接上同一层的跳跃连接,最后输出 logits。
        # PROMPT: Encode twice, decode twice with the skip from the same level, return the logits.
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        x = self.up2(x, x1)
        return self.outc(x)
        # END SOLUTION


class UNet_add(nn.Module):
    """用 up_add(相加)代替 up(拼接)的 UNet / A UNet whose decoder adds skips (up_add) instead of concatenating."""

    def __init__(self, n_channels, n_classes):
        super().__init__()
        # BEGIN SOLUTION UNet_add
        # PROMPT: 编码器与 UNet 相同;解码器改用 up_add。想一想每个 up_add 的 in_ch 应是多少。
        # PROMPT: The encoder is UNet's; the decoder uses up_add. Work out each up_add's in_ch.
        self.inc = inconv(n_channels, 64)
        self.down1 = down(64, 128)
        self.down2 = down(128, 256)
        self.down3 = down(256, 512)
        self.down4 = down(512, 512)
        self.up1 = up_add(512, 256)
        self.up2 = up_add(256, 128)
        self.up3 = up_add(128, 64)
        self.up4 = up_add(64, 64)
        self.outc = outconv(64, n_classes)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION UNet_add
        # PROMPT: 与 UNet.forward 的流程相同 / The same flow as UNet.forward.
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)
        # END SOLUTION
