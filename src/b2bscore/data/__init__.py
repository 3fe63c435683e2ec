"""The data contract, loading, mapping and validation of b2bscore data directories."""
