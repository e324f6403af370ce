"""Stage 3, the dataset: task table + stores in, rows of every configuration out.

configs.py (the one table of configurations), orderings.py (ordered/shuffled/reversed steps),
template.py (the one prompt template), inputs.py (the joined inputs of a build), render.py
(columnar rendering of rows), builder.py (the ``datasets`` builder), export.py (Parquet files
of a Hub-ready folder), stats.py (figures of a build), validate.py (every input problem at once).
"""
