"""Processing: phase retrieval, sinograms, reconstruction, quality figures."""
