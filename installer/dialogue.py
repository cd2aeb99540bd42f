"""STUB (to be replaced): first-run questions."""


def ask(root, defaults):
    return defaults
