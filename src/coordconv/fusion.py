"""``fuse_conv_bn()``: fold an eval-mode BatchNorm into the convolution before it.

A CoordConv keeps its coordinate filters inside ``weight``, so torch's own
``torch.nn.utils.fusion.fuse_conv_bn_eval`` and the assignment-style fusers of detection toolkits
give the right layer too; this one also handles grouped transposed convs (whose coordinate
filters are a parameter of their own) and ``groups > 1`` transposed plain convs, which torch's
does not.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from coordconv.checks import _check_plain_weight
from coordconv.layers import _CoordConvBase

__all__ = ["fuse_conv_bn"]

ConvT = TypeVar("ConvT", bound=_ConvNd)


def fuse_conv_bn(conv: ConvT, bn: _BatchNorm) -> ConvT:
    """A new conv computing ``bn(conv(x))`` with BatchNorm's running statistics.

    Works for CoordConv layers (the coordinate filters are rescaled with the rest) and for plain
    ``torch.nn`` convs, transposed ones and ``groups > 1`` included. The result keeps ``conv``'s
    training flag; the inputs are not modified.

    Args:
        conv: a CoordConv or ``torch.nn`` convolution with ``C_out`` output channels.
        bn: a BatchNorm with ``C_out`` features, in eval mode, with running statistics.

    Example:
        >>> from coordconv import CoordConv2d
        >>> conv, bn = CoordConv2d(3, 4, 3), nn.BatchNorm2d(4).eval()
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.allclose(fuse_conv_bn(conv, bn)(x), bn(conv(x)), atol=1e-6)
        True
    """
    name = type(conv).__name__
    if not isinstance(conv, _ConvNd):
        raise TypeError(f"fuse_conv_bn: expected a convolution, got {name}")
    _check_plain_weight("fuse_conv_bn", conv, "fuse, then apply it again if it is still wanted")
    if bn.training or bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            "fuse_conv_bn: the BatchNorm must be in eval mode with running statistics "
            "(track_running_stats=True); call bn.eval() first"
        )
    if bn.num_features != conv.out_channels:
        raise ValueError(
            f"fuse_conv_bn: {name} has {conv.out_channels} output channels but the BatchNorm "
            f"has {bn.num_features} features"
        )
    rank = len(conv.kernel_size)
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        fused = copy.deepcopy(conv)
        ones = [1] * rank
        if conv.transposed:  # weight (C_in (+ d), C_out / groups, *k): out channels per group
            g = conv.groups
            grouped = fused.weight.view(g, -1, conv.out_channels // g, *conv.kernel_size)
            grouped.mul_(scale.view(g, 1, -1, *ones).to(grouped))
        else:
            fused.weight.mul_(scale.view(-1, 1, *ones).to(fused.weight))
        if isinstance(fused, _CoordConvBase) and fused._separate_coords:
            out_dim = 1 if conv.transposed else 0
            shape = [1, 1, *ones]
            shape[out_dim] = -1
            fused.coord_weight.mul_(scale.view(shape).to(fused.coord_weight))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        fused.bias = nn.Parameter(bias.to(fused.weight), requires_grad=fused.weight.requires_grad)
    return fused
