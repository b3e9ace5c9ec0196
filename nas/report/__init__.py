"""Reading a study through ``nas.study``, never ``nas.search`` or Ray: fronts, statistics, figures, the report, the
dashboard."""
