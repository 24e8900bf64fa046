"""The model-card generator behind ``tools/model_cards.py`` (usage: `cardgen.cli`), one job per module.

``common``: paths, `CardError`, path display; ``text``: markdown/number formatting; ``templates``: the hand-written
templates and which card lists which model; ``measure``: the measurement file and CPU timing; ``tables``: the
variants and weights tables; ``render``: configs, usage recipes, whole cards and ``--check``; ``cli``: the command.
"""
