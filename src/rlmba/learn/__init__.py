"""RL-MBA's active-learning orchestrator in plain PyTorch: model, evidential training, metrics,
AMCB/EFDA scoring, the policy and REINFORCE, pluggable strategies, the loop, checkpoints, reports.

Pool-sized computations go through rlmba's public ops (``efda_scores``, ``entropy``,
``topb_select``, ``kmeans``, ``plackett_luce_sample`` ...); this package only orchestrates.
"""
from . import rlmba_strategy as _register_rlmba  # noqa: F401  (registers "rlmba")
from .amcb import RoundScores, amcb_weights, efda_round_scores, minmax
from .config import RLMBAConfig, RunConfig, TrainConfig, from_dict
from .evidential import edl_loss, expected_probs, fit_temperature, kl_to_uniform
from .loop import ActiveLearner, derive_seed
from .metrics import aulc, ece, imbalance, shapley_contributions, split_metrics
from .model import ModelOutput, MultimodalEvidentialNet, default_model_factory, mlp_encoder
from .policy import PolicyNet, Reinforce, Step, discounted_returns
from .reward import BaselineCurves, Reward, modality_loss
from .rlmba_strategy import RLMBAStrategy
from .runner import Experiment, plan
from .state import RunningNorm, policy_state
from .strategies import (STRATEGIES, RoundState, Strategy, available_strategies, make_strategy,
                         register_strategy)

__all__ = [
    "ActiveLearner", "Experiment", "plan", "derive_seed",
    "RunConfig", "TrainConfig", "RLMBAConfig", "from_dict",
    "MultimodalEvidentialNet", "ModelOutput", "default_model_factory", "mlp_encoder",
    "edl_loss", "kl_to_uniform", "expected_probs", "fit_temperature",
    "aulc", "ece", "imbalance", "split_metrics", "shapley_contributions",
    "amcb_weights", "efda_round_scores", "RoundScores", "minmax",
    "policy_state", "RunningNorm", "PolicyNet", "Reinforce", "Step", "discounted_returns",
    "BaselineCurves", "Reward", "modality_loss",
    "Strategy", "RoundState", "STRATEGIES", "register_strategy", "make_strategy", "available_strategies",
    "RLMBAStrategy",
]
