"""Scoring: probabilities, value, SHAP drivers and reasons, risk bands, the call list, changes since the last list, health.

``pipeline.scoring.run`` holds the body of ``churn score``."""
