"""bf16 convolutions over tiny feature maps as one matrix product, for CPU training.

oneDNN's bf16 convolution kernels are slow on 2x2 maps (the seed ResNet's last stage: 512 channels, 3x3
kernels): measured on this project's 2-core AMX Xeon, forward + backward of that layer at batch 256 takes
223 ms as a convolution and 88 ms as unfold + one bf16 matrix product (which runs on AMX at ~800 GFLOPS).
At 4x4 maps and above the convolution kernel is as fast or faster, so only maps up to ``MAX_PIXELS`` are
routed. The weights, their names and the saved checkpoints do not change; only how forward is computed.
"""

from __future__ import annotations

import types
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

#: Feature maps with at most this many pixels (H x W) go through the matrix product.
MAX_PIXELS = 4


def _gemm_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    kh, kw = conv.kernel_size
    (sh, sw), (dh, dw) = conv.stride, conv.dilation
    ph, pw = cast(tuple[int, int], conv.padding)  # routed convs have numeric padding (never 'same'/'valid')
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    dtype = torch.get_autocast_dtype("cpu")
    with torch.autocast("cpu", enabled=False):
        cols = F.unfold(x.to(dtype), (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
        out = cols.transpose(1, 2).reshape(-1, c * kh * kw) @ conv.weight.to(dtype).reshape(conv.out_channels, -1).t()
        if conv.bias is not None:
            out = out + conv.bias.to(dtype)
    return out.reshape(b, ho * wo, -1).transpose(1, 2).reshape(b, -1, ho, wo)


def _routed_forward(self: nn.Conv2d, x: torch.Tensor) -> Any:
    if (
        x.device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and x.dim() == 4
        and self.groups == 1
        and self.padding_mode == "zeros"
        and not isinstance(self.padding, str)
        and x.shape[-1] * x.shape[-2] <= MAX_PIXELS
    ):
        return _gemm_conv(self, x)
    return type(self).forward(self, x)


def route_small_convs(model: nn.Module) -> int:
    """Make every ``Conv2d`` of ``model`` compute tiny maps under CPU bf16 autocast as a matrix product;
    return how many convolutions were routed (each decides per call, from its input's size)."""
    n = 0
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.forward = types.MethodType(_routed_forward, module)  # type: ignore[method-assign]
            n += 1
    return n
