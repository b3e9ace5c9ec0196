"""Reading a study: fronts, statistics, figures, the report and the dashboard."""
