"""The run directory: its format, what counts as a result, tables, comparisons and statistics."""
