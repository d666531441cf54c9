"""分割评价指标 Dice 与 Jaccard / The segmentation scores Dice and Jaccard.

两个指标都在 0 到 1 之间,越大越好;分子分母都加上 eps,全零输入时也有定义。
Both lie in [0, 1], higher is better; eps is added above and below so all-zero inputs are defined.
"""

import torch
import torch.nn as nn


class DiceCoeff(nn.Module):
    """一对张量(一张图)的 Dice 系数 / The Dice coefficient of one pair of same-shaped tensors."""

    eps = 0.0001

    def forward(self, input, target):
        inter = torch.dot(input.reshape(-1), target.reshape(-1))
        return (2 * inter + self.eps) / (input.sum() + target.sum() + self.eps)


def dice_coeff(input, target):
    """沿第 0 维(batch)逐张计算 Dice 并取平均 / Dice per item along dimension 0, averaged."""
    dice = DiceCoeff()
    return torch.stack([dice(a, b) for a, b in zip(input, target)]).mean()


class JaccardCoeff(nn.Module):
    """一对张量的 Jaccard 值(交并比) / The Jaccard index (intersection over union) of one pair."""

    eps = 0.0001

    def forward(self, input, target):
        # TODO (Q3): 仿照 DiceCoeff.forward:交集 inter 是两者展平后的点积,
        #   并集是 sum(input) + sum(target) - inter;分子分母都加上 self.eps。
        #   Modelled on DiceCoeff.forward: the intersection is the dot product of the flattened
        #   tensors, the union sum(input) + sum(target) - inter; add self.eps above and below.
        raise NotImplementedError('Q3: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')
