"""``churn learn-effects``: learning whom the call helps from past lists (body in ``run``)."""
