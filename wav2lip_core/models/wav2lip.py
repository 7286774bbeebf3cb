"""The Wav2Lip generator (models/wav2lip.py of the original), layer for layer.

Input:  mel (B, 1, 80, 16) float, rows = mel bins low->high, columns = time (mel frames of 12.5 ms);
        face (B, 6, 96, 96) float 0..1, channels 0-2 = target face B,G,R with rows 48..95 zeroed,
        channels 3-5 = reference face B,G,R.
Output: (B, 3, 96, 96) float in (0, 1), channel order B,G,R.

Half precision (``set_precision``): float16 / bfloat16 apply to the decoder and the output block (most of
the 7.93 GFLOP per frame); the audio and face encoders stay float32, because a rounding error made early is
amplified by every layer after it (bench/README.md, "Half precision", has the deviations measured).
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBnRelu as CBR
from .blocks import ConvTransposeBnRelu as TBR

FACE_SIZE = 96
MEL_STEPS = 16
MEL_BINS = 80
# Activation memory of one sample in float32: the encoder's skip features (~1.1 MiB) plus the few largest decoder
# maps alive at once (2.25 MiB each) come to ~9 MiB; 12 MiB leaves a margin. (All layer outputs together are
# 51 MiB, but most are freed as soon as the next layer has run.)
WORKING_BYTES_PER_SAMPLE_FP32 = 12 * 2**20


def working_memory_bytes(batch_size: int, dtype: torch.dtype) -> int:
    """Device memory the generator's activations need for ``batch_size`` samples in ``dtype`` (for a model
    manager that must make room first)."""
    return WORKING_BYTES_PER_SAMPLE_FP32 * torch.finfo(dtype).bits // 32 * max(1, int(batch_size))


def _residuals(channels: int, count: int) -> list[nn.Module]:
    return [CBR(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


class Wav2Lip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(CBR(6, 16, 7, 1, 3)),                                # 96x96
            nn.Sequential(CBR(16, 32, 3, 2, 1), *_residuals(32, 2)),           # 48x48
            nn.Sequential(CBR(32, 64, 3, 2, 1), *_residuals(64, 3)),           # 24x24
            nn.Sequential(CBR(64, 128, 3, 2, 1), *_residuals(128, 2)),         # 12x12
            nn.Sequential(CBR(128, 256, 3, 2, 1), *_residuals(256, 2)),        # 6x6
            nn.Sequential(CBR(256, 512, 3, 2, 1), *_residuals(512, 1)),        # 3x3
            nn.Sequential(CBR(512, 512, 3, 1, 0), CBR(512, 512, 1, 1, 0)),    # 1x1
        ])
        self.audio_encoder = nn.Sequential(
            CBR(1, 32, 3, 1, 1), *_residuals(32, 2),
            CBR(32, 64, 3, (3, 1), 1), *_residuals(64, 2),
            CBR(64, 128, 3, 3, 1), *_residuals(128, 2),
            CBR(128, 256, 3, (3, 2), 1), *_residuals(256, 1),
            CBR(256, 512, 3, 1, 0), CBR(512, 512, 1, 1, 0),
        )
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(CBR(512, 512, 1, 1, 0)),                                          # 1x1
            nn.Sequential(TBR(1024, 512, 3, 1, 0), *_residuals(512, 1)),                    # 3x3
            nn.Sequential(TBR(1024, 512, 3, 2, 1, 1), *_residuals(512, 2)),                 # 6x6
            nn.Sequential(TBR(768, 384, 3, 2, 1, 1), *_residuals(384, 2)),                  # 12x12
            nn.Sequential(TBR(512, 256, 3, 2, 1, 1), *_residuals(256, 2)),                  # 24x24
            nn.Sequential(TBR(320, 128, 3, 2, 1, 1), *_residuals(128, 2)),                  # 48x48
            nn.Sequential(TBR(160, 64, 3, 2, 1, 1), *_residuals(64, 2)),                    # 96x96
        ])
        self.output_block = nn.Sequential(CBR(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def set_precision(self, dtype: torch.dtype) -> "Wav2Lip":
        """Run the decoder and output block in ``dtype``; the encoders stay float32 for a half ``dtype`` (see the
        module docstring). float32 / float64: the whole network. Returns self."""
        if dtype in (torch.float16, torch.bfloat16):
            self.audio_encoder.to(torch.float32)
            self.face_encoder_blocks.to(torch.float32)
            self.face_decoder_blocks.to(dtype)
            self.output_block.to(dtype)
        else:
            self.to(dtype)
        return self

    @property
    def decoder_dtype(self) -> torch.dtype:
        """The precision the network computes most of its work (and returns its output) in."""
        return next(self.face_decoder_blocks.parameters()).dtype

    def forward(self, audio_sequences: torch.Tensor, face_sequences: torch.Tensor, first_row: int = 0) -> torch.Tensor:
        """mel (B,1,80,16) + faces (B,6,96,96) BGR 0..1 -> faces (B,3,96 - first_row,96) BGR 0..1 in
        ``decoder_dtype``: output rows ``first_row`` to 95 (all of them by default).

        The decoder computes only as many of its rows as those output rows depend on (``decoder_row_starts``), so
        a caller that reads only the lower face pays for the lower face; the rows returned are the full pass's.
        Inputs may be of any float dtype (they are cast to the encoders'). 5-D training inputs (B,T,1,80,16)
        and (B,6,T,96,96) are folded t-major like the original.
        """
        batch = audio_sequences.size(0)
        five_d = face_sequences.dim() > 4
        if five_d:
            audio_sequences = torch.cat([audio_sequences[:, i] for i in range(audio_sequences.size(1))], dim=0)
            face_sequences = torch.cat([face_sequences[:, :, i] for i in range(face_sequences.size(2))], dim=0)

        encoder_dtype = next(self.face_encoder_blocks.parameters()).dtype
        decoder_dtype = self.decoder_dtype
        x = self.audio_encoder(audio_sequences.to(encoder_dtype))
        skips = []
        features = face_sequences.to(encoder_dtype)
        for block in self.face_encoder_blocks:
            features = block(features)
            skips.append(features)
        x = x.to(decoder_dtype)                                   # no-ops when the whole network is one dtype
        starts = self.decoder_row_starts(first_row)
        x_start = 0                                               # x holds its level's rows from x_start on
        for block, start in zip(self.face_decoder_blocks, starts[1:]):
            y, y_start = block(x), _output_row(block, x_start)
            x = torch.cat((y[:, :, start - y_start:], skips.pop()[:, :, start:].to(decoder_dtype)), dim=1)
            x_start = start
        out = self.output_block(x)[:, :, first_row - x_start:]

        if five_d:
            out = torch.stack(torch.split(out, batch, dim=0), dim=2)
        return out

    def decoder_row_starts(self, first_row: int) -> tuple[int, ...]:
        """For output rows ``first_row`` to 95: the first row each decoder block's input needs (its own level's
        rows; the 1x1 bottleneck first), then the output block's. Rows above these are left out."""
        if not 0 <= first_row < FACE_SIZE:
            raise ValueError(f"first_row must lie in 0..{FACE_SIZE - 1}, not {first_row}")
        starts = [_input_row(self.output_block, first_row)]
        for block in reversed(self.face_decoder_blocks):
            starts.append(_input_row(block, starts[-1]))
        return tuple(reversed(starts))


def _layers(block: nn.Sequential) -> list[nn.Conv2d | nn.ConvTranspose2d]:
    """The convolutions of a decoder or output block, in order."""
    return [layer for unit in block for layer in ([unit.conv_block[0]] if hasattr(unit, "conv_block") else [unit])
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))]


def _input_row(block: nn.Sequential, output_row: int) -> int:
    """The first input row ``block`` must see for its output rows from ``output_row`` on to be exactly the full
    pass's. A stride-1 convolution of an input cut at row i pads zeros above it, so its rows up to i + padding - 1
    differ from the full pass's; a transposed one's output starts at i * stride and row o is exact where every
    input row that reaches it is there: o >= (i - 1) * stride + kernel - padding. Row 0 is the true border."""
    row = output_row
    for layer in reversed(_layers(block)):
        kernel, stride, padding = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        if isinstance(layer, nn.ConvTranspose2d):
            row = (row - kernel + padding) // stride + 1
        elif stride == 1:
            row -= padding
        else:
            raise ValueError(f"no row plan through a strided convolution ({layer})")
        row = max(row, 0)
    return row


def _output_row(block: nn.Sequential, input_row: int) -> int:
    """The row of its level that ``block``'s output starts at, for an input starting at ``input_row``."""
    for layer in _layers(block):
        if isinstance(layer, nn.ConvTranspose2d):
            input_row *= layer.stride[0]
    return input_row
