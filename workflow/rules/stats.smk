# Stage: stats — tables and figures from the tidy per-point scores (never from typed numbers).


rule table1:
    input:
        scores=all_score_files(),
        probes=all_probe_files(),
    output:
        "results/table1.csv",
    shell:
        "{SSLMEM} table table1 --scores {input.scores} --probes {input.probes} --out {output}"


rule significance_table:
    input:
        all_score_files(),
    output:
        "results/{table}.csv",
    wildcard_constraints:
        table="table2|table16|subsets",
    shell:
        "{SSLMEM} table {wildcards.table} --scores {input} --out {output}"


rule score_figure:
    input:
        all_score_files(),
    output:
        "results/{figure}.png",
    wildcard_constraints:
        figure="fig2a|fig2c",
    shell:
        "{SSLMEM} figure {wildcards.figure} --scores {input} --out {output}"
