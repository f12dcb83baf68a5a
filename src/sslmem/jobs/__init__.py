"""Kinds of job (:class:`~sslmem.jobs.kinds.JobKind`) and the encoder jobs every study reuses
(:mod:`~sslmem.jobs.encoders`). Below the studies, which declare their own kinds with them, and the plan, which
collects them (:mod:`sslmem.plan`)."""

from sslmem.jobs.kinds import DEFAULT_CONSTRAINTS, JobKind, wildcards_of

__all__ = ["DEFAULT_CONSTRAINTS", "JobKind", "wildcards_of"]
