"""Linear probing (Table 6, right half): a linear classifier on frozen, pooled encoder features.

Features are extracted once per encoder (eval mode, clean normalised images), standardised with the training
features' statistics (the role of MAE's affine-free BatchNorm before its probe head), and the classifier is
trained with the configured optimiser, warm-up and cosine decay.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from sslmem.augment import BatchAugment, make_generator
from sslmem.training.optim import build_optimizer, warmup_cosine

# Told one row per finished probe epoch (epoch, loss, train_top1, lr, seconds, images_per_second), like the
# training log's rows, for progress lines in a job's log.
EpochFn = Optional[Callable[[Mapping], None]]


@torch.no_grad()
def extract_features(encoder: nn.Module, normalizer: BatchAugment, images: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """Pooled features [N, feature_dim] of clean images (uint8 [N, 3, H, W])."""
    encoder.eval()
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        batch = normalizer.clean(images[start: start + batch_size].to(device))
        chunks.append(encoder(batch).float().cpu())
    return torch.cat(chunks)


def standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = train.mean(dim=0, keepdim=True)
    std = train.std(dim=0, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def knn_classify(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    *,
    num_classes: int,
    k: int,
    temperature: float,
    chunk: int = 1024,
) -> torch.Tensor:
    """Weighted k-nearest-neighbour labels (Wu et al., 2018; the DINO paper's monitor) on cosine similarity.

    Each of the k most similar training features votes for its label with weight exp(similarity / temperature).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    train = F.normalize(train_features.float(), dim=1)
    k = min(k, train.shape[0])
    predictions = []
    for start in range(0, test_features.shape[0], chunk):
        test = F.normalize(test_features[start: start + chunk].float(), dim=1)
        similarity, index = (test @ train.T).topk(k, dim=1)
        votes = torch.zeros(test.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[index], (similarity / temperature).exp())
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    num_classes: int,
    epochs: int,
    warmup_epochs: int,
    batch_size: int,
    optimizer: str,
    lr: float,
    weight_decay: float,
    seed: int,
    momentum: float = 0.9,
    betas=None,
    trust_coefficient: float | None = None,
    device="cpu",
    after_epoch: EpochFn = None,
) -> float:
    """Train a linear classifier on the features; return top-1 accuracy on the test features (in [0, 1]).

    `after_epoch`, when given, gets each epoch's row (mean loss and accuracy on the training batches, last lr,
    seconds, images/s); it only reads what the steps computed, so the classifier is the same with or without it.
    """
    device = torch.device(device)
    train_x, test_x = standardize(train_features, test_features)
    train_x, train_y = train_x.to(device), train_labels.to(device)
    torch.manual_seed(seed)
    head = nn.Linear(train_x.shape[1], num_classes).to(device)
    opt = build_optimizer(head, optimizer, lr, weight_decay, momentum, betas=betas, trust_coefficient=trust_coefficient)
    num = train_x.shape[0]
    batch_size = min(batch_size, num)
    steps_per_epoch = max(1, num // batch_size)
    total, warmup = steps_per_epoch * epochs, steps_per_epoch * warmup_epochs
    for epoch in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(num, generator=make_generator("cpu", seed, epoch)).to(device)
        # Sums kept on the device: reading them once per epoch costs one synchronisation, not one per step.
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for index in range(steps_per_epoch):
            step = epoch * steps_per_epoch + index
            for group in opt.param_groups:
                group["lr"] = warmup_cosine(step, total, warmup, lr)
            rows = order[index * batch_size: (index + 1) * batch_size]
            logits = head(train_x[rows])
            loss = F.cross_entropy(logits, train_y[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            correct += (logits.detach().argmax(dim=1) == train_y[rows]).sum()
        if after_epoch is not None:
            after_epoch(_epoch_row(epoch + 1, loss_sum, correct, steps_per_epoch, batch_size, opt, started))
    with torch.no_grad():
        predictions = head(test_x.to(device)).argmax(dim=1).cpu()
    return float((predictions == test_labels).float().mean())


def _epoch_row(epoch, loss_sum, correct, steps, batch_size, optimizer, started) -> dict:
    """One probe epoch's log row from its on-device sums (read first: that waits for the epoch's steps, so the
    seconds that follow are the epoch's real time on a GPU too)."""
    loss, seen_correct = float(loss_sum), int(correct)
    seconds = time.perf_counter() - started
    seen = steps * batch_size
    return {
        "epoch": epoch, "loss": loss / steps, "train_top1": seen_correct / seen, "lr": optimizer.param_groups[0]["lr"],
        "seconds": seconds, "images_per_second": seen / max(seconds, 1e-9),
    }
