"""What a set of paths looks like (type, mode, owner, link target, content digest), to compare before and after.

Runs as a script too (`python3 tests/support/treestate.py ROOT...` prints JSON), so a throwaway host can report
its own merged view.
"""

import hashlib
import json
import os
import stat
import sys


def entry_state(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = stat.S_IFMT(info.st_mode)
    state = [kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid]
    if stat.S_ISLNK(info.st_mode):
        state.append(os.readlink(path))
    elif stat.S_ISREG(info.st_mode):
        with open(path, "rb") as stream:
            state.append(hashlib.sha256(stream.read()).hexdigest())
    return state


def tree_state(top):
    """{relative path: state} for top and everything below it."""
    states = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(folder, name)
            states[os.path.relpath(path, top)] = entry_state(path)
    return states


def paths_state(paths):
    return {path: entry_state(path) for path in paths}


if __name__ == "__main__":
    print(json.dumps(tree_state(sys.argv[1])))
