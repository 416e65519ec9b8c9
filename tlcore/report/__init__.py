"""Figures, comparisons and time estimates built from run folders."""
