"""The command line's engine, one module per family of commands; `python -m tlcore` is its entry point.

options.py   argument types and the options every run takes (train and an experiment's runs)
train.py     train and experiment: runs made and trained in this process
serve.py     predict, export, explain and check-labels: a trained model, or a dataset, put to use
tools.py     vendor, backbones, weights and worker: setting up, and the app runner's worker
commands.py  the parser of every command and the function that runs each
"""
