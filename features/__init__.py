"""Feature families. Importing this package registers every family (order = column order)."""

from features import (  # noqa: F401  (imported to register)
    activity,
    basket,
    btyd,
    engagement,
    frequency,
    loyalty_program,
    monetary,
    payments,
    profile,
    recency,
    regularity,
    returns,
    satisfaction,
    season,
    service,
    subscription,
    tenure,
    trend,
)
from features.registry import FAMILIES, Context, Family, Feature, FeatureSpec

__all__ = ["FAMILIES", "Context", "Family", "Feature", "FeatureSpec"]
