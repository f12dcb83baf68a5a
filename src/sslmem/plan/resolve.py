"""Targets → concrete jobs: which job of which kind makes each file, and what it reads, recursively.

Snakemake resolves the same graph from the same kinds when it runs; this copy serves what must be known
without running it: dvc.yaml's dependencies between stages, ``sslmem plan`` (encoders, jobs and cost per target)
and the tests that count training jobs. A test checks that both resolve the same outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sslmem.jobs.kinds import JobKind, _compile, wildcards_of


@dataclass(frozen=True)
class Job:
    """One job: its kind, wildcards, the files it reads and the files it writes."""

    kind: JobKind
    wildcards: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.kind.name


class Resolver:
    """Finds the job making each requested file among the plan's kinds (``wins_over`` breaks ties)."""

    def __init__(self, kinds: Iterable[JobKind]):
        self.kinds = list(kinds)
        # Every output pattern of every kind: a job is found from any of its files.
        self._patterns = [(kind, _compile(pattern, kind.constraints)) for kind in self.kinds
                          for pattern in kind.outputs.values()]
        self._made: dict[str, Job | None] = {}

    def producer(self, path: str) -> Job | None:
        """The job making `path`, or None when no kind does (a source file, e.g. params.yaml)."""
        if path in self._made:
            return self._made[path]
        candidates = {}
        for kind, regex in self._patterns:
            match = regex.match(path)
            if match and kind.name not in candidates:
                candidates[kind.name] = (kind, match.groupdict())
        candidates = list(candidates.values())
        if len(candidates) > 1:
            losers = {loser for kind, _ in candidates for loser in kind.wins_over}
            candidates = [(kind, found) for kind, found in candidates if kind.name not in losers]
        if len(candidates) > 1:
            raise ValueError(f"{path}: made by more than one kind of job: {[kind.name for kind, _ in candidates]}")
        job = self._job(*candidates[0]) if candidates else None
        for output in job.outputs if job else (path,):
            self._made[output] = job
        return job

    def _job(self, kind: JobKind, found: dict) -> Job:
        wildcards = wildcards_of(**found)
        inputs = []
        for value in kind.input_files(wildcards).values():
            inputs += value if isinstance(value, list) else [value]
        outputs = tuple(pattern.format(**found) for pattern in kind.outputs.values())
        return Job(kind, tuple(sorted(found.items())), tuple(inputs), outputs)

    def jobs(self, targets: Iterable[str]) -> list[Job]:
        """Every job the targets need, each once, inputs before the jobs that read them."""
        ordered: list[Job] = []
        seen: set[int] = set()
        stack = [(path, False) for path in reversed(list(targets))]
        while stack:
            path, expanded = stack.pop()
            job = self.producer(path)
            if job is None or id(job) in seen:
                continue
            if expanded:
                seen.add(id(job))
                ordered.append(job)
                continue
            stack.append((path, True))
            stack += [(source, False) for source in reversed(job.inputs)]
        return ordered


