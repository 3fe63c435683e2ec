"""Point-in-time features from firmographics, technographics, behaviour and intent."""

from b2bscore.features.build import build_features, feature_specs
from b2bscore.features.config import (
    CustomColumn,
    CustomFeatures,
    FeatureConfig,
    IcpConfig,
    IcpRule,
    load_feature_config,
)
from b2bscore.features.custom import resolve_custom_features
from b2bscore.features.specs import FeatureSpec

__all__ = ["CustomColumn", "CustomFeatures", "FeatureConfig", "FeatureSpec", "IcpConfig", "IcpRule", "build_features",
           "feature_specs", "load_feature_config", "resolve_custom_features"]
