"""One module per stage; each exposes ``run(ctx)`` and commits nothing itself (the runner does)."""
