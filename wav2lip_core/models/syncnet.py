"""SyncNet_color, the original's lip-sync expert (models/syncnet.py), layer for layer.

Input:  mel (B, 1, 80, 16); face (B, 15, 48, 96) float 0..1 = lower halves of 5 consecutive 96x96 BGR
        crops stacked on channels in time order.
Output: (audio_embedding (B, 512), face_embedding (B, 512)), each L2-normalised; their cosine similarity
        is the in-sync probability.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvBnRelu as CBR


def _residuals(channels: int, count: int) -> list[nn.Module]:
    return [CBR(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


class SyncNetColor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.face_encoder = nn.Sequential(
            CBR(15, 32, 7, 1, 3),
            CBR(32, 64, 5, (1, 2), 1), *_residuals(64, 2),
            CBR(64, 128, 3, 2, 1), *_residuals(128, 3),
            CBR(128, 256, 3, 2, 1), *_residuals(256, 2),
            CBR(256, 512, 3, 2, 1), *_residuals(512, 2),
            CBR(512, 512, 3, 2, 1),
            CBR(512, 512, 3, 1, 0),
            CBR(512, 512, 1, 1, 0),
        )
        self.audio_encoder = nn.Sequential(
            CBR(1, 32, 3, 1, 1), *_residuals(32, 2),
            CBR(32, 64, 3, (3, 1), 1), *_residuals(64, 2),
            CBR(64, 128, 3, 3, 1), *_residuals(128, 2),
            CBR(128, 256, 3, (3, 2), 1), *_residuals(256, 2),
            CBR(256, 512, 3, 1, 0), CBR(512, 512, 1, 1, 0),
        )

    def forward(self, audio_sequences: torch.Tensor, face_sequences: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        face_embedding = self.face_encoder(face_sequences).flatten(1)
        audio_embedding = self.audio_encoder(audio_sequences).flatten(1)
        return F.normalize(audio_embedding, p=2, dim=1), F.normalize(face_embedding, p=2, dim=1)

    @staticmethod
    def sync_probability(audio_embedding: torch.Tensor, face_embedding: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of the two embeddings, in [0, 1] (both are non-negative)."""
        return F.cosine_similarity(audio_embedding, face_embedding, dim=1)
