"""Transfer Learning Studio engine: data, backbones, strategies, training, runs. No UI code here."""
