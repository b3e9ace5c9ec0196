"""The search: runs trials into a study (``nas.study``): the evaluation store, the Ray worker and searcher, the
progress line, the run, and the designed runs (confirmation, experiment) trained through the same machinery.

The only package that imports Ray (its searcher and progress modules, and its run module inside functions).
"""
