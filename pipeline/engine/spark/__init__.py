"""Apache Spark as the engine: the session, customer shards, validation and scoring in Spark tasks, URIs read through Hadoop."""
