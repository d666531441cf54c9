"""Time `unet-grader similarity` on a synthetic batch, and measure the thresholds it uses.

    python benchmarks/similarity_bench.py [--n 300] [--runs 3] [--kit assignment/week-06] [--seed 0]

Builds, in a temporary folder and on top of the student kit, a graded batch of N synthetic students. Each
writes every task in one of the ways students write it (drawn from pools of variants), with their own
names, comments, a few quirks of their own (an assert, a cast, a helper variable), their own written
answers (phrases drawn per sentence from pools of wordings, some in English) and their own random training
log. Then some students copy: the code of another (every name changed, statements reordered, comments and
widths changed), the answers of another (with small edits), the notebook outputs of another, or everything.

Prints the median wall time of `analyse` (all pairs, reading the batch included) over --runs runs; then,
for each kind of evidence, the strongest independent pair and the weakest planted pair (with every
threshold at zero, so no pair is hidden), and what the default settings list.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.notebook.cells import Cell  # noqa: E402
from grader.similarity import DEFAULT_KIT, analyse  # noqa: E402
from grader.similarity.compare import Counts, PairStats, Settings  # noqa: E402
from grader.similarity.compare import statistics as pair_statistics  # noqa: E402
from grader.similarity.extract import answer_question, load_batch, load_kit  # noqa: E402

NAMES = {
    "a": ["input", "input", "input", "pred", "x", "inp"],
    "b": ["target", "target", "target", "gt", "y", "label"],
    "fa": ["a", "pf", "flat_in", "iflat", "x_flat", "p1"],
    "fb": ["b", "tf", "flat_t", "tflat", "y_flat", "p2"],
    "inter": ["inter", "intersection", "overlap", "common", "tp", "both", "i_sum"],
    "union": ["union", "uni", "total", "den", "denominator", "u_sum"],
    "res": ["result", "res", "out", "output", "score", "jac"],
    "x": ["x", "x", "feat", "h", "img", "t"],
    "up": ["up", "up", "up", "upsample"],
    "conv": ["conv", "conv", "conv", "block"],
    "d1": ["x1", "x1", "deep", "low", "a"],
    "d2": ["x2", "x2", "skip", "high", "b"],
    "dy": ["diff_y", "dy", "diffY", "h_gap", "pad_h"],
    "dx": ["diff_x", "dx", "diffX", "w_gap", "pad_w"],
    "z": ["z", "filled", "big", "stretched", "padded_in", "zero_filled"],
    "full": ["full", "res", "conv_out", "y", "tmp", "whole"],
    "m": ["margin", "border", "m", "cut", "edge"],
    "cout": ["c_out", "out_channels", "n_out", "co", "oc"],
    "cin": ["c_in", "in_channels", "n_in", "ci", "ic"],
    "kh": ["kh", "k", "ksize", "size", "kernel_size"],
    "enc": ["encoders", "enc", "downs", "down_path"],
    "dec": ["decoders", "dec", "ups", "up_path"],
    "skips": ["skips", "saved", "features", "stack", "cache"],
    "layer": ["block", "layer", "m", "stage"],
    "widths": ["widths", "chans", "ch", "sizes", "filters"],
}
ATTRS = [["inc", "down1", "down2", "down3", "down4", "up1", "up2", "up3", "up4", "outc"],
         ["in_conv", "enc1", "enc2", "enc3", "enc4", "dec1", "dec2", "dec3", "dec4", "out_conv"],
         ["l1", "l2", "l3", "l4", "l5", "u4", "u3", "u2", "u1", "head"],
         ["first", "d1", "d2", "d3", "d4", "u1", "u2", "u3", "u4", "last"]]
WIDTHS = [(64, 128, 128), (64, 128, 256), (32, 64, 128), (16, 32, 64), (64, 128, 128), (64, 128, 256)]
COMMENTS = ["# 交集 / intersection", "# 并集", "# TODO 检查维度", "# 先上采样", "# encoder", "# decoder",
            "# skip connection", "# 裁掉边缘", "# 插零", "# 卷积", "# shape check", "# 注意通道数",
            "# 参考 DiceCoeff", "# 最后输出 logits", "# 相加而不是拼接", "# debug"]

# Quirks: lines one student adds and another does not (a cast, a check, a print), made by composing
# calls, so that two students rarely add the same one. {v} and {w} are the writer's variable names.
TORCH_CALLS = ["torch.clamp({v}, 0, 1)", "torch.nan_to_num({v})", "torch.abs({v})", "torch.flatten({v})",
               "{v}.float()", "{v}.double()", "{v}.contiguous()", "{v}.detach()", "{v}.clone()",
               "{v}.to(torch.float32)", "{v}.squeeze()", "{v}.view_as({w})", "{v}.type_as({w})",
               "{v}.reshape({w}.shape)", "torch.relu({v})", "{v}.cpu()"]
NUMPY_CALLS = ["np.asarray({v})", "np.array({v}, dtype=np.float64)", "{v}.astype(np.float32)",
               "{v}.astype(float)", "{v}.copy()", "np.ascontiguousarray({v})", "np.squeeze({v})",
               "np.atleast_3d({v})",
               "np.nan_to_num({v})", "np.round({v}, 6)", "{v}.reshape({v}.shape)", "np.abs({v})",
               "np.clip({v}, -1e9, 1e9)", "{v}[...]", "np.real({v})", "np.require({v}, requirements='C')"]
PROPERTIES = ["shape", "ndim", "dtype", "size"]
NET_INIT = "    def __init__(self, n_channels, n_classes):\n        super().__init__()\n"
QUIRK_VARS = {"jaccard": ("a", "b", TORCH_CALLS), "up_add": ("d1", "d2", TORCH_CALLS),
              "deconv2d": ("z", "full", NUMPY_CALLS)}


def quirk(task: str, rng: random.Random) -> tuple:
    """One quirk as the choices that make it (the copier keeps them, the names are the writer's)."""
    form = rng.choices(["call", "assert", "print"], [70, 15, 15])[0]
    calls = QUIRK_VARS[task][2]
    if form == "call":
        return form, rng.randrange(2), rng.sample(range(len(calls)), 2)
    return form, rng.randrange(2), rng.sample(range(len(PROPERTIES)), 2)


def quirk_line(task: str, q: tuple, n: dict[str, str]) -> str:
    form, which, picks = q
    first, second, calls = QUIRK_VARS[task]
    v, w = (n[first], n[second]) if which == 0 else (n[second], n[first])
    if task == "deconv2d":  # before the body runs only the parameters exist
        v, w = "input", "weights"
    if form == "call":
        inner = calls[picks[1]].format(v=v, w=w)
        return f"{v} = " + calls[picks[0]].format(v=inner, w=w)
    p, r = PROPERTIES[picks[0]], PROPERTIES[picks[1]]
    if form == "assert":
        return f"assert {v}.{p} == {w}.{p} or {v}.{r} is not None, 'check {p}'"
    return f"print('{task}', {v}.{p}, {w}.{r})"


Q = {  # answer sentences: per slot, the wordings students use
    "q1": [
        ["数据的排列是 B×H×W×C。", "形状是 B×H×W×C,通道在最后。", "是 B×H×W×C 而不是 B×C×H×W。",
         "The layout is B×H×W×C.", "x 的形状 (2, 128, 128, 1) 说明排列是 B×H×W×C。"],
        ["第一维是批大小,接着是高和宽。", "B 是 batch,H 和 W 是图像的高和宽。",
         "batch 在最前面,然后是 128×128 的图像。", "Batch first, then height and width.", ""],
        ["输入只有一个通道,所以是灰度图。", "x 的最后一维是 1,说明输入为单通道的灰度图像。",
         "图像是灰度的(1 个通道)。", "The input has one channel, so it is gray.",
         "输入是灰度图像,不是彩色图。"],
        ["标签有两个通道,是 one-hot 编码。", "y 有 2 个通道,两个通道互补。",
         "label 有 2 个通道,背景和前景各占一个。", "The label has two channels (one-hot).",
         "标签是两通道的 one-hot 向量。"],
        ["第 0 个通道代表背景,第 1 个通道代表前景的圆盘。",
         "一个表示该像素是不是背景,另一个表示是不是圆盘。", "通道 1 是前景,通道 0 是背景。",
         "Channel 0 is background, channel 1 the discs.", ""],
    ],
    "q4": [
        ["网络对每个像素输出未经激活的 logits。", "模型最后一层给出的是未归一化的分数。",
         "输出是 logits,可以是任意实数。", "The network outputs logits.", "网络的输出没有经过 sigmoid。"],
        ["先用 sigmoid 把它们压缩成 0 到 1 之间的概率,", "对它做 sigmoid 激活,得到属于前景的概率图;",
         "logits 经过 sigmoid 变成概率,", "Sigmoid turns them into probabilities,",
         "用 torch.sigmoid 得到概率,"],
        ["再以 0.5 为阈值做二值化,", "概率超过一半就判为目标,", "再用阈值 0.5 得到掩码,",
         "thresholded at 0.5,", "大于 0.5 的记为 1,否则记为 0,"],
        ["大于阈值的像素记为前景,否则记为背景。", "否则判为背景。", "大于阈值的是前景。",
         "pixels above it are foreground.", "这样每个像素都被分到一类。"],
        ["取前景那个通道,就得到最终的分割掩码。", "这样就得到了二值的 mask。",
         "最后画出通道 1 就是分割结果。", "Channel 1 then is the mask.", ""],
    ],
    "q5": [
        ["预测不好的图片里,圆盘的灰度和背景非常接近,", "对比度低的图片最难,",
         "有些圆盘的亮度和背景差不多,",
         "The hard images have discs close to the background's gray level,",
         "圆盘颜色太淡时网络看不出来,"],
        ["再叠加上噪声之后几乎看不出边界;", "噪声一大边缘就消失了;", "加上噪声就更难分辨;",
         "so under the noise the edges vanish;", "sigma 大的时候噪声盖住了圆盘;"],
        ["半径很小的圆盘只占很少的像素,", "小目标也容易漏检,", "很小的圆只有几十个像素,",
         "tiny discs are missed,", "小圆盘容易被当成噪声,"],
        ["几个圆盘互相重叠时轮廓也会粘在一起。", "圆盘重叠时边界容易出错。", "相切的圆会被分成一个。",
         "and touching discs merge.", "多个圆重叠的地方也分不好。"],
    ],
}
# A clause of the student's own, composed so that two students rarely write the same one.
OWN = [
    ["网络", "模型", "UNet", "这个网络", "训练好的模型", "The network", "My model"],
    ["往往", "经常", "明显", "有时", "比较容易", "总是", " often", " sometimes"],
    ["混淆", "漏掉", "看错", "高估", "低估", "忽略", "分不清", " misses", " blurs"],
    ["边缘像素", "小圆盘", "暗的圆", "重叠区域", "背景噪声", "相邻的圆", "图像角落", " the edges",
     " small discs"],
    ["。", ",这和训练步数有关。", ",可能需要更多数据。", ",我觉得是感受野不够。", ",换成 RGB 也一样。",
     ". "],
]
FILLERS = ["我认为", "可以看到,", "总的来说,", "实验中发现", "根据上面的结果,", "In my runs, ",
           "经过观察,", ""]
EDITS = [("。", "."), ("的", "之"), ("就", "便"), ("很", "非常"), ("再", "然后"), ("先", "首先"),
         ("是", "为"), (",", ",而且"), ("图像", "图片"), ("通道", "channel")]


@dataclass
class Author:
    """The choices that make a solution: variants, widths, quirks, answers. A copier copies these."""

    variants: dict[str, Any]
    widths: tuple[int, int, int]
    attrs: int
    quirks: dict[str, list[tuple]]
    answers: dict[str, str]
    log_seed: int


@dataclass
class Writer:
    """How one student spells it out: names, comments, order. A copier draws new ones."""

    rng: random.Random
    names: dict[str, str] = field(default_factory=dict)
    reorder: bool = False

    def __post_init__(self):
        taken: set[str] = set()
        for role, pool in NAMES.items():
            free = [n for n in pool if n not in taken] or [f"{pool[0]}_{role}"]
            self.names[role] = self.rng.choice(free)
            taken.add(self.names[role])

    def lines(self, statements: list[str], indent: str, free: bool = False) -> str:
        """Statements as lines; `free` ones (no order between them) are shuffled when reordering."""
        statements = list(statements)
        if free and self.reorder:
            self.rng.shuffle(statements)
        out = []
        for s in statements:
            if self.rng.random() < 0.2:
                out.append(indent + self.rng.choice(COMMENTS))
            out.extend(indent + line for line in s.split("\n"))
        return "\n".join(out)


def _quirks(task: str, author: Author, n: dict[str, str]) -> list[str]:
    return [quirk_line(task, q, n) for q in author.quirks.get(task, [])]


def jaccard(author: Author, w: Writer) -> str:
    n, v = w.names, author.variants
    a, b = n["a"], n["b"]
    flat = ["{}.view(-1)", "{}.reshape(-1)", "{}.flatten()", "{}.contiguous().view(-1)"][v["flat"]]
    pre, fa, fb = [], a, b
    if v["inter"] == 3:
        pre, fa, fb = [f"{n['fa']} = {flat.format(a)}", f"{n['fb']} = {flat.format(b)}"], n["fa"], n["fb"]
    inter = [f"torch.dot({flat.format(a)}, {flat.format(b)})", f"({a} * {b}).sum()", f"torch.sum({a} * {b})",
             f"({fa} * {fb}).sum()"][v["inter"]]
    union = [f"{fa}.sum() + {fb}.sum() - {n['inter']}", f"torch.sum({fa}) + torch.sum({fb}) - {n['inter']}",
             f"({fa} + {fb}).sum() - {n['inter']}"][v["union"]]
    eps = ["self.eps", "self.eps", "0.0001", "1e-4"][v["eps"]]
    body = _quirks("jaccard", author, n) + pre + [f"{n['inter']} = {inter}", f"{n['union']} = {union}"]
    if v["ret"] == 0:
        body.append(f"return ({n['inter']} + {eps}) / ({n['union']} + {eps})")
    else:
        body += [f"{n['res']} = ({n['inter']} + {eps}) / ({n['union']} + {eps})", f"return {n['res']}"]
    return (f'class JaccardCoeff(nn.Module):\n    """Jaccard."""\n\n    eps = 0.0001\n\n'
            f"    def forward(self, {a}, {b}):\n" + w.lines(body, " " * 8))


def unet_shallow(author: Author, w: Writer) -> str:
    n, v, (c1, c2, c3) = w.names, author.variants, author.widths
    at = ATTRS[author.attrs]
    x = n["x"]
    head = "class UNet_shallow(nn.Module):\n" + NET_INIT
    if v["shallow"] == 2:  # lists and loops
        ws, enc, dec, sk, ly = n["widths"], n["enc"], n["dec"], n["skips"], n["layer"]
        init = [f"{ws} = [{c1}, {c2}, {c3}]",
                f"self.{enc} = nn.ModuleList([inconv(n_channels, {ws}[0])])\n"
                f"for i in range(1, len({ws})):\n    self.{enc}.append(down({ws}[i - 1], {ws}[i]))",
                f"self.{dec} = nn.ModuleList()\nfor i in reversed(range(1, len({ws}))):\n"
                f"    self.{dec}.append(up({ws}[i] + {ws}[i - 1], {ws}[i - 1]))",
                f"self.{at[9]} = outconv({ws}[0], n_classes)"]
        fwd = [f"{sk} = []", f"for {ly} in self.{enc}:\n    {x} = {ly}({x})\n    {sk}.append({x})",
               f"{x} = {sk}.pop()", f"for {ly} in self.{dec}:\n    {x} = {ly}({x}, {sk}.pop())",
               f"return self.{at[9]}({x})"]
        return (head + w.lines(init[:1], " " * 8) + "\n" + w.lines(init[1:], " " * 8, free=True)
                + f"\n\n    def forward(self, {x}):\n" + w.lines(fwd, " " * 8))
    init = [f"self.{at[0]} = inconv(n_channels, {c1})", f"self.{at[1]} = down({c1}, {c2})",
            f"self.{at[2]} = down({c2}, {c3})", f"self.{at[6]} = up({c3 + c2}, {c2 if c3 != c2 else c1})",
            f"self.{at[7]} = up({(c2 if c3 != c2 else c1) + c1}, {c1})",
            f"self.{at[9]} = outconv({c1}, n_classes)"]
    if v["shallow"] == 1:
        d1, d2 = n["d1"], n["d2"]
        fwd = [f"{d1} = self.{at[0]}({x})", f"{d2} = self.{at[1]}({d1})",
               f"return self.{at[9]}(self.{at[7]}(self.{at[6]}(self.{at[2]}({d2}), {d2}), {d1}))"]
    else:
        fwd = [f"x1 = self.{at[0]}({x})", f"x2 = self.{at[1]}(x1)", f"x3 = self.{at[2]}(x2)",
               f"{x} = self.{at[6]}(x3, x2)", f"{x} = self.{at[7]}({x}, x1)", f"return self.{at[9]}({x})"]
    return (head + w.lines(init, " " * 8, free=True)
            + f"\n\n    def forward(self, {x}):\n" + w.lines(fwd, " " * 8))


def up_add(author: Author, w: Writer) -> str:
    n, v = w.names, author.variants
    d1, d2, upn, conv = n["d1"], n["d2"], n["up"], n["conv"]
    sample = 'nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)'
    trans = ["nn.ConvTranspose2d(in_ch, in_ch, 2, stride=2)",
             "nn.ConvTranspose2d(in_ch, in_ch, kernel_size=2, stride=2)"][v["trans"]]
    init = [[f"if bilinear:\n    self.{upn} = {sample}\nelse:\n    self.{upn} = {trans}"],
            [f"self.{upn} = {sample} if bilinear else {trans}"],
            [f"if not bilinear:\n    self.{upn} = {trans}\nelse:\n    self.{upn} = {sample}"]][v["up_init"]]
    init = [*init, f"self.{conv} = double_conv(in_ch, out_ch)"]
    fwd = _quirks("up_add", author, n)
    if v["up_fwd"] == 0:
        fwd += [f"{d1} = pad_to(self.{upn}({d1}), {d2})", f"return self.{conv}({d2} + {d1})"]
    elif v["up_fwd"] == 1:
        dy, dx = n["dy"], n["dx"]
        fwd += [f"{d1} = self.{upn}({d1})",
                *[f"{dy} = {d2}.size(2) - {d1}.size(2)", f"{dx} = {d2}.size(3) - {d1}.size(3)"],
                f"{d1} = F.pad({d1}, [{dx} // 2, {dx} - {dx} // 2, {dy} // 2, {dy} - {dy} // 2])",
                f"return self.{conv}(torch.add({d2}, {d1}))"]
    else:
        fwd += [f"{d1} = self.{upn}({d1})", f"{d1} = pad_to({d1}, {d2})", f"{n['x']} = {d1} + {d2}",
                f"return self.{conv}({n['x']})"]
    return ("class up_add(nn.Module):\n    def __init__(self, in_ch, out_ch, bilinear=True):\n"
            "        super().__init__()\n" + w.lines(init, " " * 8, free=True)
            + f"\n\n    def forward(self, {d1}, {d2}):\n" + w.lines(fwd, " " * 8))


def unet_add(author: Author, w: Writer) -> str:
    at, x = ATTRS[author.attrs], w.names["x"]
    widths = [(64, 128), (128, 256), (256, 512), (512, 512)]
    init = [f"self.{at[0]} = inconv(n_channels, 64)"]
    init += [f"self.{at[i + 1]} = down({a}, {b})" for i, (a, b) in enumerate(widths)]
    decoder = [(512, 256), (256, 128), (128, 64), (64, 64)]
    init += [f"self.{at[5 + i]} = up_add({a}, {b})" for i, (a, b) in enumerate(decoder)]
    init.append(f"self.{at[9]} = outconv(64, n_classes)")
    fwd = [f"x1 = self.{at[0]}({x})"] + [f"x{i + 2} = self.{at[i + 1]}(x{i + 1})" for i in range(4)]
    fwd += [f"{x} = self.{at[5]}(x5, x4)", f"{x} = self.{at[6]}({x}, x3)", f"{x} = self.{at[7]}({x}, x2)",
            f"{x} = self.{at[8]}({x}, x1)", f"return self.{at[9]}({x})"]
    return ("class UNet_add(nn.Module):\n" + NET_INIT + w.lines(init, " " * 8, free=True)
            + f"\n\n    def forward(self, {x}):\n" + w.lines(fwd, " " * 8))


def deconv2d(author: Author, w: Writer) -> str:
    n, v = w.names, author.variants
    z, full, m, cout, cin, kh = n["z"], n["full"], n["m"], n["cout"], n["cin"], n["kh"]
    body = _quirks("deconv2d", author, n)
    if v["deconv"] == 0:
        body += ["return conv2d(fill_zeros(input), weights)[:, 1:-1, 1:-1]"]
    elif v["deconv"] == 1:
        body += [f"{z} = fill_zeros(input)", f"{full} = conv2d({z}, weights)",
                 f"return {full}[:, 1:-1, 1:-1]"]
    elif v["deconv"] == 2:
        body += [f"{z} = fill_zeros(input)", f"{cout}, {cin}, {kh}, _ = weights.shape", f"{m} = {kh} // 2",
                 f"{full} = conv2d({z}, weights)",
                 f"return {full}[:, {m}:{full}.shape[1] - {m}, {m}:{full}.shape[2] - {m}]"]
    elif v["deconv"] == 3:  # by hand: each statement is written one of several ways, chosen one by one
        o = v["loops"]
        size = [["2 * h + 1", "2 * w + 1"], [f"{z}.shape[1]", f"{z}.shape[2]"], ["H", "W"]][o[0]]
        shape = [[f"{cin}, h, w = input.shape"], [f"{cin} = input.shape[0]", "h, w = input.shape[1:]"],
                 [f"{cin}, h, w = input.shape", "H, W = 2 * h + 1, 2 * w + 1"]][o[0]]
        fill = [[f"{z} = np.zeros(({cin}, 2 * h + 1, 2 * w + 1))", f"{z}[:, 1::2, 1::2] = input"],
                [f"{z} = fill_zeros(input)"],
                [f"{z} = np.zeros((input.shape[0], input.shape[1] * 2 + 1, input.shape[2] * 2 + 1))",
                 "for r in range(h):\n    for q in range(w):\n"
                 f"        {z}[:, 2 * r + 1, 2 * q + 1] = input[:, r, q]"],
                ][o[1]]
        pad = [f"pad = np.pad({z}, ((0, 0), (1, 1), (1, 1)))",
               f"pad = np.pad({z}, 1)[1:-1]",
               f"pad = np.zeros(({cin}, {size[0]} + 2, {size[1]} + 2))\npad[:, 1:-1, 1:-1] = {z}",
               f"pad = np.pad({z}, [(0, 0), (1, 1), (1, 1)], mode='constant')"][o[2]]
        out = [f"{full} = np.zeros((weights.shape[0], {size[0]}, {size[1]}))",
               f"{full} = np.zeros((len(weights),) + {z}.shape[1:])",
               f"{full} = np.zeros_like({z}, shape=(weights.shape[0], {size[0]}, {size[1]}))"][o[3]]
        window = "pad[:, i:i + 3, j:j + 3]"
        total = [f"np.sum({window} * weights[o])", f"({window} * weights[o]).sum()",
                 f"np.einsum('cij,cij->', {window}, weights[o])",
                 f"np.tensordot({window}, weights[o], axes=3)",
                 f"({window}.ravel() @ weights[o].ravel())"][o[4]]
        loops = [("o", ["range(weights.shape[0])", "range(len(weights))"][o[5] % 2]),
                 ("i", f"range({size[0]})"), ("j", f"range({size[1]})")]
        if o[5] > 1:
            loops = loops[1:] + loops[:1]
        nest = "".join(f"{'    ' * d}for {var} in {rng}:\n" for d, (var, rng) in enumerate(loops))
        crop = [f"return {full}[:, 1:-1, 1:-1]", f"return {full}[:, 1:{size[0]} - 1, 1:{size[1]} - 1]",
                f"return {full}[..., 1:-1, 1:-1].copy()"][o[6]]
        body += [*shape, *fill, out, pad, nest + f"{'    ' * 3}{full}[o, i, j] = {total}", crop]
    else:
        body += [f"{z} = fill_zeros(input)", f"{full} = conv2d({z}, weights)",
                 f"{full} = np.delete({full}, [0, -1], axis=1)",
                 f"{full} = np.delete({full}, [0, -1], axis=2)",
                 f"return {full}"]
    return "def deconv2d(input, weights):\n" + w.lines(body, "    ")


def answer(question: str, rng: random.Random) -> str:
    parts = []
    for slot in Q[question]:
        if rng.random() < 0.25:
            parts.append(rng.choice(FILLERS))
        parts.append(rng.choice(slot))
    for _ in range(rng.choice([1, 1, 2])):
        parts.insert(rng.randrange(len(parts) + 1), "".join(rng.choice(words) for words in OWN))
    return "".join(parts)


def edit(text: str, rng: random.Random) -> str:
    """A copier's small edits: a few words swapped, a filler added."""
    for old, new in rng.sample(EDITS, 4):
        text = text.replace(old, new, 1)
    return rng.choice(FILLERS) + text


def draw_author(rng: random.Random) -> Author:
    variants = {"flat": rng.randrange(4), "inter": rng.randrange(4), "union": rng.randrange(3),
                "eps": rng.randrange(4), "ret": rng.randrange(2),
                "shallow": rng.choices([0, 1, 2], [70, 15, 15])[0],
                "trans": rng.randrange(2), "up_init": rng.randrange(3),
                "up_fwd": rng.choices([0, 1, 2], [60, 25, 15])[0],
                "deconv": rng.choices(range(5), [30, 30, 20, 10, 10])[0],
                "loops": [rng.randrange(k) for k in (3, 3, 4, 3, 5, 4, 3)]}
    quirks = {task: [quirk(task, rng) for _ in range(rng.choice([0, 1, 1, 2, 3]))] for task in QUIRK_VARS}
    return Author(variants, rng.choice(WIDTHS), rng.randrange(len(ATTRS)), quirks,
                  {q: answer(q, rng) for q in Q}, rng.randrange(10**9))


def training_log(seed: int) -> str:
    """What one training cell prints: a loss every 10 steps, a validation Dice every epoch."""
    rng = random.Random(seed)
    speed, floor = rng.uniform(0.96, 0.99), rng.uniform(0.05, 0.12)
    lines = []
    for epoch in range(1, 6):
        for step in range(10, 51, 10):
            loss = floor + (0.69 - floor) * speed ** ((epoch - 1) * 50 + step) + rng.gauss(0, 0.015)
            lines.append(f"epoch {epoch} step {step} loss {loss:.4f}")
        dice = min(0.99, 0.97 - 0.3 * 0.5 ** epoch + rng.gauss(0, 0.01))
        lines.append(f"epoch {epoch} validation dice coeff {dice:.4f}")
    return "\n".join(lines) + "\n"


JACCARD_OUTPUT = ("tensor(1.0000, dtype=torch.float64)\ntensor(0.3333, dtype=torch.float64)\n"
                  "tensor(1.1111e-05, dtype=torch.float64)\ntensor(1., dtype=torch.float64)\n")


def splice(source: str, name: str, replacement: str) -> str:
    """`source` with its module-level definition `name` replaced."""
    node = next(s for s in ast.parse(source).body if getattr(s, "name", None) == name)
    lines = source.split("\n")
    return "\n".join(lines[: node.lineno - 1] + replacement.split("\n") + lines[node.end_lineno:])


def _stream(text: str) -> list[dict]:
    return [{"output_type": "stream", "name": "stdout", "text": text.splitlines(True)}]


def write_submission(out: Path, sub_id: str, kit: Path, kit_nb: dict, code: dict[str, str],
                     answers: dict[str, str], log: str) -> None:
    folder = out / sub_id / "artifacts" / "submission"
    (folder / "unet").mkdir(parents=True)
    (out / sub_id / "result.json").write_text(json.dumps({"submission": {"id": sub_id}, "status": "graded"}))
    places = {"dice_loss.py": ["JaccardCoeff"], "unet_parts.py": ["up_add"], "unet_model.py": ["UNet_shallow",
                                                                                                 "UNet_add"]}
    keys = {"JaccardCoeff": "jaccard", "up_add": "up_add", "UNet_shallow": "unet_shallow",
            "UNet_add": "unet_add"}
    for path in sorted((kit / "unet").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for name in places.get(path.name, []):
            source = splice(source, name, code[keys[name]])
        (folder / "unet" / path.name).write_text(source, encoding="utf-8")
    nb = copy.deepcopy(kit_nb)
    logs = iter(log.split("SPLIT\n"))
    for raw in nb["cells"]:
        cell = Cell(0, raw["cell_type"], "".join(raw["source"]), raw.get("metadata", {}).get("tags", []))
        if (q := answer_question(cell)) in answers:
            raw["source"] = f"**答案 / Answer ({q.upper()})**\n\n{answers[q]}"
        elif "def deconv2d" in cell.source:
            raw["source"] = code["deconv2d"]
        elif any(t.startswith("train-") for t in cell.tags):
            raw["outputs"] = _stream(next(logs, ""))
        elif "jaccard().forward" in cell.source:
            raw["outputs"] = _stream(JACCARD_OUTPUT)
    (folder / "Assignment.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")


def render(author: Author, w: Writer) -> dict[str, str]:
    return {"jaccard": jaccard(author, w), "unet_shallow": unet_shallow(author, w),
            "up_add": up_add(author, w),
            "unet_add": unet_add(author, w), "deconv2d": deconv2d(author, w)}


def _log(seed: int) -> str:
    return "SPLIT\n".join(training_log(seed * 3 + k) for k in range(3))


def build(out: Path, kit: Path, n: int, seed: int) -> dict[tuple[str, str], set[str]]:
    """Write the batch; returns the planted pairs and what each copied ("code", "answers", "outputs")."""
    rng = random.Random(seed)
    kit_nb = json.loads((kit / "Assignment.ipynb").read_text(encoding="utf-8"))
    plan = {"code": max(1, n // 30), "answers": max(1, n // 50), "outputs": max(1, n // 50),
            "all": max(1, n // 100)}
    copiers = sum(plan.values())
    authors = [draw_author(rng) for _ in range(n - copiers)]
    planted: dict[tuple[str, str], set[str]] = {}
    ids = [f"s{i:03d}" for i in range(n)]
    for i, author in enumerate(authors):
        write_submission(out, ids[i], kit, kit_nb, render(author, Writer(rng)), author.answers,
                         _log(author.log_seed))
    i = len(authors)
    for kind, count in plan.items():
        for _ in range(count):
            source = rng.randrange(len(authors))
            original, own = authors[source], draw_author(rng)
            kinds = {"code", "answers", "outputs"} if kind == "all" else {kind}
            base = copy.deepcopy(original) if "code" in kinds else own
            if "code" in kinds:  # a copier changes the numbers, drops a line of the original, adds one
                base.widths = rng.choice(WIDTHS) if rng.random() < 0.5 else base.widths
                task = rng.choice(list(QUIRK_VARS))
                if base.quirks[task] and rng.random() < 0.3:
                    base.quirks[task].pop(rng.randrange(len(base.quirks[task])))
                if rng.random() < 0.3:
                    base.quirks[task].append(quirk(task, rng))
            answers = own.answers
            if "answers" in kinds:
                answers = {q: edit(t, rng) for q, t in original.answers.items()}
            log = _log(original.log_seed if "outputs" in kinds else own.log_seed)
            write_submission(out, ids[i], kit, kit_nb, render(base, Writer(rng, reorder=True)), answers, log)
            planted[ids[source], ids[i]] = kinds
            i += 1
    for (src, a), (src2, b) in combinations(list(planted.items()), 2):  # two who copied the same student
        if src[0] == src2[0] and a & b:
            planted[src[1], src2[1]] = a & b
    return planted


def _each(counts: dict[str, Counts]) -> list[Counts]:
    """The pooled counts and each task's (question's): what the thresholds are applied to."""
    if not counts:
        return []
    smaller = sum(min(c.size_a, c.size_b) for c in counts.values())
    return [Counts(sum(c.shared for c in counts.values()), smaller, smaller), *counts.values()]


def measure(stats: dict[tuple[str, str], PairStats], planted: dict[tuple[str, str], set[str]],
            s: Settings) -> None:
    """What independent pairs reach against the thresholds, and what the planted copies reach."""
    for kind, min_shared, threshold in [("code", s.code_min_shared, s.code_threshold),
                                        ("answers", s.text_min_shared, s.text_threshold)]:
        independent = [c for key, st in stats.items() if kind not in planted.get(key, set())
                       for c in _each(getattr(st, kind))]
        most = max((c.shared for c in independent if c.containment >= threshold), default=0)
        highest = max((c.containment for c in independent if c.shared >= min_shared), default=0.0)
        print(f"  {kind}: independent pairs at containment >= {threshold} share at most {most} "
              f"(threshold {min_shared}); sharing >= {min_shared}, "
              f"their containment is at most {highest:.2f}")
        copies = []
        for key, kinds in planted.items():
            if kind in kinds:
                best = max(_each(getattr(stats.get(key, PairStats()), kind)), default=Counts(0, 0, 0),
                           key=lambda c: (c.passes(min_shared, threshold), c.shared))
                copies.append(f"{best.shared}/{best.containment:.2f}")
        print(f"  {kind}: planted pairs, best of pooled and single (shared/containment): {sorted(copies)}")
    runs = [st.run for key, st in stats.items() if "outputs" not in planted.get(key, set())]
    copied = sorted(stats[key].run if key in stats else 0 for key, k in planted.items() if "outputs" in k)
    print(f"  outputs: longest run in independent pairs {max(runs, default=0)} "
          f"(threshold {s.output_min_run}); "
          f"planted runs {copied}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    args = parser.parse_args()
    if not (args.kit / "Assignment.ipynb").is_file():
        print(f"no student kit at {args.kit} (run `unet-grader assign`, or pass --kit)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="similarity-bench-") as tmp:
        out = Path(tmp) / "reports"
        start = time.perf_counter()
        planted = build(out, args.kit, args.n, args.seed)
        print(f"built {args.n} submissions ({len(planted)} planted copies) "
              f"in {time.perf_counter() - start:.1f} s")
        times, cpu = [], []
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            pairs = analyse(out, kit=args.kit, solution=Path(tmp) / "no-reference")
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"analyse, all {args.n * (args.n - 1) // 2} pairs: "
              f"median {statistics.median(times):.2f} s wall, "
              f"{statistics.median(cpu):.2f} s CPU over {args.runs} runs "
              f"(wall: {', '.join(f'{t:.2f}' for t in times)})")
        listed = {(p.a, p.b): p for p in pairs}
        found = [key for key in planted if key in listed]
        false = [key for key in listed if key not in planted]
        print(f"default settings: {len(found)}/{len(planted)} planted pairs listed, "
              f"{len(false)} other pairs listed")
        for key in planted:
            if key not in listed:
                print(f"  missed {key}: copied {sorted(planted[key])}")
        for key in false:
            print(f"  listed {key}: {listed[key].evidence}")
        print("what every pair shares, before thresholds (what the defaults are chosen from):")
        settings = Settings()
        stats = pair_statistics(load_batch(out, settings.output_min_digits),
                           load_kit(args.kit, [], settings.output_min_digits), settings)
        measure(stats, planted, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
