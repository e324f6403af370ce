"""Step generation (before the steps store): task definitions -> prompt -> OpenAI-compatible chat model -> parsed steps.

prompt.py (the versioned prompt), parse.py (model text -> steps, or a rejection reason),
tokens.py (tiktoken offline + the dated price table), limiter.py (requests/tokens per minute),
client.py (the OpenAI client, retries with backoff), runner.py (concurrent, resumable runs),
batch.py (the Batch API path), judge.py (LLM ratings of generated steps).
"""
