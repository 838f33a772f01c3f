"""Rendering only: the HTML report, its figures, the model card, the audit page and the comparison of runs."""
