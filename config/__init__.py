"""The configuration: the file's sections as strict models (config.sections), how a file is read
and checked (config.parse, with config.targets, config.zones, config.windows), and the resolved
view every other part reads (config.model). This module gathers the names they use."""

from config.model import Config
from config.parse import check, parse
from config.sections import (
    ActionPlanLine,
    ClusterSettings,
    ContinuitySettings,
    DatacenterHost,
    DatacenterRules,
    DatacenterSettings,
    Defaults,
    FileSettings,
    FindingOverride,
    MaintenanceWindow,
    ProbingSettings,
    ReportSettings,
    SecuritySettings,
    StatusPageSettings,
    StoreSettings,
    TargetSettings,
    WebSettings,
)
from config.targets import RESERVED_LABELS
from config.windows import stored_window
from domain.target import Target
from domain.windows import Maintenance

__all__ = [
    "RESERVED_LABELS",
    "ActionPlanLine",
    "ClusterSettings",
    "Config",
    "ContinuitySettings",
    "DatacenterHost",
    "DatacenterRules",
    "DatacenterSettings",
    "Defaults",
    "FileSettings",
    "FindingOverride",
    "Maintenance",
    "MaintenanceWindow",
    "ProbingSettings",
    "ReportSettings",
    "SecuritySettings",
    "StatusPageSettings",
    "StoreSettings",
    "Target",
    "TargetSettings",
    "WebSettings",
    "check",
    "parse",
    "stored_window",
]
