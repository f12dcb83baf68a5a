"""Figures a reader can read: Fig. 2c's legends never cover its histograms, and the LayerMem figure plots the
value the README says to read (LayerMem above the layer's S_S offset), from small hand-made score files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sslmem.report.figures import fig2c, fig2c_figure, fig_layermem, layermem_figure
from sslmem.report.localization import layermem_frame
from sslmem.report.readers import read_scores

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUBSET_MEANS = {"S_C": 0.30, "S_S": 0.01, "S_I": -0.30, "S_E": 0.10}


def write_scores(path, setup, n_per_subset=400, seed=0):
    """One score file (ensemble rows only) of one setup: m spread normally around each subset's mean, so the
    histograms fill the whole panel, where any legend inside the axes would cover them."""
    rng = np.random.default_rng(seed)
    rows = []
    for subset_index, (subset, mean) in enumerate(SUBSET_MEANS.items()):
        for i, m in enumerate(rng.normal(mean, 0.15, n_per_subset)):
            rows.append(dict(
                dataset="cifar10", setup=setup, method="simclr", arch="resnet18", representation="encoder",
                estimate="ensemble", seed=-1, point_id=10_000 * subset_index + i,
                source="test" if subset == "S_E" else "train", subset=subset, label=i % 10,
                align_f=0.5, align_g=0.5 + m, m_raw=m, m=m,
            ))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def overlaps(a, b) -> bool:
    """Whether two display-space boxes share an area (touching edges do not count)."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("n_setups", [1, 4])  # one panel, and two rows of panels
def test_fig2c_legends_do_not_cover_the_curves(tmp_path, n_setups):
    paths = [write_scores(tmp_path / f"setup{i}.parquet", f"simclr-resnet18-{i}", seed=i) for i in range(n_setups)]
    figure = fig2c_figure(read_scores(paths, require_estimate="ensemble"))
    figure.canvas.draw()  # constrained layout places the axes and legends at draw time
    renderer = figure.canvas.get_renderer()
    figure_box = figure.bbox
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert len(axes) == n_setups
    bars = [line.get_window_extent(renderer) for ax in axes for line in ax.lines if line.get_label()[:2] == "S_"]
    assert len(bars) == 4 * n_setups  # one ECDF per subset and panel
    for ax in axes:
        legend = ax.get_legend()
        assert legend is not None and len(legend.get_texts()) == 4
        box = legend.get_window_extent(renderer)
        covered = [bar for bar in bars if overlaps(box, bar)]
        assert not covered, f"the legend of {ax.get_title()!r} at {box} covers curve(s) {covered}"
        assert not overlaps(box, ax.get_window_extent(renderer)), "the legend stands inside the data area"
        # and it is drawn whole, inside the figure
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1 and figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1


def test_fig2c_is_still_a_deterministic_png(tmp_path):
    path = write_scores(tmp_path / "a.parquet", "simclr-resnet18")
    fig2c([path], tmp_path / "first.png")
    fig2c([path], tmp_path / "second.png")
    assert (tmp_path / "first.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()


def write_layer_scores(path, setup, candidate_means, shared_means):
    """Ensemble rows of a per-layer score file: S_C and S_S points whose mean m per layer is given."""
    spread = np.array([-0.02, 0.0, 0.0, 0.02])
    rows = []
    for index, (layer, candidate_mean) in enumerate(candidate_means.items()):
        for subset, mean in (("S_C", candidate_mean), ("S_S", shared_means[layer])):
            for i, m in enumerate(mean + spread):
                rows.append(dict(dataset="cifar10", setup=setup, method="simclr", arch="resnet18",
                                 estimate="ensemble", seed=-1, layer_index=index, layer=layer,
                                 point_id=(0 if subset == "S_C" else 100) + i, source="train", subset=subset,
                                 label=0, align_f=0.5, align_g=0.5 + m, m_raw=m, m=m))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_layermem_figure_plots_the_value_above_the_offset(tmp_path):
    # As in the README's run: a large offset per layer, and a small part of LayerMem above it.
    candidate = {"layer1.0": 0.591, "layer2.0": 0.40, "layer3.0": 0.33, "layer4.0": 0.25}
    shared = {"layer1.0": 0.613, "layer2.0": 0.39, "layer3.0": 0.30, "layer4.0": 0.22}
    paths = [write_layer_scores(tmp_path / "a.parquet", "simclr-resnet18", candidate, shared),
             write_layer_scores(tmp_path / "b.parquet", "mae-vit_tiny", shared, candidate)]
    table = layermem_frame(paths)
    figure = layermem_figure(table)
    for (dataset, setup), rows in table.groupby(["dataset", "setup"], sort=True):
        rows = rows.sort_values("layer_index")
        panels = [ax for ax in figure.axes if ax.get_title().startswith(f"{dataset} / {setup}")]
        lines = [line for ax in panels for line in ax.get_lines() if line.get_gid() == "layermem_above_offset"]
        assert len(lines) == 1, f"{setup}: expected one above-offset line, found {len(lines)}"
        np.testing.assert_allclose(lines[0].get_ydata(), rows["layermem_above_offset"].to_numpy(), atol=1e-12)
        np.testing.assert_allclose(lines[0].get_ydata(), [-0.022, 0.01, 0.03, 0.03] if setup == "simclr-resnet18"
                                   else [0.022, -0.01, -0.03, -0.03], atol=1e-12)
        above_axis = lines[0].axes
        assert "above offset" in above_axis.get_ylabel() and "S_S" in above_axis.get_ylabel()
        assert [tick.get_text() for tick in above_axis.get_xticklabels()] == list(rows["layer"])
        # the raw value stays beside it, for context, on its own axis with its own label
        raw = [line for ax in panels for line in ax.get_lines() if line.get_gid() == "layermem"]
        assert len(raw) == 1 and raw[0].axes is not above_axis and "raw" in raw[0].axes.get_ylabel()
        np.testing.assert_allclose(raw[0].get_ydata(), rows["layermem"].to_numpy(), atol=1e-12)


def test_layermem_figure_is_a_deterministic_png(tmp_path):
    means = {"layer1.0": 0.05, "layer2.0": 0.15}
    path = write_layer_scores(tmp_path / "a.parquet", "simclr-resnet18", means, {"layer1.0": 0.01, "layer2.0": 0.02})
    fig_layermem([path], tmp_path / "first.png")
    fig_layermem([path], tmp_path / "second.png")
    assert (tmp_path / "first.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()
