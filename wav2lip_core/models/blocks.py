"""Convolution units of the original Wav2Lip (models/conv.py), with the same state-dict names.

Every unit keeps its layers in ``conv_block`` (index 0: the convolution, index 1: BatchNorm when present),
so official checkpoints load with strict key matching: ``P.conv_block.0.weight``, ``P.conv_block.1.running_mean``...
"""
from __future__ import annotations

import torch
from torch import nn

IntPair = int | tuple[int, int]


class ConvBnRelu(nn.Module):
    """Conv2d (bias on) -> BatchNorm2d -> optional residual add of the input -> ReLU.

    The residual add comes after BatchNorm and before ReLU, as in the original ``Conv2d`` unit.
    """

    def __init__(self, cin: int, cout: int, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                 residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class ConvTransposeBnRelu(nn.Module):
    """ConvTranspose2d (bias on) -> BatchNorm2d -> ReLU (the original ``Conv2dTranspose`` unit)."""

    def __init__(self, cin: int, cout: int, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                 output_padding: IntPair = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))
