"""The app's shared pieces: engine handles held across reruns, session state, and UI sections.

Pages import from here and from tlcore; nothing here imports torch directly.
"""
