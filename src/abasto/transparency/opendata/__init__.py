"""Open data downloads: every public table as CSV and Parquet."""
