"""The teacher's view of a class: everyone's runs, a leaderboard on a test set only the teacher keeps,
the class's results as CSV, and a reset that archives every student's work between classes.

The top layer of the engine: it reads the run store and predicts with runs' models (tlcore.serve).
Every action here is the teacher's alone; a student asking is refused (tlcore.people.person.NotYours).
"""
