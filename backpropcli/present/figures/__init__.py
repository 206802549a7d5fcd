"""matplotlib figures (Agg), each written atomically as PNG: one module per kind."""
