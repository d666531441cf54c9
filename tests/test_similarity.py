"""`unet-grader similarity`: copied work is found and ranked, independent work and the kit's code are not.

Every batch is built in tmp_path as `grade` leaves it (`DIR/<id>/result.json` beside
`DIR/<id>/artifacts/submission/{unet/*.py, Assignment.ipynb}`), against a small fake kit written here, so
the tests never depend on the real assignment/week-06.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from grader.similarity import analyse
from grader.similarity.compare import Settings

# ---- the fake kit: given code, and the skeleton of every task ----------------------------------------

DICE = '''"""Dice 与 Jaccard / Dice and Jaccard."""

import torch
import torch.nn as nn


class DiceCoeff(nn.Module):
    """Dice of one pair."""

    eps = 0.0001

    def forward(self, input, target):
        inter = torch.dot(input.reshape(-1), target.reshape(-1))
        return (2 * inter + self.eps) / (input.sum() + target.sum() + self.eps)


def dice_coeff(input, target):
    dice = DiceCoeff()
    return torch.stack([dice(a, b) for a, b in zip(input, target)]).mean()


{jaccard}
'''

PARTS = '''"""UNet 的积木块 / The building blocks."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class double_conv(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


def pad_to(x, ref):
    dh = ref.size(2) - x.size(2)
    dw = ref.size(3) - x.size(3)
    return F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])


class up(nn.Module):
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


{up_add}
'''

MODEL = '''"""三个 UNet / Three UNets."""

import torch.nn as nn

from .unet_parts import down, inconv, outconv, up, up_add


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.inc = inconv(n_channels, 64)
        self.down1 = down(64, 128)
        self.down2 = down(128, 256)
        self.down3 = down(256, 512)
        self.down4 = down(512, 512)
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


{shallow}


{unet_add}
'''

SKELETON = {
    "jaccard": '''class JaccardCoeff(nn.Module):
    """Jaccard of one pair."""

    eps = 0.0001

    def forward(self, input, target):
        # TODO (Q3): 仿照 DiceCoeff.forward / modelled on DiceCoeff.forward
        raise NotImplementedError("Q3")''',
    "up_add": '''class up_add(nn.Module):
    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        # TODO: 仿照 up.__init__ / as up.__init__ does
        raise NotImplementedError("up_add")

    def forward(self, x1, x2):
        # TODO: 相加而不是拼接 / add instead of concatenating
        raise NotImplementedError("up_add")''',
    "shallow": '''class UNet_shallow(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        # TODO (Q6): 只下采样两次 / downsample twice only
        raise NotImplementedError("Q6")

    def forward(self, x):
        # TODO (Q6)
        raise NotImplementedError("Q6")''',
    "unet_add": '''class UNet_add(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        # TODO: 解码器改用 up_add / the decoder uses up_add
        raise NotImplementedError("UNet_add")

    def forward(self, x):
        # TODO
        raise NotImplementedError("UNet_add")''',
    "deconv2d": '''def deconv2d(input, weights):
    # TODO (Q7): fill_zeros, conv2d, then crop
    raise NotImplementedError("Q7")''',
}

CONV_GIVEN = '''def convolution(feature_map, kernel):
    h, w = feature_map.shape
    k = kernel.shape[0]
    p = k // 2
    padded = np.zeros((h + 2 * p, w + 2 * p))
    padded[p:p + h, p:p + w] = feature_map
    result = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            result[i, j] = np.sum(padded[i:i + k, j:j + k] * kernel)
    return result


def conv2d(input, weights):
    in_channels, h, w = input.shape
    out_channels = weights.shape[0]
    output = np.zeros((out_channels, h, w))
    for o in range(out_channels):
        for i in range(in_channels):
            output[o] += convolution(input[i], weights[o, i])
    return output


def fill_zeros(input):
    c, h, w = input.shape
    result = np.zeros((c, 2 * h + 1, 2 * w + 1))
    result[:, 1::2, 1::2] = input
    return result'''

QUESTIONS = {
    "q1": "### ★ Question 1\n\n上面的形状是 B×H×W×C 还是 B×C×H×W?"
          "输入图像是灰度图还是彩色图?标签有几个通道,各代表什么?\n\n"
          "Are the shapes B×H×W×C or B×C×H×W? Is the input gray or colour?"
          " How many channels does the label have?",
    "q4": "### ★ Question 4\n\n网络的输出怎样变成一张分割结果?"
          "\n\nHow does the network's output become a segmentation?",
    "q5": "### ★ Question 5\n\n找出预测得不好的图片。为什么这些图片难?"
          "\n\nFind images that are predicted badly. Why are they hard?",
}
PLACEHOLDER = "_在这里写下你的答案。/ Write your answer here._"
JACCARD_OUTPUT = ("tensor(1.0000, dtype=torch.float64)\ntensor(0.3333, dtype=torch.float64)\n"
                  "tensor(1.1111e-05, dtype=torch.float64)\ntensor(1., dtype=torch.float64)\n")
CONV_OUTPUT = ("[[ 2.  0.  2.  4.  0.]\n [ 1.  4.  4.  3.  5.]\n [ 4.  3.  5.  9. -1.]]\n"
               "tensor([[[[ 2.0000,  0.0000,  2.0000,  4.0000,  0.0000],\n"
               "          [ 1.0000,  4.0000,  4.0000,  3.0000,  5.0000]]]],\n"
               "       grad_fn=<ConvolutionBackward0>)\n")


def _cell(kind: str, source: str, tags: list[str] | None = None, outputs: list[dict] | None = None) -> dict:
    cell = {"cell_type": kind, "metadata": {"tags": tags} if tags else {}, "source": source.splitlines(True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=outputs or [])
    return cell


def _stream(text: str) -> list[dict]:
    return [{"output_type": "stream", "name": "stdout", "text": text.splitlines(True)}] if text else []


def training_log(seed: int, trainings: int = 3) -> str:
    """What the notebook's three training cells print: a loss every 10 steps, a Dice every epoch (random)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(trainings):
        for epoch in range(1, 6):
            for step in range(10, 51, 10):
                t = (epoch - 1) * 50 + step
                loss = 0.08 + 0.6 * 0.98 ** t + rng.gauss(0, 0.01)
                lines.append(f"epoch {epoch} step {step} loss {loss:.4f}")
            dice = 0.97 - 0.2 * 0.5 ** epoch + rng.gauss(0, 0.01)
            lines.append(f"epoch {epoch} validation dice coeff {dice:.4f}")
    return "\n".join(lines) + "\n"


def notebook(answers: dict[str, str] | None = None, deconv: str | None = None, log: str = "",
             executed: bool = True, answer_style: str = "tag") -> dict:
    """The lab notebook: the kit's when nothing is given; `executed` keeps the outputs of a correct run."""
    answers = answers or {}
    cells = [_cell("markdown", "# 第六周实验 / Week 6"),
             _cell("code", "%load_ext autoreload\nimport numpy as np\nimport torch")]
    for q in ("q1", "q4", "q5"):
        cells.append(_cell("markdown", QUESTIONS[q]))
        heading = f"**答案 / Answer ({q.upper()})**\n\n"
        cells.append(_cell("markdown", heading + answers.get(q, PLACEHOLDER),
                           [f"{q}-answer"] if answer_style == "tag" else None))
    cells.append(_cell("code", "print(jaccard().forward(eye, eye))",
                       outputs=_stream(JACCARD_OUTPUT if executed else "")))
    cells.append(_cell("code", "curr_step, step_loss = train(unet, criterion, optimizer, 5, 50, 32, 2)",
                       outputs=_stream(log)))
    cells.append(_cell("code", CONV_GIVEN))
    cells.append(_cell("code", "print(conv2d(conv_input, conv_weights))",
                       outputs=_stream(CONV_OUTPUT if executed else "")))
    cells.append(_cell("code", deconv or SKELETON["deconv2d"], ["q7-deconv2d"]))
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def write_tree(root: Path, parts: dict[str, str], nb: dict) -> None:
    """A week-06 folder: the kit's files with the task regions in `parts` (the skeleton's where missing)."""
    code = {**SKELETON, **parts}
    (root / "unet").mkdir(parents=True, exist_ok=True)
    (root / "unet" / "dice_loss.py").write_text(DICE.format(jaccard=code["jaccard"]), encoding="utf-8")
    (root / "unet" / "unet_parts.py").write_text(PARTS.format(up_add=code["up_add"]), encoding="utf-8")
    model = MODEL.format(shallow=code["shallow"], unet_add=code["unet_add"])
    (root / "unet" / "unet_model.py").write_text(model, encoding="utf-8")
    (root / "unet" / "__init__.py").write_text("from .dice_loss import JaccardCoeff\n", encoding="utf-8")
    (root / "Assignment.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")


def make_kit(base: Path) -> Path:
    kit = base / "kit" / "week-06"
    write_tree(kit, {}, notebook(executed=False))
    return kit


def add_submission(out: Path, sub_id: str, parts: dict[str, str] | None = None, **nb) -> Path:
    """`out/<id>/` as `grade` leaves it: result.json and the kept sources."""
    folder = out / sub_id
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"schema_version": 1, "submission": {"id": sub_id},
                                                    "status": "graded"}), encoding="utf-8")
    write_tree(folder / "artifacts" / "submission", parts or {}, notebook(**nb))
    return folder


def pair_ids(pairs) -> list[tuple[str, str]]:
    return [(p.a, p.b) for p in pairs]


# ---- what students wrote: three independent solutions, and a copy of the first ----------------------

ALICE = {
    "jaccard": '''class JaccardCoeff(nn.Module):
    """Jaccard of one pair."""

    eps = 0.0001

    def forward(self, input, target):
        inter = torch.dot(input.reshape(-1), target.reshape(-1))
        union = input.sum() + target.sum() - inter
        return (inter + self.eps) / (union + self.eps)''',
    "shallow": '''class UNet_shallow(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        widths = [64, 128, 256]
        self.encoders = nn.ModuleList([inconv(n_channels, widths[0])])
        for i in range(1, len(widths)):
            self.encoders.append(down(widths[i - 1], widths[i]))
        self.decoders = nn.ModuleList()
        for i in reversed(range(1, len(widths))):
            self.decoders.append(up(widths[i] + widths[i - 1], widths[i - 1]))
        self.head = outconv(widths[0], n_classes)

    def forward(self, x):
        skips = []
        for block in self.encoders:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for block in self.decoders:
            x = block(x, skips.pop())
        return self.head(x)''',
    "up_add": '''class up_add(nn.Module):
    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        self.up = (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True) if bilinear
                   else nn.ConvTranspose2d(in_ch, in_ch, kernel_size=2, stride=2))
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x1, x2):
        upsampled = self.up(x1)
        diff_y = x2.shape[2] - upsampled.shape[2]
        diff_x = x2.shape[3] - upsampled.shape[3]
        upsampled = F.pad(upsampled, (diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2))
        merged = torch.add(x2, upsampled)
        return self.conv(merged)''',
    "deconv2d": '''def deconv2d(input, weights):
    """插零、卷积、裁边 / fill, convolve, crop."""
    stretched = fill_zeros(input)
    out_channels, in_channels, kh, kw = weights.shape
    assert in_channels == input.shape[0], "channel mismatch"
    result = conv2d(stretched, weights)
    margin_h, margin_w = kh // 2, kw // 2
    cropped = result[:, margin_h:result.shape[1] - margin_h, margin_w:result.shape[2] - margin_w]
    return np.ascontiguousarray(cropped, dtype=np.float64)''',
}

# Alice's work, with every name changed, comments added, literals and statements moved around.
MALLORY = {
    "jaccard": '''class JaccardCoeff(nn.Module):
    eps = 1e-4

    def forward(self, pred, truth):
        # 交集 / intersection
        i_sum = torch.dot(pred.reshape(-1), truth.reshape(-1))
        u_sum = pred.sum() + truth.sum() - i_sum
        return (i_sum + self.eps) / (u_sum + self.eps)''',
    "shallow": '''class UNet_shallow(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        chans = [32, 64, 128]
        self.dec = nn.ModuleList()
        for j in reversed(range(1, len(chans))):
            self.dec.append(up(chans[j] + chans[j - 1], chans[j - 1]))
        self.enc = nn.ModuleList([inconv(n_channels, chans[0])])
        for j in range(1, len(chans)):
            self.enc.append(down(chans[j - 1], chans[j]))
        self.last = outconv(chans[0], n_classes)

    def forward(self, img):
        # 编码 / encode
        saved = []
        for layer in self.enc:
            img = layer(img)
            saved.append(img)
        img = saved.pop()
        for layer in self.dec:
            img = layer(img, saved.pop())
        return self.last(img)''',
    "up_add": '''class up_add(nn.Module):
    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        self.conv = double_conv(in_ch, out_ch)
        self.up = (nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True) if bilinear
                   else nn.ConvTranspose2d(in_ch, in_ch, kernel_size=2, stride=2))

    def forward(self, deep, skip):
        big = self.up(deep)
        dx = skip.shape[3] - big.shape[3]
        dy = skip.shape[2] - big.shape[2]
        big = F.pad(big, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        total = torch.add(skip, big)
        return self.conv(total)''',
    "deconv2d": '''def deconv2d(input, weights):
    n_out, n_in, size_h, size_w = weights.shape
    big = fill_zeros(input)
    assert n_in == input.shape[0], 'bad channels'
    border_h, border_w = size_h // 2, size_w // 2
    res = conv2d(big, weights)
    # 裁掉一圈 / crop the border
    res = res[:, border_h:res.shape[1] - border_h, border_w:res.shape[2] - border_w]
    return np.ascontiguousarray(res, dtype=np.float64)''',
}

BOB = {
    "jaccard": '''class JaccardCoeff(nn.Module):
    eps = 0.0001

    def forward(self, input, target):
        a = input.contiguous().view(-1).float()
        b = target.contiguous().view(-1).float()
        both = (a * b).sum()
        total = torch.sum(a) + torch.sum(b)
        return (both + self.eps) / (total - both + self.eps)''',
    "shallow": '''class UNet_shallow(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.inc = inconv(n_channels, 64)
        self.down1 = down(64, 128)
        self.down2 = down(128, 128)
        self.up1 = up(256, 64)
        self.up2 = up(128, 64)
        self.outc = outconv(64, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        x = self.up2(x, x1)
        return self.outc(x)''',
    "up_add": '''class up_add(nn.Module):
    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        else:
            self.up = nn.ConvTranspose2d(in_ch, in_ch, 2, stride=2)
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x1, x2):
        x1 = pad_to(self.up(x1), x2)
        return self.conv(x2 + x1)''',
    "unet_add": '''class UNet_add(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
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
        return self.outc(x)''',
    "deconv2d": '''def deconv2d(input, weights):
    c, h, w = input.shape
    z = np.zeros((c, 2 * h + 1, 2 * w + 1))
    z[:, 1::2, 1::2] = input
    out = np.zeros((weights.shape[0], 2 * h + 1, 2 * w + 1))
    padded = np.pad(z, ((0, 0), (1, 1), (1, 1)))
    for o in range(weights.shape[0]):
        for i in range(2 * h + 1):
            for j in range(2 * w + 1):
                out[o, i, j] = np.sum(padded[:, i:i + 3, j:j + 3] * weights[o])
    return out[:, 1:-1, 1:-1]''',
}

CAROL = {
    "jaccard": '''class JaccardCoeff(nn.Module):
    eps = 0.0001

    def forward(self, input, target):
        intersection = (input * target).sum()
        return (intersection + self.eps) / (input.sum() + target.sum() - intersection + self.eps)''',
    "shallow": '''class UNet_shallow(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.l1 = inconv(n_channels, 32)
        self.l2 = down(32, 64)
        self.l3 = down(64, 128)
        self.u2 = up(192, 64)
        self.u1 = up(96, 32)
        self.out = outconv(32, n_classes)

    def forward(self, x):
        a = self.l1(x)
        b = self.l2(a)
        return self.out(self.u1(self.u2(self.l3(b), b), a))''',
    "up_add": '''class up_add(up):
    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__(2 * in_ch, out_ch, bilinear)
        if not bilinear:
            self.up = nn.ConvTranspose2d(in_ch, in_ch, 2, stride=2)
        self.conv = double_conv(in_ch, out_ch)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        return self.conv(pad_to(x1, x2) + x2)''',
    "deconv2d": '''def deconv2d(input, weights):
    full = conv2d(fill_zeros(input), weights)
    return full[:, 1:full.shape[1] - 1, 1:full.shape[2] - 1]''',
}

ANSWERS = {
    "alice": {
        "q1": "数据的排列是 B×H×W×C:第一维是批大小,接着是图像的高和宽,"
              "通道放在最后一维。输入只有一个通道,所以是灰度图;"
              "标签有两个通道,是 one-hot 编码,第 0 个通道代表背景,第 1 个通道代表前景的圆盘。",
        "q4": "网络对每个像素输出两个未经激活的 logits。"
              "先用 sigmoid 把它们压缩成 0 到 1 之间的概率,再以 0.5 为阈值做二值化:"
              "大于阈值的像素记为前景,否则记为背景。取前景那个通道,就得到最终的分割掩码。",
        "q5": "预测不好的图片里,圆盘的灰度和背景非常接近,"
              "再叠加上噪声之后几乎看不出边界;另外半径很小的圆盘只占很少的像素,"
              "几个圆盘互相重叠时轮廓也会粘在一起,网络容易把它们分错。",
    },
    # alice's answers with small edits: words swapped for synonyms, a clause added, punctuation changed
    "mallory": {
        "q1": "数据的排列方式是 B×H×W×C,第一维是批大小,然后是图像的高和宽,"
              "通道放在最后一维。输入只有 1 个通道,因此是灰度图;"
              "标签有两个通道,采用 one-hot 编码,第 0 个通道代表背景,第 1 个通道代表前景圆盘。",
        "q4": "网络对每一个像素输出两个没有经过激活的 logits。"
              "首先用 sigmoid 把它们压缩成 0 到 1 之间的概率,然后以 0.5 为阈值做二值化,"
              "大于阈值的像素记为前景,否则记为背景。最后取前景那个通道,就得到最终的分割掩码。",
        "q5": "预测得不好的图片中,圆盘的灰度和背景非常接近,"
              "再叠加噪声后几乎看不出边界;此外半径很小的圆盘只占很少的像素,"
              "几个圆盘互相重叠时轮廓也会粘在一起,所以网络容易把它们分错。",
    },
    "bob": {
        "q1": "形状是 B×H×W×C,也就是通道在最后。x 的最后一维是 1,说明输入为单通道的灰度图像;y 的最后一维是 2,"
              "两个通道互补:一个表示该像素是不是背景,另一个表示是不是圆盘。",
        "q4": "模型最后一层给出的是未归一化的分数。对它做 sigmoid 激活,得到每个像素属于前景的概率图;"
              "概率超过一半就判为目标,否则判为背景,这样就得到二值的 mask。",
        "q5": "The hard images have discs whose gray level is close to the noisy background,"
              " so the edges vanish. "
              "Tiny discs and discs that touch each other are also segmented badly.",
    },
    "carol": {
        "q1": "是 B×H×W×C。图像是灰度的(1 个通道),label 有 2 个通道:背景和前景各占一个。",
        "q4": "logits 经过 sigmoid 变成概率,再用阈值 0.5 得到掩码:大于阈值的是前景。",
        "q5": "对比度低、噪声大的图片最难,小目标也容易漏检。",
    },
}


def independent_batch(out: Path) -> None:
    for sub_id, code, seed in [("bob", BOB, 2), ("carol", CAROL, 3), ("alice", ALICE, 1)]:
        add_submission(out, sub_id, code, answers=ANSWERS[sub_id], deconv=code["deconv2d"],
                       log=training_log(seed))


def test_copy_with_renamed_variables_and_reordered_statements_ranks_first(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    independent_batch(out)
    add_submission(out, "mallory", MALLORY, deconv=MALLORY["deconv2d"], log=training_log(4))
    add_submission(out, "erin", log=training_log(5))  # handed in the kit untouched

    pairs = analyse(out, kit=kit, solution=tmp_path / "none")

    assert pairs, "the copy was not found"
    top = pairs[0]
    assert (top.a, top.b) == ("alice", "mallory")
    assert top.evidence == ["code"]
    assert {m.task for m in top.code if m.flagged} == {"unet_shallow", "up_add", "deconv2d"}
    # the side-by-side view points from each shared statement to its match, even though they were moved
    deconv = next(m for m in top.code if m.task == "deconv2d")
    moved = next(line for line in deconv.lines_a if "kh // 2" in line.text)
    assert moved.shared and moved.partner is not None
    partner = next(line for line in deconv.lines_b if line.number == moved.partner)
    assert "size_h // 2" in partner.text
    assert [line.partner for line in deconv.lines_a if line.partner] == [3, 2, 4, 6, 5, 8, 9]


def test_independent_solutions_written_differently_are_not_flagged(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    independent_batch(out)

    assert analyse(out, kit=kit, solution=tmp_path / "none") == []


def test_the_kit_alone_never_makes_a_pair(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    for sub_id in ("s1", "s2", "s3"):  # handed in the kit as it came, notebook run and all
        add_submission(out, sub_id, log="")
    # two who wrote only what the given code spells out (UNet_add is UNet with up_add) and nothing else
    for sub_id in ("s4", "s5"):
        add_submission(out, sub_id, {"unet_add": BOB["unet_add"], "up_add": BOB["up_add"]})

    assert analyse(out, kit=kit, solution=tmp_path / "none") == []


def test_identical_loss_logs_are_found_even_when_the_code_differs(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    shared_run = training_log(7)
    add_submission(out, "bob", BOB, deconv=BOB["deconv2d"], log=shared_run)
    add_submission(out, "carol", CAROL, deconv=CAROL["deconv2d"], log=shared_run)
    add_submission(out, "alice", ALICE, deconv=ALICE["deconv2d"], log=training_log(8))

    pairs = analyse(out, kit=kit, solution=tmp_path / "none")

    assert pair_ids(pairs) == [("bob", "carol")]
    assert pairs[0].evidence == ["outputs"]
    assert pairs[0].score == 1.0
    # every value the log prints with 4 significant digits (4 decimals and >= 0.1), in order
    printed = [line.split()[-1] for line in shared_run.splitlines()]
    assert pairs[0].outputs.run == [v for v in printed if float(v) >= 0.1]
    run = pairs[0].outputs.run
    assert not {"1.0000", "0.3333", "1.1111e-05"} & set(run)


def test_part_of_one_training_log_copied_is_found(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    original = training_log(11).splitlines(True)
    rerun = training_log(12).splitlines(True)
    add_submission(out, "bob", BOB, log="".join(original))
    add_submission(out, "carol", CAROL, log="".join(rerun[:60] + original[60:66] + rerun[66:]))  # one epoch

    pairs = analyse(out, kit=kit, solution=tmp_path / "none")

    assert pair_ids(pairs) == [("bob", "carol")]
    assert len(pairs[0].outputs.run) == 6


def test_numbers_in_the_reference_notebook_are_ignored(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    log = training_log(9)
    reference = tmp_path / "solution"
    write_tree(reference, {}, notebook(log=log))
    add_submission(out, "bob", BOB, log=log)
    add_submission(out, "carol", CAROL, log=log)

    assert analyse(out, kit=kit, solution=reference) == []
    assert pair_ids(analyse(out, kit=kit, solution=tmp_path / "none")) == [("bob", "carol")]


def test_chinese_answers_copied_with_small_edits_are_found(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    independent_batch(out)
    # mallory copied alice's answers (and marked them by heading, not by tag), and wrote no code
    add_submission(out, "mallory", answers=ANSWERS["mallory"], answer_style="heading", log=training_log(6))

    pairs = analyse(out, kit=kit, solution=tmp_path / "none")

    assert pair_ids(pairs)[0] == ("alice", "mallory")
    top = pairs[0]
    assert "answers" in top.evidence
    assert {m.question for m in top.answers if m.flagged} == {"q1", "q4", "q5"}
    q4 = next(m for m in top.answers if m.question == "q4")
    marked = "".join(s.text for s in q4.text_a if s.shared)
    assert "压缩成 0 到 1 之间的概率" in marked
    assert "首先" not in marked and "首先" not in "".join(s.text for s in q4.text_b if s.shared)
    assert ("alice", "carol") not in pair_ids(pairs) and ("bob", "mallory") not in pair_ids(pairs)


def test_placeholder_answers_are_skipped(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    long_placeholder = {q: PLACEHOLDER for q in ("q1", "q4", "q5")}
    add_submission(out, "s1", answers=long_placeholder)
    add_submission(out, "s2", answers=long_placeholder, answer_style="heading")
    add_submission(out, "s3", answers={"q1": "  " + PLACEHOLDER.upper() + "\n"})

    assert analyse(out, kit=kit, solution=tmp_path / "none") == []


def test_a_missing_kit_still_discounts_code_most_of_the_batch_shares(tmp_path):
    out = tmp_path / "reports"
    for i in range(40):
        add_submission(out, f"s{i:02d}", log="")
    add_submission(out, "alice", ALICE, deconv=ALICE["deconv2d"])
    add_submission(out, "mallory", MALLORY, deconv=MALLORY["deconv2d"])

    pairs = analyse(out, kit=tmp_path / "no-kit", solution=tmp_path / "none")

    assert pair_ids(pairs) == [("alice", "mallory")]


def test_an_unparsable_file_costs_only_its_own_tasks(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    add_submission(out, "alice", ALICE, deconv=ALICE["deconv2d"])
    folder = add_submission(out, "mallory", MALLORY, deconv=MALLORY["deconv2d"])
    broken = folder / "artifacts" / "submission" / "unet" / "unet_model.py"
    broken.write_text(broken.read_text(encoding="utf-8") + "\ndef oops(:\n", encoding="utf-8")

    pairs = analyse(out, kit=kit, solution=tmp_path / "none")

    assert pair_ids(pairs) == [("alice", "mallory")]
    assert {m.task for m in pairs[0].code} == {"jaccard", "up_add", "deconv2d"}


def test_thresholds_are_settings(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    add_submission(out, "alice", ALICE, deconv=ALICE["deconv2d"])
    add_submission(out, "mallory", MALLORY, deconv=MALLORY["deconv2d"])

    assert analyse(out, kit=kit, solution=tmp_path / "none")
    strict = Settings(code_threshold=1.01)
    assert analyse(out, kit=kit, solution=tmp_path / "none", settings=strict) == []


# ---- identical work, however common ---------------------------------------------------------------------

def test_six_identical_submissions_are_one_cluster_and_the_common_code_set_aside_is_counted(tmp_path):
    from grader.similarity import analyse_all

    kit, out = make_kit(tmp_path), tmp_path / "reports"
    independent_batch(out)  # bob, carol, alice: written independently
    copies = [f"copy{i}" for i in range(6)]
    for sub_id in copies:  # byte for byte the same files, notebook included
        add_submission(out, sub_id, MALLORY, deconv=MALLORY["deconv2d"])

    found = analyse_all(out, kit=kit, solution=tmp_path / "none")

    # More than the common limit (3 of 9) share every fingerprint of the copies, so no pair is left ...
    assert found.set_aside.limit == 3 and found.set_aside.submissions == 9
    assert pair_ids(found.pairs) == []
    # ... but the copies are reported together, with alice, whose code they are once renamed and reordered
    assert [(c.members, c.identical) for c in found.clusters] == [(["alice", *copies], True)]
    cluster = found.clusters[0]
    assert cluster.similarity == 1.0 and cluster.fingerprints >= 10
    assert cluster.tasks == ["jaccard", "unet_shallow", "up_add", "deconv2d"]
    # what was set aside for being common is counted: at least every fingerprint of the copies' own code
    assert found.set_aside.code >= cluster.fingerprints


def test_near_identical_copies_cluster_and_independent_work_does_not(tmp_path):
    from grader.similarity import analyse_all

    kit, out = make_kit(tmp_path), tmp_path / "reports"
    independent_batch(out)
    extra = dict(MALLORY, deconv2d=MALLORY["deconv2d"].replace(
        "    return np.ascontiguousarray", "    res = res * 1\n    return np.ascontiguousarray"))
    for i in range(4):
        add_submission(out, f"copy{i}", MALLORY if i else extra, deconv=(MALLORY if i else extra)["deconv2d"])

    found = analyse_all(out, kit=kit, solution=tmp_path / "none")

    assert [c.members for c in found.clusters] == [["alice", "copy0", "copy1", "copy2", "copy3"]]
    assert not found.clusters[0].identical and 0.9 <= found.clusters[0].similarity < 1.0

    alone = tmp_path / "alone"
    independent_batch(alone)
    assert analyse_all(alone, kit=kit, solution=tmp_path / "none").clusters == []
