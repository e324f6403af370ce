"""Stage 5, the Hub: a checked release folder in, one commit on a Hub dataset repo out."""
