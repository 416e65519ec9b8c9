"""Backbones and their weights, heads, the classifier and its checkpoints."""
