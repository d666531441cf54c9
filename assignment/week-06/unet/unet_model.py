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
        # TODO (Q6): 仿照 UNet.__init__,只保留两次下采样(共三层),通道数自选,
        #   但每个 up 的输入通道数必须等于拼接后的通道数。
        #   Following UNet.__init__, keep only two downsamplings (three levels). Choose the
        #   widths yourself, but each up's input count must equal the concatenated channels.
        raise NotImplementedError('Q6: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')

    def forward(self, x):
        # TODO (Q6): 编码两次、解码两次,每次解码都接上同一层的跳跃连接,最后输出 logits。
        #   Encode twice, decode twice with the skip from the same level, return the logits.
        raise NotImplementedError('Q6: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')


class UNet_add(nn.Module):
    """用 up_add(相加)代替 up(拼接)的 UNet / A UNet whose decoder adds skips (up_add) instead of concatenating."""

    def __init__(self, n_channels, n_classes):
        super().__init__()
        # TODO (UNet_add): 编码器与 UNet 相同;解码器改用 up_add。想一想每个 up_add 的 in_ch 应是多少。
        #   The encoder is UNet's; the decoder uses up_add. Work out each up_add's in_ch.
        raise NotImplementedError('UNet_add: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')

    def forward(self, x):
        # TODO (UNet_add): 与 UNet.forward 的流程相同 / The same flow as UNet.forward.
        raise NotImplementedError('UNet_add: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')
