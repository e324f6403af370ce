"""Stage 1, the source: SUP-NATINST task files in, a normalized task table out.

fetch.py (a folder or an archive URL, downloaded once into the cache; never caches a download
that is not an archive), natinst.py (one task file -> a normalized ``Task``: a typed fast path, schema variants,
splits, instance sampling), text_checks.py (non-text where a prompt takes text), table.py (the corpus parsed once in worker processes and
cached on disk), digest.py (what identifies the files a build read, for the manifest),
selection.py (which tasks a command covers).
"""
