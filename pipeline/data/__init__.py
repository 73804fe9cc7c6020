"""Input data: finding and reading the tables (sources), validating them (validate) and generated samples."""
