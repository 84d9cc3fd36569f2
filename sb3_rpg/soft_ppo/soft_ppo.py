"""Soft PPO: PPO on the maximum-entropy reward ``r - α·log πθ(a|s)`` (paper Eq. 4-6)."""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from typing_extensions import Self  # typing.Self needs Python 3.11

from sb3_rpg.common.adaptive_lr import (
    MAX_LR,
    MIN_LR,
    adapt_learning_rate,
    check_desired_kl,
    check_kl_adaptation,
    check_lr_bounds,
    minibatch_kl,
    rollout_kl,
)
from sb3_rpg.common.buffers import SoftDictRolloutBuffer, SoftRewardMixin, SoftRolloutBuffer
from sb3_rpg.common.checks import check_coef
from sb3_rpg.common.policies import POLICY_ALIASES

# entropy_mode -> (α in the reward, α in the loss), paper Sec. III-A and Table I.
ENTROPY_MODES: dict[str, tuple[bool, bool]] = {
    "soft": (True, False),  # Soft PPO: -α·log πθ in every step's reward
    "end": (False, True),  # End-Entropy PPO: SB3's usual entropy bonus in the loss only
    "repeat": (True, True),  # Repeat-Entropy PPO: both
}


class SoftPPO(PPO):
    """Soft PPO (Wang et al., *Residual Policy Gradient*, Eq. 6): PPO whose advantages are computed on
    ``r_t - α·log πθ(a_t|s_t)``, the maximum-entropy reward, instead of on ``r_t`` plus an entropy loss.

    The log-prob is the one SB3 stores at collection time for the sampled (unclipped) action; the rewrite
    is one vectorised step per rollout (:class:`~sb3_rpg.common.buffers.SoftRewardMixin`).
    ``entropy_mode`` selects the variants of the paper's Table I; ``ent_coef=0`` is No-Entropy PPO.
    After construction ``reward_ent_coef`` is α in the reward and ``ent_coef`` is α in the loss (SB3's
    meaning), one of them 0 unless ``entropy_mode="repeat"``; to change α (in a callback, or
    ``SoftPPO.load(path, ent_coef=α)``), set :attr:`alpha`, which puts it where ``entropy_mode`` says.

    :param policy: The policy model to use (``"MlpPolicy"``, ``"StateStdMlpPolicy"``, ``"CnnPolicy"``,
        ``"MultiInputPolicy"``, or a class)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, a constant or a function of the remaining progress (1 to 0)
    :param n_steps: The number of steps to run for each environment per update
    :param batch_size: Minibatch size
    :param n_epochs: Number of epochs when optimizing the surrogate loss
    :param gamma: Discount factor
    :param gae_lambda: Factor for trade-off of bias vs variance for Generalized Advantage Estimator
    :param clip_range: Clipping parameter ε, a constant or a function of the remaining progress
    :param clip_range_vf: Clipping parameter for the value function (None: no clipping)
    :param normalize_advantage: Whether to normalize the advantage
    :param ent_coef: α, the entropy coefficient (>= 0); where it acts depends on ``entropy_mode``
    :param entropy_mode: ``"soft"`` (default): ``-α·log πθ`` in every step's reward, no entropy loss;
        ``"end"``: SB3's entropy bonus in the loss only (End-Entropy PPO); ``"repeat"``: both
        (Repeat-Entropy PPO)
    :param vf_coef: Value function coefficient for the loss calculation
    :param max_grad_norm: The maximum value for the gradient clipping
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
    :param rollout_buffer_class: Rollout buffer class, a subclass of ``SoftRewardMixin`` (default:
        ``SoftRolloutBuffer``, or ``SoftDictRolloutBuffer`` for dict observations)
    :param rollout_buffer_kwargs: Keyword arguments to pass to the rollout buffer on creation
    :param target_kl: Limit the KL divergence between updates (None: no limit)
    :param desired_kl: rsl-rl's adaptive learning rate (the paper's PPO): after each update the learning
        rate is divided by 1.5 if the update's KL divergence exceeded ``2·desired_kl`` and multiplied by 1.5
        if it was below ``desired_kl / 2`` (within ``adaptive_lr_bounds``), starting from ``learning_rate``'s
        initial value (:mod:`sb3_rpg.common.adaptive_lr`). None (default): SB3's schedule.
    :param kl_adaptation: when the rule applies with ``desired_kl``: ``"update"`` (default) once per
        update, on the update's KL divergence over the rollout; ``"minibatch"`` before every optimizer
        step, on the KL divergence between the rollout's and the current policy on that step's minibatch,
        as rsl-rl does
    :param adaptive_lr_bounds: lowest and highest learning rate of the adaptive rule (rsl-rl's 1e-5 and
        1e-2). rsl-rl takes 20 gradient steps per update; with more (SB3's 10 epochs of small minibatches)
        each step at the floor moves the policy further, so a lower floor may be needed to hold the target
    :param stats_window_size: Window size for the rollout logging (episodes)
    :param tensorboard_log: The log location for tensorboard (None: no logging)
    :param policy_kwargs: Additional arguments to be passed to the policy on creation
        (``state_dependent_std=True`` selects the state-dependent std of Table III)
    :param verbose: 0 no output, 1 info messages (the training table), 2 debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = POLICY_ALIASES  # type: ignore[assignment]
    rollout_buffer: SoftRolloutBuffer

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.01,
        entropy_mode: str = "soft",
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
        if entropy_mode not in ENTROPY_MODES:
            raise ValueError(f"entropy_mode must be one of {sorted(ENTROPY_MODES)}, got {entropy_mode!r}")
        alpha = check_coef("ent_coef", ent_coef)
        in_reward, in_loss = ENTROPY_MODES[entropy_mode]
        self.entropy_mode = entropy_mode
        self.reward_ent_coef = alpha if in_reward else 0.0
        self.desired_kl = check_desired_kl(desired_kl)
        self.kl_adaptation = check_kl_adaptation(kl_adaptation)
        self.adaptive_lr_bounds = check_lr_bounds(adaptive_lr_bounds)
        #: The adaptive learning rate of the next update (``desired_kl`` set), saved with the model.
        self.adaptive_learning_rate: float | None = None
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
            ent_coef=alpha if in_loss else 0.0,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    @property
    def alpha(self) -> float:
        """α, the entropy coefficient, wherever ``entropy_mode`` puts it (the reward, the loss or both).

        Setting it takes effect from the next rollout; SB3's ``ent_coef`` alone is only the loss's share.
        """
        in_reward, _ = ENTROPY_MODES[self.entropy_mode]
        return self.reward_ent_coef if in_reward else self.ent_coef  # type: ignore[return-value]

    @alpha.setter
    def alpha(self, value: float) -> None:
        value = check_coef("alpha", value)
        in_reward, in_loss = ENTROPY_MODES[self.entropy_mode]
        self.reward_ent_coef = value if in_reward else 0.0
        self.ent_coef = value if in_loss else 0.0

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: Any,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> Self:
        """SB3's ``load``; an ``ent_coef`` keyword sets :attr:`alpha` (SB3 would set the loss's share only,
        silently turning Soft PPO into Repeat-Entropy PPO)."""
        alpha = kwargs.pop("ent_coef", None)
        model = super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        if alpha is not None:
            model.alpha = alpha
        return model

    def _setup_model(self) -> None:
        # SB3's load() restores attributes from JSON (a tuple comes back a list) before calling this.
        self.adaptive_lr_bounds = check_lr_bounds(self.adaptive_lr_bounds)
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = SoftDictRolloutBuffer if dict_obs else SoftRolloutBuffer
        if not issubclass(self.rollout_buffer_class, SoftRewardMixin):
            raise TypeError(
                f"rollout_buffer_class must subclass sb3_rpg.common.buffers.SoftRewardMixin, "
                f"got {self.rollout_buffer_class.__name__}"
            )
        super()._setup_model()
        # A weak reference: the optimizer (deep-copied or pickled with the policy) must not hold the model.
        model = weakref.ref(self)

        def adapt_before_step(optimizer: th.optim.Optimizer, args: Any, kwargs: Any) -> None:
            algorithm = model()
            if algorithm is not None:
                algorithm._adapt_to_minibatch(optimizer)

        self.policy.optimizer.register_step_pre_hook(adapt_before_step)

    def _adapt_to_minibatch(self, optimizer: th.optim.Optimizer) -> None:
        """rsl-rl's schedule (``kl_adaptation="minibatch"``): before each optimizer step of an update that
        moves the actor, adapt the learning rate to the KL divergence on the step's minibatch."""
        if self.desired_kl is None or self.kl_adaptation != "minibatch" or not self._actor_trains():
            return
        batch = getattr(self.rollout_buffer, "current_batch", None)
        if batch is None:  # a step outside PPO.train's loop over the buffer
            return
        assert self.adaptive_learning_rate is not None  # set by _update_learning_rate in train()
        kl = minibatch_kl(self.policy, batch)
        self.adaptive_learning_rate = adapt_learning_rate(
            self.adaptive_learning_rate, kl, self.desired_kl, self.adaptive_lr_bounds
        )
        update_learning_rate(optimizer, self.adaptive_learning_rate)

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        if self.desired_kl is None:
            super()._update_learning_rate(optimizers)
            return
        if self.adaptive_learning_rate is None:
            self.adaptive_learning_rate = float(self.lr_schedule(1.0))
        self.logger.record("train/learning_rate", self.adaptive_learning_rate)
        for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
            update_learning_rate(optimizer, self.adaptive_learning_rate)

    def _actor_trains(self) -> bool:
        """Whether this update moves the actor (the adaptive learning rate only learns from those)."""
        return True

    def train(self) -> None:
        super().train()
        if getattr(self.policy, "state_dependent_std", False):
            # SB3 logs train/std only for a global log-std; here σ(s) over the rollout, after the update.
            # The buffer's observations are read in order, not through get(), which would draw a permutation.
            std_mean, std_min = self.policy.std_stats(self.rollout_buffer.observations, self.batch_size)
            self.logger.record("train/std", std_mean)
            self.logger.record("train/std_min", std_min)
        if self.desired_kl is not None and self._actor_trains():
            kl = rollout_kl(self.policy, self.rollout_buffer, self.batch_size)
            self.logger.record("train/update_kl", kl)
            assert self.adaptive_learning_rate is not None  # set by _update_learning_rate in train()
            if self.kl_adaptation == "update":
                self.adaptive_learning_rate = adapt_learning_rate(
                    self.adaptive_learning_rate, kl, self.desired_kl, self.adaptive_lr_bounds
                )
            else:  # adapted before each step: log where the update left it (SB3 logged its start)
                self.logger.record("train/learning_rate", self.adaptive_learning_rate)

    def _reward_terms(self) -> dict[str, Any]:
        """Arguments of :meth:`SoftRewardMixin.set_reward_terms` for the next rollout."""
        return {"reward_ent_coef": self.reward_ent_coef}

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        assert isinstance(rollout_buffer, SoftRewardMixin)
        rollout_buffer.set_reward_terms(**self._reward_terms(), first_timestep=self.num_timesteps)
        complete = super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        if complete:
            for key, value in rollout_buffer.reward_term_means().items():
                self.logger.record(key, value)
            kl_to_prior = rollout_buffer.kl_to_prior()
            if kl_to_prior is not None:
                self.logger.record("rollout/kl_to_prior", kl_to_prior)
        return complete

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        """SB3's ``learn``; the tensorboard run is named after the class unless ``tb_log_name`` is given."""
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name or type(self).__name__,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
