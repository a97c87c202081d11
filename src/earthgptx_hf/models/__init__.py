"""Model implementations, one folder each, as transformers lays them out."""
