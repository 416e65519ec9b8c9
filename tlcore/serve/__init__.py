"""Using a trained model: prediction, export, the exported web page."""
