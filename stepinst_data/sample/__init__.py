"""The embedded sample: 12 SUP-NATINST-format tasks written by this project, with steps and ratings.

``stepinst build --sample`` (and ``make demo``) builds it; tests use it as a small, exact fixture.
"""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
SAMPLE_NATINST = SAMPLE_DIR / "natinst"
SAMPLE_STEPS = SAMPLE_DIR / "steps.jsonl"
SAMPLE_RATINGS = SAMPLE_DIR / "ratings.jsonl"
