"""DP-SGD (Abadi et al., 2016) through opacus, the way ViP (Yu et al., 2023) trains private MAEs.

A setup is private when its recipe has a `privacy` block (params.yaml; the privacy study makes one setup per ε).
Then, for every step of the training loop:

- **Poisson sampling**: each training image enters a batch independently with probability q = batch_size / N
  (opacus' ``UniformWithReplacementSampler``, seeded per epoch from the run's streams, so a resumed run draws the
  same batches), which is what the accountant's analysis assumes; batch sizes vary around batch_size.
- **Per-sample gradients**: ``torch.func.vmap`` of the method's per-sample loss (``SSLMethod.forward`` with the
  step's random draws, e.g. MAE's masks: each sample its own), in physical batches of at most
  ``max_physical_batch_size`` images. Why not opacus' layer hooks (``GradSampleModule``) or its ghost clipping:
  they compute per-sample gradients layer by layer, for parameters that live in layers opacus knows; a ViT's
  class token and position embeddings and MAE's mask token are parameters used outside any such layer, and
  MAE runs the encoder block by block rather than through ``forward``. ViP computes them with functorch for the
  same reason; the vmap here covers every parameter exactly (a test compares it with per-sample autograd).
- **Clipping, noise, accounting**: opacus' ``DPOptimizer`` clips each sample's gradient to ``max_grad_norm``,
  adds Gaussian noise of std noise_multiplier · max_grad_norm (its generator reseeded every step from the run's
  streams and ``noise_seed``) and divides by the expected batch size; the noise multiplier comes from opacus'
  accountant for the target (ε, δ) over all steps, and the accountant records ε spent as training goes.
  ``secure_mode`` (off by default): opacus' noise hardened against floating-point attacks (each coordinate the
  sum of four Gaussian draws, halved) from a generator seeded each step from the OS's entropy instead of the
  run's seeds — what a release of a private encoder needs, at the price of reproducibility.

ε = ∞ is the same recipe without any of this (the setup's ordinary encoders). Methods whose loss couples the
samples of a batch (contrastive negatives, batch statistics; ``SSLMethod.couples_samples``) are refused: clipping
each sample's gradient does not bound a sample's influence on the others' losses, so such an encoder would be
labelled private without being so. Modules opacus cannot train privately (BatchNorm) are replaced through
opacus' own ``ModuleValidator.fix`` (GroupNorm), before any weights are loaded, and recorded in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sslmem.training.hooks import TrainingContext, TrainingHook

# Offsets of the privacy streams inside the run's seed sequence (the data order and augmentations use epoch and
# step numbers, the initial weights 7). Changing them changes every private encoder.
POISSON_STREAM = 11
NOISE_STREAM = 13
ACCOUNTANTS = ("rdp", "prv", "gdp")


class PrivacyError(ValueError):
    """A private setup that cannot be trained with a true guarantee (named before any training step)."""


@dataclass(frozen=True)
class PrivacySettings:
    """The `privacy` block of a recipe. δ = None means 1/(2N), N the training-set size (ViP's choice)."""

    epsilon: float
    delta: float | None
    max_grad_norm: float
    accountant: str = "rdp"
    noise_seed: int = 0
    max_physical_batch_size: int = 64
    secure_mode: bool = False

    @classmethod
    def from_recipe(cls, privacy: Mapping) -> "PrivacySettings":
        settings = cls(**{key: privacy[key] for key in privacy})
        settings.check()
        return settings

    def check(self) -> None:
        if not self.epsilon > 0:
            raise PrivacyError(f"privacy.epsilon must be > 0 (ε = ∞ is the setup without privacy), got {self.epsilon}")
        if self.delta is not None and not 0 < self.delta < 1:
            raise PrivacyError(f"privacy.delta must lie in (0, 1), got {self.delta}")
        if not self.max_grad_norm > 0:
            raise PrivacyError(f"privacy.max_grad_norm (clipping norm) must be > 0, got {self.max_grad_norm}")
        if self.accountant not in ACCOUNTANTS:
            raise PrivacyError(f"privacy.accountant must be one of {ACCOUNTANTS}, got {self.accountant!r}")
        if self.max_physical_batch_size < 1:
            raise PrivacyError(f"privacy.max_physical_batch_size must be >= 1, got {self.max_physical_batch_size}")

    def delta_for(self, num_samples: int) -> float:
        return self.delta if self.delta is not None else 1.0 / (2 * num_samples)


def check_method_allows_privacy(method_cls) -> None:
    """Refuse DP-SGD for a method whose loss couples the samples of a batch (see the module docstring)."""
    if method_cls.couples_samples:
        raise PrivacyError(
            f"method {method_cls.name!r} cannot be trained with DP-SGD: its loss couples the samples of a batch "
            "(contrastive negatives or batch statistics), so clipping each sample's gradient does not bound one "
            "image's influence and the encoder would be labelled private without being so; use a method with a "
            "per-sample loss (mae, supervised)"
        )


def make_private_compatible(method: nn.Module) -> tuple[nn.Module, list[str]]:
    """The method with the modules opacus cannot train privately replaced by opacus' fixer, and what was replaced
    ("<module path>: BatchNorm2d -> GroupNorm"). Raises PrivacyError naming a module that cannot be fixed."""
    from opacus.validators import ModuleValidator

    check_method_allows_privacy(type(method))
    errors = ModuleValidator.validate(method, strict=False)
    replaced: list[str] = []
    if errors:
        before = {name: type(module).__name__ for name, module in method.named_modules()}
        method = ModuleValidator.fix(method)
        after = {name: type(module).__name__ for name, module in method.named_modules()}
        replaced = [f"{name}: {before[name]} -> {after[name]}" for name in before
                    if name in after and before[name] != after[name]]
        if ModuleValidator.validate(method, strict=False):
            left = [f"{name} ({type(module).__name__})" for name, module in method.named_modules()
                    if ModuleValidator.validate(module, strict=False) and not any(True for _ in module.children())]
            raise PrivacyError("opacus cannot train these modules privately, and its fixer has no replacement: "
                               f"{', '.join(left)}")
    for module in method.modules():
        # timm's fused attention has no vmap rule for its backward (a slow per-sample fallback); the explicit
        # softmax(QKᵀ)V computes the same function.
        if hasattr(module, "fused_attn"):
            module.fused_attn = False
    return method, replaced


def sub_seed(streams: tuple[int, ...], *keys: int) -> int:
    return int(np.random.SeedSequence([*streams, *keys]).generate_state(1)[0])


@dataclass(frozen=True)
class PoissonBatches:
    """Poisson sampling (opacus' UniformWithReplacementSampler): each slot in each batch with probability
    `sample_rate`; `steps_per_epoch` = 1/q batches per epoch, drawn from a generator seeded per epoch."""

    num_slots: int
    sample_rate: float
    streams: tuple[int, ...]
    device: torch.device

    @property
    def steps_per_epoch(self) -> int:
        return max(1, int(round(1 / self.sample_rate)))

    def __call__(self, epoch: int):
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        generator = torch.Generator().manual_seed(sub_seed(self.streams, POISSON_STREAM, epoch))
        sampler = UniformWithReplacementSampler(num_samples=self.num_slots, sample_rate=self.sample_rate,
                                                generator=generator, steps=self.steps_per_epoch)
        for indices in sampler:
            yield torch.as_tensor(indices, dtype=torch.long, device=self.device)


def per_sample_gradients(method: nn.Module, views: list[torch.Tensor], randomness, extra: Mapping):
    """Each sample's gradient of its own loss, {parameter name: [B, *shape]}, and the losses [B]: vmap over the
    batch of the method's forward on one sample (its views, random draws and labels)."""
    from torch.func import functional_call, grad_and_value, vmap

    params = {name: p.detach() for name, p in method.named_parameters() if p.requires_grad}
    buffers = dict(method.named_buffers())

    def sample_loss(params, sample_views, sample_randomness, sample_extra):
        batch_views = [view.unsqueeze(0) for view in sample_views]
        batch_randomness = None if sample_randomness is None else sample_randomness.unsqueeze(0)
        batch_extra = {key: value.unsqueeze(0) for key, value in sample_extra.items()}
        return functional_call(method, (params, buffers), (batch_views, batch_randomness), batch_extra).sum()

    in_dims = (None, 0, None if randomness is None else 0, 0)
    grads, losses = vmap(grad_and_value(sample_loss), in_dims=in_dims)(params, list(views), randomness, dict(extra))
    return grads, losses


class PrivacyHook(TrainingHook):
    """DP-SGD for one run: replaces the batches (Poisson), the optimiser (opacus' DPOptimizer) and how a chunk's
    gradients are made (per-sample, clipped by the optimiser), and records the privacy spent in the checkpoint."""

    def __init__(self, settings: PrivacySettings, num_samples: int):
        self.settings = settings
        self.num_samples = num_samples
        self.replaced_modules: list[str] = []
        self.delta = settings.delta_for(num_samples)
        self.noise_multiplier = float("nan")
        self.sample_rate = float("nan")
        self.accountant = None
        self.steps = 0

    def setup(self, context: TrainingContext) -> None:
        from opacus.accountants import create_accountant
        from opacus.accountants.utils import get_noise_multiplier
        from opacus.optimizers import DPOptimizer

        check_method_allows_privacy(type(context.method))
        self.replaced_modules = list(getattr(context.method, "private_replacements", []))
        batch_size = min(context.spec.recipe["batch_size"], self.num_samples)
        self.sample_rate = batch_size / self.num_samples
        context.batches = PoissonBatches(self.num_samples, self.sample_rate, context.spec.streams,
                                         context.options.device)
        total_steps = context.batches.steps_per_epoch * context.spec.epochs
        self.noise_multiplier = float(get_noise_multiplier(
            target_epsilon=self.settings.epsilon, target_delta=self.delta, sample_rate=self.sample_rate,
            steps=total_steps, accountant=self.settings.accountant))
        self.noise_generator = torch.Generator(device=context.options.device)
        context.optimizer = DPOptimizer(
            context.optimizer, noise_multiplier=self.noise_multiplier, max_grad_norm=self.settings.max_grad_norm,
            expected_batch_size=batch_size, loss_reduction="mean", generator=self.noise_generator,
            secure_mode=self.settings.secure_mode)
        self.accountant = create_accountant(mechanism=self.settings.accountant)
        self.steps = context.start_epoch * context.batches.steps_per_epoch
        if self.steps:  # resumed: the steps already taken spent their share
            self.accountant.history = [(self.noise_multiplier, self.sample_rate, self.steps)]
        context.backward = self.backward

    def backward(self, context: TrainingContext, inputs, views, slots, chunk, generator) -> torch.Tensor:
        """Per-sample gradients of one chunk into ``p.grad_sample`` (appended to earlier chunks of the step);
        returns the chunk's share of the batch's mean loss, for the log."""
        self.noise_generator.manual_seed(self.noise_seed_for(context))
        method = context.method
        parameters = dict((name, p) for name, p in method.named_parameters() if p.requires_grad)
        chunk_views = [view[chunk] for view in views]
        randomness = method.draw_randomness(chunk_views, generator)
        labels = {"labels": inputs.labels[slots[chunk]]} if inputs.labels is not None else {}
        total = torch.zeros((), device=context.options.device)
        physical = self.settings.max_physical_batch_size
        for start in range(0, len(chunk), physical):
            part = slice(start, start + physical)
            with inputs.autocast:
                grads, losses = per_sample_gradients(
                    method, [view[part] for view in chunk_views], None if randomness is None else randomness[part],
                    {key: value[part] for key, value in labels.items()})
            if not torch.isfinite(losses).all():
                raise FloatingPointError(f"loss became non-finite at epoch {context.epoch} step {context.batch_index} "
                                         f"({context.spec.name}); lower methods.{context.spec.method}.lr")
            for name, p in parameters.items():
                grad_sample = grads[name].to(p.dtype)
                p.grad_sample = grad_sample if getattr(p, "grad_sample", None) is None else torch.cat(
                    [p.grad_sample, grad_sample])
            total += losses.sum().detach()
        if len(chunk) == 0:  # an empty Poisson batch: the step still adds noise (skipping it would leak)
            for p in parameters.values():
                p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
        return total / max(1, len(slots))

    def noise_seed_for(self, context: TrainingContext) -> int:
        """The step's noise seed: by default from the run's streams, noise_seed and the step (a resumed run adds the
        same noise, and the encoder is reproducible); in secure mode from the OS's entropy, so that nobody who
        knows the settings can predict the noise (the encoder is then not reproducible)."""
        if self.settings.secure_mode:
            import secrets

            return secrets.randbits(63)
        return sub_seed(context.spec.streams, NOISE_STREAM, self.settings.noise_seed, context.step)

    def after_step(self, context: TrainingContext) -> None:
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.steps += 1

    def epsilon_spent(self) -> float:
        return float(self.accountant.get_epsilon(delta=self.delta)) if self.steps else 0.0

    def metadata(self) -> dict:
        return {
            "privacy": {
                "epsilon_target": self.settings.epsilon,
                "epsilon_spent": self.epsilon_spent(),
                "delta": self.delta,
                "noise_multiplier": self.noise_multiplier,
                "max_grad_norm": self.settings.max_grad_norm,
                "sample_rate": self.sample_rate,
                "steps": self.steps,
                "accountant": self.settings.accountant,
                "noise_seed": self.settings.noise_seed,
                "secure_mode": self.settings.secure_mode,
                "replaced_modules": self.replaced_modules,
            }
        }


def build_method_for_recipe(name: str, encoder: nn.Module, recipe: Mapping) -> nn.Module:
    """The method a recipe trains: with a `privacy` block, made DP-compatible (the replaced modules are kept on the
    method as ``private_replacements`` for the checkpoint's meta). Training and loading a trained encoder both
    build it here, so that a fixed model's weights load into the same modules."""
    from sslmem.methods import build_method

    method = build_method(name, encoder, recipe)
    if recipe.get("privacy"):
        method, replaced = make_private_compatible(method)
        method.private_replacements = replaced
    return method
