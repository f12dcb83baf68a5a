"""Projector / predictor MLPs declared as a list of blocks, shared by the methods (as lightly's heads).

A block is ``(in_dim, out_dim, bias, norm, activation)`` and becomes ``Linear → [norm] → [activation]``. The head
is one *flat* ``nn.Sequential`` with the layers in that order, never nested per block: its state_dict keys
(``projector.0.weight``, ``projector.1.running_mean``, ...) and the order in which layers draw their initial
weights from the torch RNG are then exactly those of the hand-written Sequentials the methods had before, so
checkpoints saved earlier still load and a seed gives the same weights.

>>> projector = mlp_head([(512, 2048, True, "batchnorm", "relu"),
...                       (2048, 128, True, None, None)])
>>> z = projector(features)          # [B, 128]
"""

from __future__ import annotations

import operator
from typing import NamedTuple, Sequence

from torch import nn

NORMS = (None, "batchnorm", "batchnorm_no_affine")
ACTIVATIONS = (None, "relu", "gelu")


class Block(NamedTuple):
    """One Linear layer of a head and what follows it (a plain 5-tuple in this order works too)."""

    in_dim: int
    out_dim: int
    bias: bool = True
    norm: str | None = None
    activation: str | None = None


def _positive_int(value, what: str) -> int:
    # operator.index accepts Python and NumPy integers but not floats or strings; bools are refused by hand
    # because True would silently mean a width of 1.
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be a positive integer (a layer width), got {value!r}") from None
    if value < 1:
        raise ValueError(f"{what} must be a positive integer (a layer width), got {value}")
    return value


def _check_block(index: int, spec) -> Block:
    if not isinstance(spec, (tuple, list)) or len(spec) != len(Block._fields):
        raise ValueError(
            f"head block {index} must be a tuple (in_dim, out_dim, bias, norm, activation), e.g. "
            f"(512, 2048, True, 'batchnorm', 'relu'); got {spec!r}"
        )
    block = Block(*spec)
    in_dim = _positive_int(block.in_dim, f"head block {index}: in_dim")
    out_dim = _positive_int(block.out_dim, f"head block {index}: out_dim")
    if not isinstance(block.bias, bool):
        raise ValueError(f"head block {index}: bias must be True or False, got {block.bias!r}")
    if block.norm not in NORMS:
        raise ValueError(f"head block {index}: norm must be one of {NORMS}, got {block.norm!r}")
    if block.activation not in ACTIVATIONS:
        raise ValueError(f"head block {index}: activation must be one of {ACTIVATIONS}, got {block.activation!r}")
    return Block(in_dim, out_dim, block.bias, block.norm, block.activation)


def mlp_head(blocks: Sequence) -> nn.Sequential:
    """A flat ``nn.Sequential`` of ``Linear(in, out, bias)``, then the block's norm, then its activation, per block.

    Args:
        blocks: ``(in_dim, out_dim, bias, norm, activation)`` per Linear layer, in order; ``norm`` is None,
            "batchnorm" or "batchnorm_no_affine" (BatchNorm1d without learned scale and shift), ``activation``
            None, "relu" or "gelu". Each block's ``in_dim`` must equal the previous block's ``out_dim``.

    Raises:
        ValueError: on an empty list, a malformed block, or blocks that do not chain.
    """
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or not blocks:
        raise ValueError(
            "blocks must be a non-empty list of (in_dim, out_dim, bias, norm, activation) tuples, got "
            f"{blocks!r}"
        )
    checked = [_check_block(i, spec) for i, spec in enumerate(blocks)]
    for i in range(1, len(checked)):
        if checked[i].in_dim != checked[i - 1].out_dim:
            raise ValueError(
                f"head block {i}: in_dim {checked[i].in_dim} must equal block {i - 1}'s out_dim "
                f"{checked[i - 1].out_dim} (each block takes the previous block's output)"
            )
    layers: list[nn.Module] = []
    for block in checked:
        # Created in forward order: only the Linear layers draw from the torch RNG, so this order is what
        # keeps a seed's initial weights equal to those of the Sequentials the methods wrote by hand.
        layers.append(nn.Linear(block.in_dim, block.out_dim, bias=block.bias))
        if block.norm is not None:
            layers.append(nn.BatchNorm1d(block.out_dim, affine=block.norm == "batchnorm"))
        if block.activation == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif block.activation == "gelu":
            layers.append(nn.GELU())
    return nn.Sequential(*layers)
