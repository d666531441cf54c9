"""UNet 的积木块 / The building blocks of a UNet.

每个类都是一个 nn.Module,输入输出都是 B x C x H x W 的张量。
Every class is an nn.Module taking and returning B x C x H x W tensors.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class double_conv(nn.Module):
    """(3x3 卷积 -> BatchNorm -> ReLU) x 2,尺寸不变 / (3x3 conv -> BatchNorm -> ReLU) twice, same size."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.conv(x)


class inconv(nn.Module):
    """网络入口:一个 double_conv / The entry block: one double_conv."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x):
        return self.conv(x)


class down(nn.Module):
    """下采样:2x2 最大池化,再 double_conv / Downsampling: 2x2 max-pool, then double_conv."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.mpconv = nn.Sequential(nn.MaxPool2d(2), double_conv(in_ch, out_ch))

    def forward(self, x):
        return self.mpconv(x)


def pad_to(x, ref):
    """在 x 四周补零,使其 H、W 与 ref 相同 / Zero-pad x so that its H and W match ref's."""
    dh = ref.size(2) - x.size(2)
    dw = ref.size(3) - x.size(3)
    # 奇数尺寸下采样时会丢掉一行/列,这里把它补回来 / odd sizes lose a row or column on the way down
    return F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])


class up(nn.Module):
    """上采样并拼接跳跃连接 / Upsample, then concatenate the skip connection.

    in_ch 是拼接后的通道数:x1(深层)与 x2(浅层)各占 in_ch // 2。
    in_ch is the channel count after concatenation: x1 (deeper) and x2 (skip) bring in_ch // 2 each.
    """

    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        else:
            self.up = nn.ConvTranspose2d(in_ch // 2, in_ch // 2, 2, stride=2)
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x1, x2):
        x1 = pad_to(self.up(x1), x2)
        return self.conv(torch.cat([x2, x1], dim=1))


class up_add(nn.Module):
    """上采样后与跳跃连接逐元素相加 / Upsample, then ADD the skip connection.

    in_ch 是 x1 与 x2 共同的通道数(相加不改变通道数)。
    in_ch is the channel count that x1 and x2 share (adding keeps it).
    """

    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        # TODO (up_add): 仿照 up.__init__ 定义 self.up 和 self.conv。注意:相加不会让通道数翻倍,
        #   所以转置卷积和 double_conv 的输入通道数应当是多少?
        #   Define self.up and self.conv as up.__init__ does. Adding does not double the
        #   channels: how many input channels do the transposed conv and double_conv get now?
        raise NotImplementedError('up_add: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')

    def forward(self, x1, x2):
        # TODO (up_add): 上采样 x1,用 pad_to 对齐到 x2 的尺寸,与 x2 相加,再做 self.conv。
        #   Upsample x1, align it to x2 with pad_to, add it to x2, then apply self.conv.
        raise NotImplementedError('up_add: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')


class outconv(nn.Module):
    """1x1 卷积,把特征映射到类别数 / A 1x1 conv mapping features to one channel per class."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x):
        return self.conv(x)
