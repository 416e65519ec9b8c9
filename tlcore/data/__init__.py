"""Folders, zips and uploads into checked manifests; decoded pictures; batches."""
