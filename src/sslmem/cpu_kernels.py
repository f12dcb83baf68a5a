"""Which CPU kernels torch may use (params.yaml `training.cpu_kernels`): the fastest this CPU has, or the same
ones on every x86 machine.

Why: with `native` kernels, ATen, oneDNN and MKL each pick code paths by the CPU's instruction set (AVX-512 on
one machine, AVX2 on another) and the sums they compute round differently, so two machines train encoders that
differ from the first step at the 1e-7 level and drift apart. Capping all three libraries at one instruction set
makes them run the same code paths, hence the same floating-point operations in the same order, on any CPU that
has it (threads fixed by training.num_threads; GPU runs are unaffected):

- ``avx2``: ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2, MKL_CBWR=AVX2 (MKL's conditional numerical
  reproducibility) — any x86 CPU of the last decade;
- ``compatible``: ATen's default (no vector dispatch), oneDNN's SSE4.1, MKL_CBWR=COMPATIBLE — any x86-64 CPU.

The variables are read once, when the libraries load; so the CLI, before it imports torch, restarts itself with
them (:func:`restart_with_kernels`). Imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

CPU_KERNELS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "compatible": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"},
}


def kernel_environment(mode: str) -> dict[str, str]:
    """The environment variables that pin the kernels of `mode` ({} for native: the libraries choose)."""
    if mode not in CPU_KERNELS:
        raise ValueError(f"training.cpu_kernels: {mode!r}; use one of {sorted(CPU_KERNELS)}")
    return dict(CPU_KERNELS[mode])


def missing_variables(mode: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `mode` that `environ` does not already hold with their value."""
    return {key: value for key, value in kernel_environment(mode).items() if environ.get(key) != value}


def restart_with_kernels(mode: str, argv: Sequence[str]) -> None:
    """Re-execute this process (``python -m sslmem.cli <argv>``) with the kernels of `mode` pinned, unless they
    are already; returns only when nothing needs to change."""
    missing = missing_variables(mode, os.environ)
    if not missing:
        return
    if "torch" in sys.modules and os.environ.get("SSLMEM_KERNELS_RESTARTED"):
        raise RuntimeError(f"training.cpu_kernels={mode!r}: could not pin {sorted(missing)} before torch loaded")
    environment = {**os.environ, **missing, "SSLMEM_KERNELS_RESTARTED": "1"}
    os.execve(sys.executable, [sys.executable, "-m", "sslmem.cli", *argv], environment)


def mode_in_params(params: str, preset: str | None) -> str:
    """training.cpu_kernels of `preset` (params.yaml's own `preset` if None): the preset's value over `common`'s,
    native when neither sets it or the file is not one the verb can read. Read from the YAML alone: validating
    is the verb's job, and the restart must come before anything heavy."""
    import yaml

    try:
        raw = yaml.safe_load(open(params, encoding="utf-8"))
        chosen = (raw.get("presets") or {}).get(preset or raw.get("preset")) or {}
        for section in (chosen, raw.get("common") or {}):
            training = section.get("training") or {}
            if "cpu_kernels" in training:
                return training["cpu_kernels"]
    except (OSError, AttributeError, yaml.YAMLError):
        pass
    return "native"


def pin_for_params(params: str, preset: str | None, argv: Sequence[str]) -> None:
    """What the CLI calls before any verb: the mode params.yaml names pinned by a restart when needed (an unknown
    mode is left to the verb's validation to name)."""
    mode = mode_in_params(params, preset)
    if mode in CPU_KERNELS:
        restart_with_kernels(mode, argv)
