"""The run store: run folders (tlcore.runs.store.folder.RunFolder), making them, listing them, what a
person keeps about them (notes), the kept model's answers (predictions) and the runs a run starts from
(sources). The lowest room of tlcore.runs: it imports nothing of the others."""
