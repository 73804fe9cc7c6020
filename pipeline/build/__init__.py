"""Building feature tables and training sets as of a date: families over customer shards, labels, contracts, your own families."""
