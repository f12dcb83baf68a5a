# The rules, generated from the plan (sslmem.plan): one rule per kind of job, all from the template below, and
# one target rule per named target. Nothing is planned here; a new study declares its jobs in its module.


def _outputs(kind):
    """The kind's output patterns, marked as Snakemake wants them (protected checkpoints, folders, report items)."""
    marked = {}
    for name, pattern in kind.outputs.items():
        if name in kind.directories:
            pattern = directory(pattern)
        if name in kind.protected:
            pattern = protected(pattern)
        if kind.report:
            pattern = report(pattern, caption="../report/result.rst", category=kind.report[0])
        marked[name] = pattern
    return marked


def _params(kind):
    params = {"settings": kind.fingerprint, **kind.params}
    if kind.report:
        params["caption"] = kind.report[1]
    return params


def _job_rule(kind):
    # One rule per kind, defined inside a function so that the rule's lambdas and shell command read this call's
    # `kind`, not the last value of a loop variable.
    values = kind.resources(SETTINGS)
    rule:
        name:
            kind.name
        input:
            unpack(kind.input_files),
        output:
            **_outputs(kind),
        log:
            kind.log_pattern(),
        benchmark:
            kind.benchmark_pattern()
        params:
            **_params(kind),
        threads: values["threads"]
        retries: values["retries"]
        resources:
            **values["resources"],
        localrule: kind.local
        wildcard_constraints:
            **kind.constraints,
        conda:
            SOFTWARE_ENV
        shell:
            f"{SSLMEM} {kind.command} > {{log}} 2>&1"


def _target_rule(name, files):
    rule:
        name:
            name
        input:
            files,


for _kind in PLAN.kinds:
    _job_rule(_kind)
for _kind in PLAN.kinds:
    for _loser in _kind.wins_over:
        workflow.ruleorder(_kind.name, _loser)
for _name, _files in PLAN.targets.items():
    if _name != "all":
        _target_rule(_name, _files)
