"""Linear probe and kNN monitor on features with known answers."""

from __future__ import annotations

import pytest
import torch

from sslmem.evaluation.probe import knn_classify, linear_probe, standardize


def test_knn_votes_by_exponentiated_cosine_similarity():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    test = torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.6, 0.8]])
    # k=1: the nearest neighbour's label.
    assert knn_classify(train, labels, test, num_classes=2, k=1, temperature=0.07).tolist() == [0, 1, 1]
    # k=3 with a huge temperature: every neighbour weighs ~1, so the majority (class 0) wins everywhere.
    assert knn_classify(train, labels, test, num_classes=2, k=3, temperature=1e6).tolist() == [0, 0, 0]
    # Cosine similarity ignores scale.
    assert knn_classify(train * 5, labels, test * 0.1, num_classes=2, k=1, temperature=0.07).tolist() == [0, 1, 1]
    with pytest.raises(ValueError):
        knn_classify(train, labels, test, num_classes=2, k=0, temperature=0.07)


def test_standardize_uses_the_training_statistics():
    train = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    test = torch.tensor([[2.0, 20.0]])
    train_z, test_z = standardize(train, test)
    torch.testing.assert_close(test_z, torch.zeros(1, 2))  # the training mean maps to 0
    torch.testing.assert_close(train_z.std(dim=0), torch.ones(2))


def test_linear_probe_separates_separable_classes():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 4
    centres = torch.eye(4) * 5
    features = centres[labels] + torch.randn(200, 4, generator=generator)
    accuracy = linear_probe(features[:150], labels[:150], features[150:], labels[150:], num_classes=4, epochs=20,
                            warmup_epochs=1, batch_size=32, optimizer="sgd", lr=0.5, weight_decay=0.0, seed=0)
    assert accuracy > 0.95
    chance = linear_probe(features[:150], labels[:150], torch.randn(50, 4, generator=generator), labels[150:],
                          num_classes=4, epochs=20, warmup_epochs=1, batch_size=32, optimizer="sgd", lr=0.5,
                          weight_decay=0.0, seed=0)
    assert chance < 0.6  # features unrelated to the labels: near chance (0.25)
