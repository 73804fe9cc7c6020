"""Outcomes of a risk list once its horizon has passed: list quality, value captured, action effects against holdouts.

``pipeline.outcomes.figures.run`` holds the body of ``churn outcomes``."""
