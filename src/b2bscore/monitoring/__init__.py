"""Monitoring: Evidently drift checks per segment, realised-vs-predicted performance, alerts without storms,
and the segment refresh (and optional retraining) an alert sets off.

Build -> extract -> persist: ``check_drift`` turns reference and current rows into typed per-segment results,
``judge`` gives each segment its status, and the reports, JSON, MLflow run and alerts are written from them.
"""

from b2bscore.monitoring.config import MonitorConfig, load_monitor_config
from b2bscore.monitoring.drift import FeatureSchema, check_drift
from b2bscore.monitoring.job import MonitorRun, run_monitor
from b2bscore.monitoring.result import MonitorResult, SegmentResult, TaskCheck

__all__ = ["FeatureSchema", "MonitorConfig", "MonitorResult", "MonitorRun", "SegmentResult", "TaskCheck", "check_drift",
           "load_monitor_config", "run_monitor"]
