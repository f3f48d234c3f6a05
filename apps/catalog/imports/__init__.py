"""Catalog, stock and contract-price imports: readers, validation, bulk writers, anomalies and jobs."""
