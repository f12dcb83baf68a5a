"""Small datasets written in the real on-disk formats, shared by the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def write_tiny_fashion_mnist(root: Path, num_train: int = 120, num_test: int = 40) -> Path:
    """Fashion-MNIST's four IDX files (gzipped, as the Debian package ships them) holding random images."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", num_train), ("t10k", num_test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        for kind, array, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
            (root / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    return root


# Every knob of the `test` preset that names setups besides experiment.setups (Tables 8, 11, 12, the galleries,
# the studies): a test that keeps only some of the setups merges this into its overrides, so that nothing names a
# setup it dropped.
def _studies_with_runs() -> list[str]:
    """Every study whose params.yaml section has `runs` (each names setups and datasets), read from params.yaml
    so that a new study is cleared without editing this list."""
    import yaml

    common = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["common"]
    return [name for name, section in common["studies"].items() if isinstance(section, dict) and "runs" in section]


STUDIES_WITH_RUNS = _studies_with_runs()
NAMES_NO_OTHER_SETUP = {
    "measure": {"table8": {"runs": []}},
    "report": {"table11": [], "table12": {"setups": []}, "table4": {"setups": []}, "classmem": {"setups": []},
               "galleries": {"setups": []}},
    "studies": {**{study: {"runs": []} for study in STUDIES_WITH_RUNS},
                # the localization study names its setups in three lists of its own
                "localization": {"setups": [], "vit_parts": {"setups": []}, "atypical": {"setups": [], "planted": False}}},
}
