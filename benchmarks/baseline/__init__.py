"""The baseline: the Channels tutorial's chat consumer, stores nothing (see consumers.py)."""
