"""Serving the registry's champions: reasons, batch scoring, the prediction log and the BentoML service."""
