"""``nas dashboard STUDY_FOLDER``: optuna-dashboard on the study's storage, for watching a search live."""

from __future__ import annotations

import optuna_dashboard

from nas.search import studies
from nas.search.studies import StudyFolder


def serve(folder: StudyFolder, host: str, port: int) -> None:
    """Serves the study until interrupted. Objective names (psnr, macs, ...) are set when the study is created.

    Raises:
        StudyError: the folder holds no study.
    """
    source, storage = studies.load_stored_study(folder)
    print(f"optuna-dashboard for study {source.study_name!r}: http://{host}:{port}/", flush=True)
    optuna_dashboard.run_server(storage, host=host, port=port)
