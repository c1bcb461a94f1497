"""The pipeline: extract → voice → timeline → images → narration → compose → publish."""
