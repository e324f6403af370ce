"""Human quality ratings of the steps: import, agreement, report, and the local rating page.

The store format itself lives in :mod:`stepinst_data.stores.ratings`; this package is what people
do with it. Annotators named ``llm:<model>`` are LLM judges and are kept apart from the humans in
every agreement figure.
"""
