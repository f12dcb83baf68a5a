# Stage: stats — tables and figures from the tidy per-point scores (never from typed numbers).
# Each output is flagged for `snakemake --report` with its caption in workflow/report/<target>.rst.


rule table1:
    input:
        scores=all_score_files(),
        probes=all_probe_files(),
    output:
        report("results/table1.csv", caption="../report/table1.rst", category="Tables"),
    params:
        bootstrap=sslmem_config.fingerprint(SETTINGS["stats"]["bootstrap"]),
        paper_setups=sslmem_config.paper_setups(SETTINGS),
    shell:
        "{SSLMEM} table table1 --scores {input.scores} --probes {input.probes} --out {output}"


rule table15:
    input:
        "results/table1.csv",
    output:
        report("results/table15.csv", caption="../report/table15.rst", category="Tables"),
    params:
        archs=sslmem_config.fingerprint(SETTINGS["archs"]),
        paper_setups=sslmem_config.paper_setups(SETTINGS),
    shell:
        "{SSLMEM} table15 --table1 {input} --out {output}"


rule table11:
    input:
        "results/table1.csv",
    output:
        report("results/table11.csv", caption="../report/table11.rst", category="Tables"),
    params:
        rows=lambda w: sslmem_config.fingerprint(
            [[name, sslmem_config.setup_recipe(SETTINGS, name)["epochs"]] for name in SETTINGS["report"]["table11"]]
        ),
    shell:
        "{SSLMEM} table11 --table1 {input} --out {output}"


# One rule per target (not one rule with a wildcard) so that each output carries its own caption file.
for _table in ["table2", "table16", "table13", "subsets"]:

    rule:
        name:
            f"significance_{_table}"
        input:
            all_score_files(),
        output:
            report(f"results/{_table}.csv", caption=f"../report/{_table}.rst", category="Tables"),
        params:
            table=_table,
            # table2/16 use alpha; subsets the bootstrap; table13 neither.
            settings=sslmem_config.fingerprint(
                SETTINGS["stats"]["bootstrap"] if _table == "subsets" else SETTINGS["stats"]["alpha"]
            ),
            # table13 compares setups by (method, arch, epochs) with the paper's rows.
            setups=sslmem_config.training_length_identities(SETTINGS) if _table == "table13" else None,
            paper_setups=sslmem_config.paper_setups(SETTINGS),
        shell:
            "{SSLMEM} table {params.table} --scores {input} --out {output}"


for _figure in ["fig2a", "fig2c"]:

    rule:
        name:
            f"score_{_figure}"
        input:
            all_score_files(),
        output:
            report(f"results/{_figure}.png", caption=f"../report/{_figure}.rst", category="Figures"),
        params:
            figure=_figure,
            bins=SETTINGS["report"]["histogram_bins"] if _figure == "fig2c" else None,
        shell:
            "{SSLMEM} figure {params.figure} --scores {input} --out {output}"


rule layermem_table:
    input:
        all_layer_score_files(),
    output:
        report("results/layermem.csv", caption="../report/layermem.rst", category="Localization"),
    shell:
        "{SSLMEM} table layermem --scores {input} --out {output}"


rule layermem_figure:
    input:
        all_layer_score_files(),
    output:
        report("results/layermem_fig.png", caption="../report/layermem_fig.rst", category="Localization"),
    shell:
        "{SSLMEM} figure layermem --scores {input} --out {output}"


rule unitmem_table:
    input:
        # g's files too (the align jobs write them), though the table reads f only: UnitMem is f's measure.
        units=all_encoder_files("results/unitmem/{dataset}/{setup}/{role}{seed}.parquet"),
        scores=all_score_files(),
    output:
        report("results/unitmem.csv", caption="../report/unitmem.rst", category="Localization"),
    shell:
        "{SSLMEM} unitmem --units {input.units} --scores {input.scores} --out {output}"
