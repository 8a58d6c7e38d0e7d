"""RouteDesk's router: scores each prompt with the probability that the weak model's answer
would be worse than the strong model's, and turns scores into routing decisions.

Pure numpy + standard library (+ ``desktop.core``). See ``features`` for what is read from a
prompt (and how multi-turn conversations are used), ``model`` for scoring and reasons,
``policy``/``calibration`` for choices, ``feedback`` for learning from the user and
``evaluation`` for APGR/CPT.
"""

from .calibration import blended_threshold, share_above
from .evaluation import RoutingMetrics, apgr, cpt, pgr_curve, routing_metrics
from .features import conversation_features, text_features
from .feedback import FEEDBACK_KINDS, FeedbackModel
from .model import Router, RouterWeights, Score, default_resource_dir, load_router, preload_router_files
from .policy import BudgetPolicy, ShareTargetPolicy

__all__ = [
    "load_router",
    "preload_router_files",
    "Router",
    "RouterWeights",
    "Score",
    "default_resource_dir",
    "ShareTargetPolicy",
    "BudgetPolicy",
    "FeedbackModel",
    "FEEDBACK_KINDS",
    "blended_threshold",
    "share_above",
    "apgr",
    "cpt",
    "pgr_curve",
    "routing_metrics",
    "RoutingMetrics",
    "text_features",
    "conversation_features",
]
