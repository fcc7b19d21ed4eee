"""Measuring a trained network: the analyzer (analyzer.py), its metric table (metrics.py) and the tidy tables
(tables.py).

Importing this package imports no TensorFlow (the report reads metrics and tables); only analyzer.py does."""
