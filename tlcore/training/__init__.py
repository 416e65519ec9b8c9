"""Strategies as plans of phases, the one training loop, features and metrics."""
