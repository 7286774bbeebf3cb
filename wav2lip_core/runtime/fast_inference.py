"""Inference-only speed-ups for the Wav2Lip generator (and SyncNet), applied once after loading.

``prepare_for_inference(model, device, dtype)`` is the one entry point: it folds every BatchNorm into the
convolution before it (Conv2d and ConvTranspose2d; the residual add and the ReLU stay as they are), in
float64, then casts the model to ``dtype`` on ``device``. Folding removes one full pass over every activation
per layer (50 BatchNorms in the generator) and changes results only by float rounding (about 1e-6
relative in float32). It does not change the model's inputs or outputs: mel (B, 1, 80, 16) and faces
(B, 6, 96, 96) BGR 0..1 NCHW in, faces (B, 3, 96, 96) BGR 0..1 out.

On CPU and CUDA the weights are then stored channels_last (NHWC): oneDNN (and cuDNN) then run every
convolution and the skip concatenations in NHWC without reordering the activations per layer; callers may keep
passing NCHW-contiguous inputs (the first convolution converts them once). Outputs come back channels_last;
``.contiguous()`` or ``.numpy()`` on a permuted view handles that.

On the CPU in float32, each folded unit then runs as one oneDNN call (``fuse_units``): the convolution with the
residual add and the ReLU applied as it writes its output, instead of two more passes over the activation,
and with its weight packed into oneDNN's layout once instead of on every call (the same arithmetic; the
outputs are the same bits where checked).

Folding, channels-last and fusing each remove work; batches of 8 are fastest on the CPU (activations stay in cache,
see ``preferred_generator_batch``). Half precision is opt-in on the CPU (``auto`` stays float32 there):
bfloat16 with float32 encoders is faster on CPUs with native bfloat16, float16 convolutions on the CPU are
much slower. The figures are in bench/README.md ("Generator").

A folded model is for inference only: its state dict no longer has the BatchNorm entries, so save or
convert checkpoints from the unfolded model.
"""
from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import nn

from ..models.blocks import ConvBnRelu, ConvTransposeBnRelu

ConvLayer = nn.Conv2d | nn.ConvTranspose2d
CHANNELS_LAST_DEVICES = ("cpu", "cuda")
# Frames per generator call on CPU: the activations of 8 frames stay in cache (per-frame cost by batch size in
# bench/README.md).
CPU_GENERATOR_BATCH = 8


def _as_cpu_float64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(device="cpu", dtype=torch.float64)


def _folded_weight_and_bias(conv: ConvLayer, norm: nn.BatchNorm2d,
                            memory_format: torch.memory_format = torch.contiguous_format
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one convolution equal to ``norm(conv(x))`` in eval mode, computed in float64 on the
    CPU (some devices, e.g. MPS, have no float64) and rounded once to the convolution's dtype; the weight is
    laid out in ``memory_format``.

    Conv2d weights are (out, in, kh, kw); ConvTranspose2d weights are (in, out, kh, kw): the per-output-channel
    scale goes on dimension 0 or 1 accordingly.
    """
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics (track_running_stats=False)")
    out_channels = conv.weight.shape[1] if isinstance(conv, nn.ConvTranspose2d) else conv.weight.shape[0]
    bias = _as_cpu_float64(conv.bias) if conv.bias is not None else torch.zeros(out_channels, dtype=torch.float64)
    gamma = _as_cpu_float64(norm.weight) if norm.weight is not None else torch.ones_like(bias)
    beta = _as_cpu_float64(norm.bias) if norm.bias is not None else torch.zeros_like(bias)
    scale = gamma / torch.sqrt(_as_cpu_float64(norm.running_var) + norm.eps)
    shape = [1] * conv.weight.dim()
    shape[1 if isinstance(conv, nn.ConvTranspose2d) else 0] = -1
    folded_bias = (bias - _as_cpu_float64(norm.running_mean)) * scale + beta
    place = {"device": conv.weight.device, "dtype": conv.weight.dtype}
    if conv.weight.device.type == "cpu" and conv.weight.dtype == torch.float32:
        # The same float64 product rounded once to float32, computed in chunks by numpy without a float64
        # copy of the whole weight (a fifth of the memory traffic: loading is faster).
        folded_weight = torch.empty_like(conv.weight, memory_format=memory_format)
        np.multiply(conv.weight.detach().contiguous().numpy(), scale.reshape(shape).numpy(),
                    out=folded_weight.numpy(), dtype=np.float64, casting="same_kind")
    else:
        folded_weight = (_as_cpu_float64(conv.weight) * scale.reshape(shape)).to(**place, memory_format=memory_format)
    return folded_weight, folded_bias.to(**place)


def fold_conv_and_norm(conv: ConvLayer, norm: nn.BatchNorm2d,
                       memory_format: torch.memory_format = torch.contiguous_format) -> ConvLayer:
    """A new convolution (same type, shapes, stride, padding, device, dtype) computing ``norm(conv(x))``, its
    weight laid out in ``memory_format``."""
    weight, bias = _folded_weight_and_bias(conv, norm, memory_format)
    if isinstance(conv, nn.ConvTranspose2d):
        folded: ConvLayer = nn.ConvTranspose2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.output_padding,
            conv.groups, bias=True, dilation=conv.dilation, padding_mode=conv.padding_mode,
            device="meta")
    else:
        folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                           conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode, device="meta")
    folded.weight = nn.Parameter(weight, requires_grad=False)
    folded.bias = nn.Parameter(bias, requires_grad=False)
    return folded


def fold_batchnorm(model: nn.Module, memory_format: torch.memory_format = torch.contiguous_format) -> nn.Module:
    """Fold every (Conv2d | ConvTranspose2d, BatchNorm2d) pair that sits consecutively in an ``nn.Sequential``
    into one convolution (weights laid out in ``memory_format``), in place; returns ``model``.

    This covers every unit of Wav2Lip and SyncNet (``conv_block = Sequential(conv, BatchNorm2d)``); the folded
    unit's ``conv_block`` becomes ``Sequential(conv, Identity)`` so indices and the forward code stay the same.
    Uses the running statistics (eval-mode BatchNorm); the model is put in eval mode.
    """
    model.eval()
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for index in range(len(sequential) - 1):
            conv, norm = sequential[index], sequential[index + 1]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and type(norm) is nn.BatchNorm2d:
                sequential[index] = fold_conv_and_norm(conv, norm, memory_format)
                sequential[index + 1] = nn.Identity()
    return model


def _fused_cpu_call_applies(x: torch.Tensor, conv: ConvLayer) -> bool:
    """oneDNN's fused convolutions: CPU float32 inference only (no autograd through them)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and conv.weight.dtype == torch.float32
            and not torch.is_grad_enabled())


# Convolution weights in oneDNN's own blocked layout, made on first use: otherwise every call reorders every
# weight again, which at small batches costs more than the convolutions. Kept beside the module, by the
# parameter's identity (an entry goes with its parameter; a moved or reloaded weight is packed again), so
# modules, state dicts and copies hold plain tensors only.
_packed_weights: dict[int, tuple[tuple[int, int], torch.Tensor]] = {}


def _weight_stamp(weight: torch.Tensor) -> tuple[int, int]:
    """Where the weight's values are and how often they were changed in place. Weights made under
    torch.inference_mode() (ComfyUI runs its nodes so) have no version counter: only their storage is watched."""
    return weight.data_ptr(), (-1 if weight.is_inference() else weight._version)


def _pack_weight(conv: ConvLayer, input_shape: torch.Size) -> torch.Tensor:
    """``conv``'s weight reordered into oneDNN's blocked layout for inputs shaped like ``input_shape`` (it serves
    other batch sizes too)."""
    weight = conv.weight.detach().contiguous()
    if isinstance(conv, nn.ConvTranspose2d):
        return torch.ops.mkldnn._reorder_convolution_transpose_weight(
            weight, list(conv.padding), list(conv.output_padding), list(conv.stride), list(conv.dilation),
            conv.groups, list(input_shape))
    return torch._C._nn.mkldnn_reorder_conv2d_weight(
        weight.to_mkldnn(), list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
        list(input_shape))


def _packed_weight(conv: ConvLayer, input_shape: torch.Size) -> torch.Tensor:
    """``conv``'s weight in oneDNN's layout, packed on first use and again only when the weight was replaced or
    changed in place."""
    weight = conv.weight
    stamp = _weight_stamp(weight)
    cached = _packed_weights.get(id(weight))
    if cached is None or cached[0] != stamp:
        if cached is None:
            weakref.finalize(weight, _packed_weights.pop, id(weight), None)
        cached = _packed_weights[id(weight)] = (stamp, _pack_weight(conv, input_shape))
    return cached[1]


class FusedConvBnRelu(ConvBnRelu):
    """A ConvBnRelu whose BatchNorm is folded: on the CPU in float32 one oneDNN call computes
    relu(conv(x) [+ x]) with the weight packed once; elsewhere (another device or dtype, autograd) the unit's
    own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv_block[0]
        if not _fused_cpu_call_applies(x, conv):
            return super().forward(x)
        weight = _packed_weight(conv, x.shape)
        geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        if self.residual:
            return torch.ops.mkldnn._convolution_pointwise(x, x, weight, conv.bias, *geometry, "add", 1.0,
                                                          "relu", [], "")
        return torch.ops.mkldnn._convolution_pointwise(x, weight, conv.bias, *geometry, "relu", [], "")


class FusedConvTransposeBnRelu(ConvTransposeBnRelu):
    """A ConvTransposeBnRelu whose BatchNorm is folded: relu(conv_transpose(x)) in one oneDNN call on the CPU in
    float32, with the weight packed once; elsewhere the unit's own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv_block[0]
        if not _fused_cpu_call_applies(x, conv):
            return super().forward(x)
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x, _packed_weight(conv, x.shape), conv.bias, list(conv.padding), list(conv.output_padding),
            list(conv.stride), list(conv.dilation), conv.groups, "relu", [], "")


_FUSED_UNITS = {ConvBnRelu: FusedConvBnRelu, ConvTransposeBnRelu: FusedConvTransposeBnRelu}


def fused_calls_available() -> bool:
    """Whether this torch build has oneDNN's fused convolutions (x86 and most ARM builds do)."""
    if not torch.backends.mkldnn.is_available():
        return False
    return all(hasattr(torch.ops.mkldnn, name)
               for name in ("_convolution_pointwise", "_convolution_transpose_pointwise",
                            "_reorder_convolution_transpose_weight"))


def fuse_units(model: nn.Module) -> nn.Module:
    """Give every folded unit (BatchNorm replaced by Identity) the fused forward, in place; returns ``model``.

    Only the class of each unit changes: parameters, state-dict names and the behaviour off the CPU stay.
    Nothing changes where the torch build lacks the fused calls.
    """
    if not fused_calls_available():
        return model
    for unit in model.modules():
        fused = _FUSED_UNITS.get(type(unit))
        if fused is not None and isinstance(unit.conv_block[1], nn.Identity):
            unit.__class__ = fused
    return model


def preferred_generator_batch(device: str | torch.device) -> int | None:
    """The largest number of frames worth passing to the generator in one call on ``device``, or None for no
    limit (GPUs: the bigger the batch the better, up to memory). The engine caps its sub-batches with it;
    the user's batch size (--wav2lip_batch_size) still bounds memory and the output stream."""
    return CPU_GENERATOR_BATCH if torch.device(device).type == "cpu" else None


def prepare_for_inference(model: nn.Module, device: str | torch.device | None = None,
                          dtype: torch.dtype | None = None) -> nn.Module:
    """Make a loaded generator (or SyncNet) fast for inference, in place; returns the model.

    Folds BatchNorm into the convolutions in float64 from the weights as loaded (load in float32 and pass the
    half dtype here, so fp16/bf16 see one rounding of the folded weights), then moves to ``device`` and
    ``dtype`` (None keeps the current one; the generator takes a half dtype in its decoder only, see
    ``Wav2Lip.set_precision``), stores weights channels_last on CPU/CUDA, fuses each unit's convolution,
    residual add and ReLU for the CPU (``fuse_units``), eval mode, no gradients.
    Call it once after ``checkpoint.load_wav2lip``.
    """
    target = torch.device(device) if device is not None else next(model.parameters()).device
    # Folded weights are written channels_last straight away where they will be stored so (no second copy).
    layout = torch.channels_last if target.type in CHANNELS_LAST_DEVICES else torch.contiguous_format
    fuse_units(fold_batchnorm(model, layout))
    if device is not None:
        model.to(device=device)
    if dtype is not None:
        if hasattr(model, "set_precision"):
            model.set_precision(dtype)        # Wav2Lip: half precision in the decoder only
        else:
            model.to(dtype=dtype)
    if next(model.parameters()).device.type in CHANNELS_LAST_DEVICES:
        model.to(memory_format=torch.channels_last)
    return model.eval().requires_grad_(False)
