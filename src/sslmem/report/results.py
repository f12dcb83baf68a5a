"""The core results: the SSLMem paper's Tables 1, 2, 4, 11, 12, 13, 15, 16 and Figs. 1, 2a, 2c, 5, 8, 9, the per-subset summary,
and the localization paper's LayerMem, UnitMem and ClassMem (its Fig. 3). Each is one :class:`~sslmem.report.registry.Result`; its
builder lives in the module of its subject (significance, summaries, ranking, localization, figures)."""

from __future__ import annotations

from typing import Mapping

from sslmem import config
from sslmem.report.registry import Result

# The core tables and figures (the studies declare theirs in their modules; sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []


def _bootstrap(settings: Mapping) -> dict:
    bootstrap = settings["stats"]["bootstrap"]
    return {"n_boot": bootstrap["resamples"], "seed": bootstrap["seed"], "level": bootstrap["level"]}


def identities(settings: Mapping) -> dict:
    """Per setup: method, arch, epochs and the representation scored, which the paper's rows are matched on."""
    return {"identities": config.paper_identities(settings)}


def _trained_backbones(settings: Mapping) -> dict:
    """Every (dataset, arch) the experiment trains, with what building its encoder needs (Table 15 counts them)."""
    pairs = sorted({(run.dataset, run.arch) for run in config.experiment_runs(settings)})
    backbones = [
        {"dataset": dataset, "arch": arch, "arch_options": config.arch_options(settings, arch, dataset),
         "image_folder_size": settings["data"]["image_folder_size"]}
        for dataset, arch in pairs
    ]
    return {"backbones": backbones, **identities(settings)}


def _table12_options(settings: Mapping) -> dict:
    return {"top_k": settings["report"]["table12"]["top_k"], "alpha": settings["stats"]["alpha"],
            **identities(settings)}


def _image_data(settings: Mapping, setup_names) -> dict:
    """Where the images of these setups' datasets are (only those roots: another dataset's root must not redraw
    a gallery)."""
    names = set(setup_names)
    datasets = sorted({run.dataset for run in config.experiment_runs(settings) if run.setup in names})
    data = settings["data"]
    return {"roots": {dataset: data["roots"][dataset] for dataset in datasets},
            **{key: data[key] for key in ("download", "image_folder_size", "skip_bad_images", "loader_workers")}}


def _table4_options(settings: Mapping) -> dict:
    """The confident fraction and the crop (for the table's text; the Déjà Vu files were made with it)."""
    table4 = settings["report"]["table4"]
    return {"confident_fraction": table4["confident_fraction"], "crop": table4["crop"], **identities(settings)}


def _fig8_options(settings: Mapping) -> dict:
    """The gallery size and where the images of the table12 setups' datasets are."""
    return {"gallery_size": settings["report"]["table12"]["gallery_size"],
            "data": _image_data(settings, settings["report"]["table12"]["setups"])}


def _gallery_options(settings: Mapping) -> dict:
    """Figs. 1 and 9: the gallery size and where the images of report.galleries' setups are."""
    galleries = settings["report"]["galleries"]
    return {"gallery_size": galleries["size"], "data": _image_data(settings, galleries["setups"])}


def _table11_rows(settings: Mapping) -> dict:
    return {"setup_epochs": [[name, config.setup_recipe(settings, name)["epochs"]]
                             for name in settings["report"]["table11"]], **identities(settings)}


RESULTS.append(Result(
    name="table1", kind="table", title="Table 1 — SSLMem and linear-probe accuracy",
    caption=(
        "SSLMem (mean normalised score m over the candidates S_C; mean ± std over f/g pairs and the "
        "all-encoder ensemble) and linear-probe top-1 accuracy (%) of the f encoders per dataset, method and "
        "architecture, beside the paper's Table 1 where it has that setup."
    ),
    builder="sslmem.report.summaries:table1",
    inputs={"score_paths": "scores", "probe_paths": "probes"},
    options=lambda settings: {**_bootstrap(settings), **identities(settings)},
))
RESULTS.append(Result(
    name="table2", kind="table", title="Table 2 — one-sided tests between subsets",
    caption=(
        "One-sided Welch t-tests between the subsets' ensemble scores (H0 as in the paper's Table 2), with "
        "Cohen's d and the mean score of S_S (the global offset); the paper's values stand beside the rows of its "
        "own run (MAE ViT-tiny, CIFAR10, 600 epochs, encoder output), and its 'effect size' compares with our t "
        "statistic. "
        "These point-level tests treat the points of a subset as independent, yet every point an f/g pair scores "
        "shares that pair's training run, so each hypothesis is also tested with the pair as the unit, on the "
        "per-pair scores: n_pairs pairs, pair_effect the mean over pairs of the difference of subset means with its "
        "one-sided t-test over pairs (pair_t, pair_p), pairs_holding the pairs whose difference has the claimed "
        "sign, and mixed_effect, mixed_se, mixed_z and mixed_p from a linear mixed model "
        "m ~ subset + (1 | pair) + (1 | pair:subset) (REML, p against Student's t with n_pairs − 1 degrees of "
        "freedom). "
        "claim_holds rests on these, not on the point-level test: mixed_p < alpha where the mixed model fits (3 "
        "pairs or more), else pair_p < alpha (claim_test says which; pair_note and mixed_note say why a test is "
        "missing)."
    ),
    builder="sslmem.report.significance:table2",
    inputs={"score_paths": "scores"},
    options=lambda settings: {"alpha": settings["stats"]["alpha"], **identities(settings)},
))
RESULTS.append(Result(
    name="table16", kind="table", title="Table 16 — one-sample tests",
    caption=(
        "t-tests of the subsets' ensemble scores against 0 and of S_C against S_E (H0 as in the paper's "
        "Table 16), with Cohen's d and the S_S offset; the paper's values stand beside the rows of its own run "
        "(MAE ViT-tiny, CIFAR10, 600 epochs, encoder output). "
        "Each hypothesis is also tested with the f/g pair as the unit, as in Table 2: pair_effect is the mean over "
        "pairs of the per-pair subset mean minus 0 (or of the difference S_C − S_E) with its t-test over pairs "
        "(pair_t, pair_p, pairs_holding of n_pairs), and the mixed model is m ~ 1 + (1 | pair) for a one-sample "
        "row (its intercept: the training run's shift of every point is the pair's random intercept) and "
        "m ~ subset + (1 | pair) + (1 | pair:subset) for the last row (mixed_effect, mixed_se, mixed_z, mixed_p). "
        "claim_holds rests on the mixed model where it fits and on the t-test over pairs otherwise (claim_test says "
        "which)."
    ),
    builder="sslmem.report.significance:table16",
    inputs={"score_paths": "scores"},
    options=lambda settings: {"alpha": settings["stats"]["alpha"], **identities(settings)},
))
RESULTS.append(Result(
    name="table15", kind="table", title="Table 15 — memorisation across ResNet backbones",
    caption=(
        "SSLMem and linear-probe accuracy of SimCLR on ResNet-family backbones (WRN50-2, ResNet50, ResNet18 in the "
        "paper) with each encoder's parameter count (heads excluded), beside the paper's Table 15 (CIFAR10, 600 "
        "epochs) where the row is its run."
    ),
    builder="sslmem.report.summaries:table15_of_backbones",
    inputs={"table1_csv": "table1"},
    options=_trained_backbones,
))
RESULTS.append(Result(
    name="table11", kind="table", title="Table 11 — supervised training vs SSL",
    caption=(
        "SSLMem and linear-probe accuracy of encoders trained with labels (cross-entropy, classifier head removed) "
        "beside SSL encoders, per training length; SSLMem is the mean m over S_C (mean ± std over f/g pairs), "
        "accuracy the top-1 (%), with the paper's Table 11 (ResNet50, CIFAR10) where the setup matches."
    ),
    builder="sslmem.report.summaries:table11",
    inputs={"table1_csv": "table1"},
    options=_table11_rows,
))
RESULTS.append(Result(
    name="table13", kind="table", title="Table 13 — do setups memorise the same points?",
    caption=(
        "Kendall's tau-b (and its two-sided p-value) between the rankings of the candidates S_C by their "
        "ensemble score m under each pair of setups trained on the same dataset, beside the paper's Table 13 "
        "(CIFAR10) where both setups match its rows."
    ),
    builder="sslmem.report.ranking:table13",
    inputs={"score_paths": "scores"},
    options=identities,
))
RESULTS.append(Result(
    name="table12", kind="table", title="Table 12 — Feldman's label memorisation vs SSLMem",
    category="Supervised vs SSL", default=False,
    caption=(
        "Per supervised setup of report.table12 and k: how many of the k candidates (S_C) with the highest Feldman "
        "score (true-label softmax probability under f minus under g, mean over f/g pairs) are among the k with the "
        "highest SSLMem m of the same encoders without their classifier (ensemble), beside what two random top-k "
        "sets share (k over the size of S_C), Kendall's tau-b (two-sided p) between the two scores over SSLMem's top k and over "
        "all of S_C, and over S_E as the control (points neither encoder trained on); only k up to the size of S_C make rows. "
        "The paper's Table 12 stands beside its own run only (supervised ResNet50, CIFAR10, 100 epochs). "
        "Those p-values treat the candidates as independent although the same few f/g pairs score them all, so the "
        "agreement is also measured pair by pair (Kendall's tau between the two scores of one pair) and tested over "
        "the pairs: n_pairs_tested pairs, pair_tau the mean tau over S_C with its one-sided t-test over pairs "
        "(pair_t, pair_p), pairs_holding the pairs with a positive tau, pair_tau_S_E the mean tau over the control S_E "
        "and pair_p_vs_S_E the paired t-test over pairs that the candidates' tau exceeds the control's "
        "(pairs_holding_vs_S_E pairs where it does). "
        "claim_holds (pair_p < alpha) rests on the test over pairs; with fewer than 2 pairs it is False and pair_note "
        "says why."
    ),
    builder="sslmem.report.feldman:table12",
    inputs={"feldman_paths": "feldman", "score_paths": "feldman_scores"},
    options=_table12_options,
))
RESULTS.append(Result(
    name="fig8", kind="figure", title="Fig. 8 — most memorised candidates: Feldman vs SSLMem",
    category="Supervised vs SSL", default=False,
    caption=(
        "Per supervised setup of report.table12, the candidates with the highest Feldman score (left) and the "
        "highest SSLMem m (right) on the same f/g encoders, each with its rank, class, Feldman score F and SSLMem "
        "m; a red frame marks a point in both galleries."
    ),
    builder="sslmem.report.feldman:fig8",
    inputs={"feldman_paths": "feldman", "score_paths": "feldman_scores"},
    options=_fig8_options,
))
RESULTS.append(Result(
    name="table4", kind="table", title="Table 4 — SSLMem vs Déjà Vu memorisation",
    category="Prior work", default=False,
    caption=(
        "Per setup of report.table4 and dataset: SSLMem (mean m over the candidates S_C, mean ± std over f/g pairs) "
        "and Déjà Vu memorisation (Meehan et al. 2023) of the same encoders: the accuracy of a k-nearest-neighbour "
        "vote over a labelled public set (test-split points outside S_E) guessing each candidate's label from a "
        "corner crop, with f (trained on S_C) minus with g (not), in points of percent, over all of S_C and over "
        "each encoder's most confident fraction (lowest entropy of the neighbours' labels); the same on S_E as the "
        "control (neither encoder trained on it); the linear-probe top-1 of f. The paper's Table 4 stands beside "
        "its own runs only (MAE and DINO: ViT-tiny on CIFAR10, ViT-base on ImageNet)."
    ),
    builder="sslmem.report.dejavu:table4",
    inputs={"dejavu_paths": "dejavu", "score_paths": "dejavu_scores", "probe_paths": "dejavu_probes"},
    options=_table4_options,
))
# The reliability caveat stands in both captions: at this scale the per-point ranking does not reproduce.
_GALLERY_CAVEAT = (
    "Each row's title gives the setup's split-half reliability (results/reliability.csv; 'not measured' where the "
    "halves study does not rank the setup): where it is near 0, as at the default preset's scale, the ranking does "
    "not reproduce between rounds, and the gallery shows what the ranking is, not evidence that these images are "
    "memorised."
)
RESULTS.append(Result(
    name="fig1", kind="figure", title="Fig. 1 — the most and least memorised images",
    category="Galleries", default=False,
    caption=(
        "Per setup of report.galleries, a row of its report.galleries.size most memorised points (rank 1 = highest "
        "m) and a row of its least memorised (lowest m first), each image with its rank, class, score m and, for "
        "the in/out estimator, its bootstrap interval over rounds [low, high]; the points are ranked in "
        "results/allpoints/ (the in/out score of every pool point where the halves study ranks the setup, else the "
        "f/g ensemble score of the candidates S_C). " + _GALLERY_CAVEAT
    ),
    builder="sslmem.report.galleries:fig1",
    inputs={"allpoints_paths": "allpoints"},
    options=_gallery_options,
))
RESULTS.append(Result(
    name="fig9", kind="figure", title="Fig. 9 — the most memorised images per setup",
    category="Galleries", default=False,
    caption=(
        "One row per setup of report.galleries: its report.galleries.size most memorised points by the ranking of "
        "results/allpoints/, each image with its rank, class, score m and, for the in/out estimator, its bootstrap "
        "interval over rounds [low, high]. " + _GALLERY_CAVEAT
    ),
    builder="sslmem.report.galleries:fig9",
    inputs={"allpoints_paths": "allpoints"},
    options=_gallery_options,
))
RESULTS.append(Result(
    name="layermem", kind="table", title="LayerMem — memorisation per layer", category="Localization",
    caption=(
        "LayerMem: SSLMem measured on the output of each layer of the encoder (same f/g encoders, views and "
        "range normalisation per layer), mean m over the candidates S_C (ensemble; mean ± std over f/g pairs), "
        "and its increase over the previous layer (ΔLayerMem), per dataset and setup."
    ),
    builder="sslmem.report.localization:layermem_table",
    inputs={"score_paths": "layer_scores"},
))
RESULTS.append(Result(
    name="layermem_fig", kind="figure", title="LayerMem per layer", category="Localization",
    caption=(
        "LayerMem per layer above the S_S offset (left: mean m over S_C minus mean m over S_S, ensemble "
        "estimate), and for context the raw LayerMem with the offset and its increase over the previous layer "
        "(right: line, dashed line and ΔLayerMem bars), one row per dataset and setup."
    ),
    builder="sslmem.report.figures:fig_layermem",
    inputs={"score_paths": "layer_scores"},
))
RESULTS.append(Result(
    name="unitmem", kind="table", title="UnitMem — memorisation per unit", category="Localization",
    caption=(
        "UnitMem of the units of each layer of the f encoders (per-point mean activation over augmented views; "
        "how much the most activating point stands out from the others), summarised over units, with the mean "
        "SSLMem of the points that units single out beside the mean over all points of that subset."
    ),
    builder="sslmem.report.localization:unitmem_table",
    # g's files too (the align jobs write them), though the table reads f only: UnitMem is f's measure.
    inputs={"unit_paths": "units", "score_paths": "scores"},
))
# ClassMem's own forward passes (sslmem classmem) run in its own target and DVC stage, not in the default run.
_CLASSMEM_SAMPLE = (
    "Every unit of the f encoders of each setup of report.classmem is measured on one class-balanced sample of "
    "their training points (report.classmem.points_per_class of each class of report.classmem.subset, the same "
    "points for every encoder), its activation averaged over the augmented views of each point: UnitMem compares "
    "the most activating point with the other points, ClassMem the most activating class (mean over its points) "
    "with the other classes."
)
RESULTS.append(Result(
    # Not named `classmem`: that is the Snakemake target (workflow/rules/classmem.smk) building this and the figure.
    name="classmem_vs_unitmem", kind="table", title="ClassMem vs UnitMem — do units memorise points or classes?",
    category="Localization", default=False,
    caption=(
        _CLASSMEM_SAMPLE + " Per dataset, setup and layer, over the units of the setup's f encoders where both are "
        "defined: mean and median UnitMem and ClassMem, the fraction of units with UnitMem above ClassMem, a "
        "two-sided Wilcoxon signed-rank test of their difference across units, and whether the setup is supervised. "
        "The localization paper finds UnitMem above ClassMem in most units of SSL encoders and the reverse in "
        "supervised ones."
    ),
    builder="sslmem.report.classmem:classmem_table",
    inputs={"classmem_paths": "classmem"},
))
RESULTS.append(Result(
    name="classmem_fig", kind="figure", title="ClassMem vs UnitMem per unit (localization paper, Fig. 3)",
    category="Localization", default=False,
    caption=(
        _CLASSMEM_SAMPLE + " One panel per layer and kind of setup (top row SSL, bottom row supervised): a dot per "
        "unit at its UnitMem (x) and ClassMem (y), a colour per setup, with the line y = x; units below it memorise "
        "a point more than a class, and each panel's title gives their share."
    ),
    builder="sslmem.report.classmem:classmem_fig",
    inputs={"classmem_paths": "classmem"},
))
RESULTS.append(Result(
    name="subsets", kind="table", title="Scores per subset (the numbers behind Fig. 2c)",
    caption=(
        "Per dataset, setup, estimate and subset: number of points, mean and std of m with a bootstrap 95% "
        "interval of the mean, and mean alignment loss on f and g (what Fig. 2c summarises)."
    ),
    builder="sslmem.report.summaries:subset_summary",
    inputs={"score_paths": "scores"},
    options=lambda settings: {**_bootstrap(settings), **identities(settings)},
))
RESULTS.append(Result(
    name="fig2a", kind="figure", title="Fig. 2a — alignment on f vs g per candidate", category="Figures",
    caption=(
        "Alignment loss of each candidate in S_C on the f encoders (x) against the g encoders (y), "
        "coloured by its normalised memorisation score m (ensemble estimate); points above the line y = x are "
        "aligned better by the encoders that trained on them."
    ),
    builder="sslmem.report.figures:fig2a",
    inputs={"score_paths": "scores"},
))
RESULTS.append(Result(
    name="fig2c", kind="figure", title="Fig. 2c — score distributions per subset", category="Figures",
    caption=(
        "Distribution of the normalised memorisation score m (ensemble estimate) for the candidates S_C, "
        "shared S_S, independent S_I and extra S_E points per dataset and setup, as empirical cumulative "
        "distribution functions (a curve further right: higher scores), with each subset's n and mean in the legend."
    ),
    builder="sslmem.report.figures:fig2c",
    inputs={"score_paths": "scores"},
))
RESULTS.append(Result(
    name="above_threshold", kind="table", title="Points above a score threshold (the numbers behind Fig. 5)",
    category="Figures",
    caption=(
        "Per dataset, setup and subset, and per threshold t of report.fig5_thresholds: how many of the subset's "
        "points have an ensemble score m > t, and their fraction (the candidates S_C are Fig. 5's curve)."
    ),
    builder="sslmem.report.thresholds:above_threshold",
    inputs={"score_paths": "scores"},
    options=lambda settings: {"thresholds": settings["report"]["fig5_thresholds"]},
))
RESULTS.append(Result(
    name="fig5", kind="figure", title="Fig. 5 — fraction memorised against the threshold", category="Figures",
    caption=(
        "The fraction (%) of the candidates S_C whose ensemble score m exceeds each threshold, per dataset and "
        "setup, beside the same fraction of S_S, S_I and S_E (points the f and g encoders did not train on "
        "differently)."
    ),
    builder="sslmem.report.thresholds:fig5",
    inputs={"above_threshold_csv": "above_threshold"},
))
RESULTS.append(Result(
    name="training_curves", kind="table", title="Training curves", category="Training",
    caption=(
        "Every encoder's per-epoch training log in one tidy table: loss, learning rate, seconds and images per "
        "second per epoch, keyed by dataset, setup, method, backbone, seed and role."
    ),
    builder="sslmem.report.training:training_curves",
    inputs={"log_paths": "train_logs"},
    plot={"x": "epoch", "y": "loss", "template": "scatter", "title": "training loss per epoch (every encoder)"},
))
RESULTS.append(Result(
    name="training_fig", kind="figure", title="Training loss per epoch", category="Training",
    caption=(
        "Training loss per epoch of every encoder, one panel per dataset and setup, f encoders solid and g "
        "encoders dashed (a line per seed)."
    ),
    builder="sslmem.report.training:fig_training",
    inputs={"curves_csv": "training_curves"},
))
RESULTS.append(Result(
    name="metrics", kind="metrics", title="Headline metrics (DVC)", category="Tables",
    caption=(
        "Per dataset and setup: ensemble SSLMem and the mean over f/g pairs, mean m(S_C) minus mean m(S_S), the "
        "p-value of each Table 2 test, and the f encoders' linear-probe and kNN top-1 (%); the file `dvc metrics "
        "show` and `dvc exp show` compare between runs."
    ),
    builder="sslmem.report.metrics:metrics",
    # From the scores and probes, not from table1/table2/subsets: see sslmem.report.metrics.metrics.
    inputs={"score_paths": "scores", "probe_paths": "probes"},
    options=lambda settings: {**_bootstrap(settings), "alpha": settings["stats"]["alpha"], **identities(settings)},
))
# The localization paper's findings beside ours: made from the localization studies' results (and ClassMem), so
# `snakemake localization_paper` builds those studies first.
RESULTS.append(Result(
    name="localization_findings", kind="table", title="Localization paper — its findings beside ours",
    category="Studies", default=False,
    caption=(
        "Each finding of Localizing Memorization in SSL Vision Encoders (findings 1-4, Figs. 1c, 4, 5, the "
        "fine-tuning and pruning uses) per dataset and setup: the paper's statement, the result it is measured in, "
        "our numbers, and a verdict from the tests over seeds of that result (holds, holds in part, direction only, "
        "does not hold, untested with one seed; descriptive for statements without a test)."
    ),
    builder="sslmem.report.localization_findings:findings_table",
    inputs={"resnet9_csv": "localization_resnet9", "vit_test_csv": "localization_vit_parts_test",
            "atypical_csv": "localization_atypical", "classmem_csv": "classmem_vs_unitmem",
            "conditions_csv": "unitmem_condition_tests", "finetune_csv": "finetune_by_layermem",
            "pruning_csv": "pruning_by_unitmem"},
    options=lambda settings: {"alpha": settings["stats"]["alpha"]},
))
