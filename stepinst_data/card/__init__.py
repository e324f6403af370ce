"""Stage 4, the card: a built folder in, its README.md dataset card and the Hub's checks out.

render.py + sections.py (the card from the real build's figures), hub_metadata.py (the Hub's
vocabularies), check.py (local checks before any upload), release.py (``release()``: a build plan
carried from the inputs to a release folder, the one function every build runs).
"""
