"""b2bscore: predictive scoring for B2B sales and marketing."""

__version__ = "0.1.0"
