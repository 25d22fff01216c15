"""RunReporter: the run's HTML report, example ledger and machine-readable summary as an artifact of every run."""
