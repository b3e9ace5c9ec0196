"""The study folder as data, below both the search that trains into it and the report that reads it.

``folder`` (``StudyFolder``, the one owner of every path of a study folder, and ``Kind``: the search, confirmation
and experiment studies it holds), ``records`` (one ``TrialRecord`` per trial, its ``Outcome``, the trials CSV),
``journal`` (repairing a cut journal, refusing a damaged one), ``storage`` (the Optuna storage, opened for reading
or for writing), ``lock`` (one search at a time), ``lifecycle`` (create, reopen, requeue interrupted trials, move
aside, open), ``machine`` (what ``environment.json`` records). It imports Optuna, never Ray.

The names a reader of a study needs are handed on here.
"""

from nas.files import write_atomically
from nas.study.folder import Kind, StudyError, StudyFolder
from nas.study.storage import completed_designed, load_designed, load_study

__all__ = ["Kind", "StudyError", "StudyFolder", "completed_designed", "load_designed", "load_study", "write_atomically"]
