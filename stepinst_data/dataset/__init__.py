"""Stage 3, the dataset: task table + stores in, rows of every configuration out.

plan.py (the BuildPlan: every parameter of a build, checked before a file is read), configs.py
(the one table of configurations), orderings.py (ordered/shuffled/reversed steps), template.py
(the one prompt template), inputs.py (the joined inputs of a build), render.py
(columnar rendering of rows), builder.py (the ``datasets`` builder), export.py (Parquet files of
a Hub-ready folder), outdir.py (what a build may replace: never an input, never a user's file),
manifest.py (the typed ``Manifest``, the only reader and writer of ``stepinst_build.json``),
provenance.py (inputs checked against a manifest), stats.py (figures of a build), validate.py and store_audit.py
(every input problem at once).
"""
