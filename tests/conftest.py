"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_copy import copy_workflow, snakemake


@pytest.fixture(scope="session")
def built_test_workflow(tmp_path_factory) -> Path:
    """The workflow copied once and its test preset's default targets built: the core encoders every end-to-end
    test of a study needs, trained once per session. Tests copy it (workflow_copy.copy_built_workflow) and build
    their own target there; none changes this folder."""
    workdir = tmp_path_factory.mktemp("built_test_workflow")
    copy_workflow(workdir)
    snakemake(workdir)
    return workdir
