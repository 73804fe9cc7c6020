"""Feature families. Importing this package registers every family (order = column order)."""

from features import (  # noqa: F401  (imported to register)
    recency,
    frequency,
    monetary,
    trend,
    regularity,
    tenure,
    basket,
    returns,
    payments,
    engagement,
    service,
    satisfaction,
    loyalty_program,
    btyd,
    profile,
    subscription,
)
from features.registry import FAMILIES, Context, Family, Feature, FeatureSpec

__all__ = ["FAMILIES", "Context", "Family", "Feature", "FeatureSpec"]
