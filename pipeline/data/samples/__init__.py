"""Sample data: generated retail and subscription histories with planted churn causes, and the real CDNOW history."""
