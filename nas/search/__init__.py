"""The search: the study folder, trial records, the evaluation store, the Ray worker and searcher, the run.

The only package that imports Ray (inside its worker, searcher and run modules).
"""
