"""CAM++ speaker-embedding network (Wang et al., 2023, arXiv:2303.00332).

Written from the paper's description and the parameter names of the
``campplus_cn_en_common.pt`` state dict: a 2-D convolutional front end over
80-bin log-mel frames, a strided TDNN, three densely connected TDNN blocks
whose layers apply context-aware masking (a gate computed from the utterance
mean plus 100-frame segment means), transition layers, statistics pooling and
a 192-dimensional embedding layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SEGMENT_FRAMES = 100


class BatchNormReLU(nn.Module):
    """Batch normalisation followed by ReLU (state-dict name ``batchnorm``)."""

    def __init__(self, channels: int, relu: bool = True, affine: bool = True):
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.batchnorm(x)
        return F.relu(x) if self.relu else x


class ResidualBlock2d(nn.Module):
    """Two 3x3 convolutions with a shortcut; strides only along frequency."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class FrontEnd(nn.Module):
    """2-D convolutional head: (B, 80, T) -> (B, 32 * 10, T)."""

    def __init__(self, feature_bins: int = 80, channels: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(ResidualBlock2d(channels, 2), ResidualBlock2d(channels, 1))
        self.layer2 = nn.Sequential(ResidualBlock2d(channels, 2), ResidualBlock2d(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feature_bins // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        x = self.layer2(self.layer1(x))
        x = F.relu(self.bn2(self.conv2(x)))
        batch, channels, bins, frames = x.shape
        return x.reshape(batch, channels * bins, frames)


class StridedTDNN(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int):
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False
        )
        self.nonlinear = BatchNormReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class ContextAwareMasking(nn.Module):
    """A local TDNN whose output is gated by utterance- and segment-level context."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int, reduction: int = 2):
        super().__init__()
        self.linear_local = nn.Conv1d(
            in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(in_channels, in_channels // reduction, 1)
        self.linear2 = nn.Conv1d(in_channels // reduction, out_channels, 1)

    @staticmethod
    def segment_means(x: torch.Tensor) -> torch.Tensor:
        """Mean over each 100-frame segment, repeated back to frame resolution."""
        frames = x.shape[-1]
        means = F.avg_pool1d(x, SEGMENT_FRAMES, SEGMENT_FRAMES, ceil_mode=True)
        return means.repeat_interleave(SEGMENT_FRAMES, dim=-1)[..., :frames]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.linear_local(x)
        context = x.mean(dim=-1, keepdim=True) + self.segment_means(x)
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return local * gate


class DenseTDNNLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int, bottleneck: int, dilation: int):
        super().__init__()
        self.nonlinear1 = BatchNormReLU(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.nonlinear2 = BatchNormReLU(bottleneck)
        self.cam_layer = ContextAwareMasking(bottleneck, growth, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseTDNNBlock(nn.Module):
    """Each layer's output is concatenated to its input (DenseNet style)."""

    def __init__(self, layers: int, in_channels: int, growth: int, bottleneck: int, dilation: int):
        super().__init__()
        for index in range(layers):
            layer = DenseTDNNLayer(in_channels + index * growth, growth, bottleneck, dilation)
            self.add_module(f"tdnnd{index + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitionLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = BatchNormReLU(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class EmbeddingLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = BatchNormReLU(out_channels, relu=False, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1))).squeeze(-1)


class FrameLevel(nn.Module):
    """Everything before pooling; module names follow the checkpoint's ``xvector.*``."""

    def __init__(self, in_channels: int, embedding_size: int):
        super().__init__()
        growth, bottleneck = 32, 128
        self.tdnn = StridedTDNN(in_channels, 128, kernel=5, stride=2)
        channels = 128
        for index, (layers, dilation) in enumerate(((12, 1), (24, 2), (16, 2)), start=1):
            block = DenseTDNNBlock(layers, channels, growth, bottleneck, dilation)
            channels += layers * growth
            self.add_module(f"block{index}", block)
            self.add_module(f"transit{index}", TransitionLayer(channels, channels // 2))
            channels //= 2
        self.out_nonlinear = BatchNormReLU(channels)
        self.dense = EmbeddingLayer(channels * 2, embedding_size)
        self.channels = channels

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tdnn(x)
        for index in (1, 2, 3):
            x = getattr(self, f"transit{index}")(getattr(self, f"block{index}")(x))
        return self.out_nonlinear(x)


def weighted_statistics(frames: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean and standard deviation over time, each frame weighted (B, C, T) -> (B, 2C)."""
    if weights is None:
        return torch.cat([frames.mean(dim=-1), frames.std(dim=-1)], dim=-1)
    weights = weights.unsqueeze(1)
    total = weights.sum(dim=-1).clamp_min(1e-8)
    mean = (frames * weights).sum(dim=-1) / total
    variance = ((frames - mean.unsqueeze(-1)) ** 2 * weights).sum(dim=-1) / total
    return torch.cat([mean, variance.clamp_min(1e-8).sqrt()], dim=-1)


class CAMPlusPlus(nn.Module):
    """CAM++ for (batch, frames, 80) mean-normalised log-mel input -> (batch, 192)."""

    def __init__(self, feature_bins: int = 80, embedding_size: int = 192):
        super().__init__()
        self.head = FrontEnd(feature_bins)
        self.xvector = FrameLevel(self.head.out_channels, embedding_size)
        self.embedding_size = embedding_size

    def frame_features(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, 80) -> (B, 512, ceil(T / 2)) frame-level representations."""
        return self.xvector.frames(self.head(features.transpose(1, 2)))

    def pool(self, frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted statistics pooling and the embedding layer."""
        return self.xvector.dense(weighted_statistics(frames, weights))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.pool(self.frame_features(features))
