"""Real services for the tests: a Postgres database, a Redis db, moto's S3 server,
a tiny model built offline, and genq worker processes."""
