"""Stage 5, the Hub: a checked release folder in, one commit on a Hub dataset repo out.

push.py (checks, chunked pre-upload, one commit, resume), verify.py (a folder or Hub repo proven
to come from its inputs by a byte-for-byte rebuild; opens the release ``build --like`` names).
"""
