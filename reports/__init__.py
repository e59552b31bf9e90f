"""Reports: the results store -> pandas tables -> matplotlib figures -> self-contained HTML,
and the CI regression bench.

    python -m reports --results DIR --out report.html      # index + report-<ablation>.html
    python -m reports --sample /tmp/sample --out /tmp/r.html   # preview on sample data
    python -m reports.bench                                 # regression bench (nox -s bench)
    python -m reports.browser report.html --screenshot s.png   # headless Chromium check

Modules: tables (pure DataFrame -> DataFrame), figures (pure DataFrame -> Figure), paper (the
papers' reference values), load (results folder -> tidy frames), html (pages), sample (sample
results for all five ablations), bench, browser.
"""
