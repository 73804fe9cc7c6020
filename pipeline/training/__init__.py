"""Training: tuning, fitting and calibrating the churn and value models, backtests, the registry gate, MLflow tracking.

``pipeline.training.run`` holds the bodies of ``churn train`` and ``churn evaluate``."""
