"""Human quality ratings of the steps: import, agreement, report, and the local rating page.

The store format itself lives in :mod:`stepinst_data.ratings_store`; this package is what people
do with it. Annotators named ``llm:<model>`` are LLM judges and are kept apart from the humans in
every agreement figure.
"""

LLM_PREFIX = "llm:"


def is_llm(annotator: str) -> bool:
    """LLM judges are recorded as ``llm:<model>``; agreement is reported for humans separately."""
    return annotator.startswith(LLM_PREFIX)
