"""Matplotlib figures used by experiments and by users (Agg backend: no screen needed)."""

import matplotlib

matplotlib.use("Agg")
