"""Residual PPO: customise a frozen prior policy with PPO on ``r_R + ω'·log π_prior - α̂·log πθ`` (Eq. 7-8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch as th
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, unwrap_vec_normalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvWrapper

from sb3_rpg.common.adaptive_lr import MAX_LR, MIN_LR
from sb3_rpg.common.prior import (
    FrozenObsNormalize,
    ObsNormalization,
    PriorLike,
    VecNormalizeLike,
    actor_state_dict,
    check_prior_spaces,
    copy_actor,
    freeze,
    load_prior_policy,
    policy_constructor_data,
    prior_log_prob,
)
from sb3_rpg.soft_ppo.soft_ppo import SoftPPO, check_coef

# Constructor parameters of the prior's policy that make the customised policy's actor match it.
_INHERITED_POLICY_KWARGS = (
    "net_arch",
    "activation_fn",
    "log_std_init",
    "ortho_init",
    "features_extractor_class",
    "features_extractor_kwargs",
    "share_features_extractor",
    "normalize_images",
    "state_dependent_std",
    "log_std_min",
    "log_std_max",
)


def _has_frozen_obs_normalize(env: VecEnv) -> bool:
    while isinstance(env, VecEnvWrapper):
        if isinstance(env, FrozenObsNormalize):
            return True
        env = env.venv
    return False


def _eval_callbacks(callback: Any, seen: set[int] | None = None) -> Iterator[EvalCallback]:
    """Every ``EvalCallback`` in a callback argument of ``learn()`` (a callback, a list, nested ones)."""
    seen = set() if seen is None else seen
    if id(callback) in seen:
        return
    seen.add(id(callback))
    if isinstance(callback, (list, tuple)):
        for item in callback:
            yield from _eval_callbacks(item, seen)
        return
    if not isinstance(callback, BaseCallback):
        return
    if isinstance(callback, EvalCallback):
        yield callback
    for name, value in vars(callback).items():
        if name != "parent" and isinstance(value, (BaseCallback, list)):
            yield from _eval_callbacks(value, seen)


class ResidualPPO(SoftPPO):
    """Residual PPO (Wang et al., *Residual Policy Gradient*, Eq. 7-8): customises a frozen prior policy
    to an add-on reward ``r_R`` without knowing the prior's reward, by PPO on

        ``r_R(s,a) + ω'·log π_prior(a|s) - α̂·log πθ(a|s)``

    with ``prior_coef`` = ω' and ``ent_coef`` = α̂. Greedy PPO is ``prior_coef=0``; KL PPO (a KL penalty
    to the prior) is ``prior_coef == ent_coef``. The env's reward is r_R.

    The prior is frozen (eval mode, no gradients, not in the optimizer) and its log-probs come from one
    batched forward pass per rollout. The actor starts as a copy of the prior's (``init_from_prior``) and
    the value function starts fresh; during the first ``critic_warmup`` fraction of the first ``learn()``
    call only the value function trains (the warm-up is counted once per model: further ``learn()`` calls,
    and a model saved and loaded mid-warm-up, continue it). If the prior was trained under
    ``VecNormalize``, the environment is wrapped in a :class:`~sb3_rpg.common.prior.FrozenObsNormalize`
    holding the prior's observation statistics, so that the prior and the copied actor see observations
    as in the prior's training. As with any SB3 model trained under ``VecNormalize``, ``predict`` then
    expects normalised observations: act on ``model.wrap_env(env)``; ``EvalCallback``'s eval envs are
    wrapped automatically, and :func:`~sb3_rpg.envs.evaluate_episodes` normalises on its own.

    :param policy: The policy model to use (``"MlpPolicy"``, ``"StateStdMlpPolicy"``, ... or a class)
    :param env: The environment to learn from, whose reward is the add-on reward r_R
    :param prior: The prior: an SB3 on-policy model without gSDE (PPO, A2C, SoftPPO,
        ResidualPPO, ...), its policy, or the path of its saved ``.zip``. Required except when loading.
    :param prior_coef: ω' >= 0, the weight of ``log π_prior(a|s)`` in the reward
    :param ent_coef: α̂ >= 0, the entropy coefficient; where it acts depends on ``entropy_mode``
    :param entropy_mode: ``"soft"`` (default, the paper's), ``"end"`` or ``"repeat"``, as in :class:`SoftPPO`
    :param init_from_prior: Start the actor (features, policy net, mean head, std) as a copy of the prior's
    :param critic_warmup: Fraction in [0, 1) of the first ``learn()`` call's timesteps during which only
        the value function trains (the paper uses 0.05)
    :param prior_vec_normalize: The ``VecNormalize`` (or its saved ``.pkl`` path) the prior was trained
        under. None: taken from the prior when it has them (a live model's ``VecNormalize``, a
        ResidualPPO's own statistics, or ``<stem>_vecnormalize.pkl`` beside a prior's ``.zip``), otherwise
        the prior saw raw observations.
    :param learning_rate: The learning rate, a constant or a function of the remaining progress (1 to 0)
    :param n_steps: The number of steps to run for each environment per update
    :param batch_size: Minibatch size
    :param n_epochs: Number of epochs when optimizing the surrogate loss
    :param gamma: Discount factor
    :param gae_lambda: Factor for trade-off of bias vs variance for Generalized Advantage Estimator
    :param clip_range: Clipping parameter ε, a constant or a function of the remaining progress
    :param clip_range_vf: Clipping parameter for the value function (None: no clipping)
    :param normalize_advantage: Whether to normalize the advantage
    :param vf_coef: Value function coefficient for the loss calculation
    :param max_grad_norm: The maximum value for the gradient clipping
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
    :param rollout_buffer_class: Rollout buffer class, a subclass of ``SoftRewardMixin``
    :param rollout_buffer_kwargs: Keyword arguments to pass to the rollout buffer on creation
    :param target_kl: Limit the KL divergence between updates (None: no limit)
    :param desired_kl: rsl-rl's adaptive learning rate, as in :class:`SoftPPO` (None: SB3's schedule); it
        adapts only on updates after the critic warm-up, when the actor moves
    :param kl_adaptation: ``"update"`` (default) or ``"minibatch"`` (rsl-rl's), as in :class:`SoftPPO`
    :param adaptive_lr_bounds: lowest and highest adaptive learning rate, as in :class:`SoftPPO`
    :param stats_window_size: Window size for the rollout logging (episodes)
    :param tensorboard_log: The log location for tensorboard (None: no logging)
    :param policy_kwargs: Arguments of the policy; None takes the prior's architecture
    :param verbose: 0 no output, 1 info messages (the training table), 2 debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        prior: PriorLike | None = None,
        prior_coef: float = 0.01,
        ent_coef: float = 0.001,
        entropy_mode: str = "soft",
        init_from_prior: bool = True,
        critic_warmup: float = 0.05,
        prior_vec_normalize: VecNormalizeLike | None = None,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
        desired_kl: float | None = None,
        kl_adaptation: str = "update",
        adaptive_lr_bounds: tuple[float, float] = (MIN_LR, MAX_LR),
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        self.prior_coef = check_coef("prior_coef", prior_coef)
        critic_warmup = check_coef("critic_warmup", critic_warmup)
        if critic_warmup >= 1:
            raise ValueError(f"critic_warmup is a fraction of the timesteps in [0, 1), got {critic_warmup}")
        self.critic_warmup = critic_warmup
        self.init_from_prior = init_from_prior
        #: Warm-up timesteps still ahead (negative once the actor trains); set by the first learn().
        self._critic_warmup_left: float | None = None
        self.prior_policy: ActorCriticPolicy | None = None
        self.prior_normalization: ObsNormalization | None = None
        if _init_setup_model:
            if prior is None:
                raise ValueError("ResidualPPO needs a prior: ResidualPPO(policy, env, prior=model_or_path)")
            self.prior_policy, self.prior_normalization = load_prior_policy(prior)
            if prior_vec_normalize is not None:
                self.prior_normalization = ObsNormalization.from_vec_normalize(prior_vec_normalize)
            # Kept so that load() can rebuild the prior without its file (its weights go in the state dicts).
            self.prior_policy_class = type(self.prior_policy)
            self.prior_policy_data = policy_constructor_data(self.prior_policy)
            if policy_kwargs is None:
                policy_kwargs = {
                    key: self.prior_policy_data[key]
                    for key in _INHERITED_POLICY_KWARGS
                    if self.prior_policy_data.get(key) is not None
                }
                if not policy_kwargs.get("state_dependent_std"):
                    policy_kwargs.pop("state_dependent_std", None)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            entropy_mode=entropy_mode,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            desired_kl=desired_kl,
            kl_adaptation=kl_adaptation,
            adaptive_lr_bounds=adaptive_lr_bounds,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )
        if _init_setup_model and self.init_from_prior:
            assert self.prior_policy is not None
            copy_actor(self.prior_policy, self.policy)

    def _setup_model(self) -> None:
        if self.prior_policy is None:  # load(): rebuilt here, weights from the saved state dicts
            self.prior_policy = self.prior_policy_class(**self.prior_policy_data)
        old_warmup_end = self.__dict__.pop("_critic_warmup_end", None)  # saved by earlier versions
        if (
            getattr(self, "_critic_warmup_left", None) is None
            and old_warmup_end is not None
            and old_warmup_end >= 0
        ):
            self._critic_warmup_left = old_warmup_end - self.num_timesteps
        if self.env is not None:
            self.env = self._wrap_prior_normalization(self.env)
            self._vec_normalize_env = unwrap_vec_normalize(self.env)
        check_prior_spaces(self.prior_policy, self.observation_space, self.action_space)
        super()._setup_model()
        self.prior_policy = freeze(self.prior_policy.to(self.device))

    def _wrap_prior_normalization(self, env: VecEnv) -> VecEnv:
        """Normalise observations with the prior's frozen statistics (once), or check they need none."""
        if _has_frozen_obs_normalize(env):
            return env
        vec_normalize = unwrap_vec_normalize(env)
        drifting = vec_normalize is not None and vec_normalize.norm_obs and vec_normalize.training
        if self.prior_normalization is None:
            if drifting:
                raise ValueError(
                    "the env is a VecNormalize that updates its observation statistics (norm_obs=True, "
                    "training=True): the prior and the actor copied from it would see observations "
                    "normalised differently from the prior's training. Pass the prior's statistics with "
                    "prior_vec_normalize=..., or set training=False on a VecNormalize holding them."
                )
            return env
        if vec_normalize is not None and vec_normalize.norm_obs:
            raise ValueError(
                "the env already normalises observations (VecNormalize with norm_obs=True) and the prior has its "
                "own statistics: ResidualPPO normalises with the prior's; pass the env with norm_obs=False"
            )
        return FrozenObsNormalize(env, self.prior_normalization)

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(self._wrap_prior_normalization(self._wrap_env(env, self.verbose)), force_reset)

    def wrap_env(self, env: GymEnv) -> VecEnv:
        """``env`` as this model acts on it: vectorised, and normalised with the prior's frozen observation
        statistics if the prior had any (the same wrapper as the training env's), e.g. for evaluation.

        :param env: a Gymnasium env or a VecEnv returning raw observations
        :return: the VecEnv to call ``predict`` / ``evaluate_policy`` on
        """
        if not isinstance(env, VecEnv):
            single_env = env
            env = DummyVecEnv([lambda: single_env])
        return self._wrap_prior_normalization(env)

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        # An EvalCallback's env must see what the training env shows the policy (and SB3's
        # sync_envs_normalization asserts both are wrapped alike once the model has a VecNormalize).
        for eval_callback in _eval_callbacks(callback):
            eval_env = eval_callback.eval_env
            if not _has_frozen_obs_normalize(eval_env):
                eval_callback.eval_env = self._wrap_prior_normalization(eval_env)
        return super()._init_callback(callback, progress_bar)

    def _reward_terms(self) -> dict[str, Any]:
        terms = super()._reward_terms()
        terms["prior_coef"] = self.prior_coef
        terms["prior_log_prob_fn"] = partial(prior_log_prob, self.prior_policy)
        return terms

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, torch_variables = super()._get_torch_save_params()
        return [*state_dicts, "prior_policy"], torch_variables

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if self._critic_warmup_left is None:
            self._critic_warmup_left = self.critic_warmup * (total_timesteps - self.num_timesteps)
        return total_timesteps, callback

    @contextmanager
    def _actor_frozen(self) -> Iterator[None]:
        """Stop gradients to the actor so that the optimizer leaves it untouched (Adam skips grad-less
        parameters, its moments included)."""
        actor_keys = set(actor_state_dict(self.policy))
        actor = [param for name, param in self.policy.named_parameters() if name in actor_keys]
        for param in actor:
            param.requires_grad_(False)
        try:
            yield
        finally:
            for param in actor:
                param.requires_grad_(True)

    def _actor_trains(self) -> bool:
        return self._critic_warmup_left is None or self._critic_warmup_left < 0

    def train(self) -> None:
        if self._critic_warmup_left is not None and self._critic_warmup_left >= 0:
            self._critic_warmup_left -= self.n_steps * self.n_envs  # the rollout this update learns from
        warming_up = not self._actor_trains()
        self.logger.record("train/critic_warmup", float(warming_up))
        if not warming_up:
            super().train()
            return
        with self._actor_frozen():
            super().train()
