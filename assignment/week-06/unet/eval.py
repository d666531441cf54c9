"""在新生成的图片上评估网络 / Score a network on freshly generated images."""

import numpy as np
import torch

from .dice_loss import dice_coeff


def eval_net(net, generator, gpu=False, num_validation=50):
    """num_validation 张新图上的平均 Dice(两个通道都算) / Mean Dice over fresh images, both channels.

    预测为 sigmoid(logits) > 0.5;评估结束后网络回到原来的 train/eval 模式。
    Predictions are sigmoid(logits) > 0.5; the net returns to its former train/eval mode afterwards.
    """
    device = torch.device("cuda" if gpu else "cpu")
    was_training = net.training
    net.eval()
    total = 0.0
    try:
        with torch.inference_mode():
            for _ in range(num_validation):
                image, mask = generator(1)
                # 生成器给出 B x H x W x C,PyTorch 需要 B x C x H x W
                # the generator yields B x H x W x C; PyTorch wants B x C x H x W
                x = torch.from_numpy(np.transpose(image, (0, 3, 1, 2)).astype(np.float32)).to(device)
                y = torch.from_numpy(np.transpose(mask, (0, 3, 1, 2)).astype(np.float32)).to(device)
                pred = (torch.sigmoid(net(x)) > 0.5).float()
                total += dice_coeff(pred, y).item()
    finally:
        net.train(was_training)
    return total / num_validation
