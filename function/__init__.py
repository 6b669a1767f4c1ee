"""cpu-alert-labeler: Alertmanager webhook -> native CPU classifier -> pod label."""
