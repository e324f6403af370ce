"""Stage 1, the source: SUP-NATINST task files in, a normalized task table out.

fetch.py (a folder or an archive URL, downloaded once into the cache), natinst.py (one task file
-> a normalized ``Task``: schema variants, splits, instance sampling), table.py (the corpus parsed
once in worker processes and cached on disk), selection.py (which tasks a command covers).
"""
