"""Per-episode evaluation of a policy on a customization task, split into basic and add-on terms."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from gymnasium.envs.registration import load_env_creator
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecNormalize

from sb3_rpg.common.prior import ObsNormalization
from sb3_rpg.envs.base import AddonRewardMixin

#: Columns of the DataFrame returned by :func:`evaluate_episodes`, in order.
EVALUATION_COLUMNS: tuple[str, ...] = (
    "episode",
    "seed",
    "total_return",
    "basic_return",
    "addon_return",
    "addon_metric_mean",
    "length",
)

PolicyLike = BaseAlgorithm | BasePolicy | Callable[[np.ndarray], np.ndarray]


def evaluate_episodes(
    model: PolicyLike,
    env_id: str,
    n_episodes: int = 10,
    deterministic: bool = True,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    vec_normalize: VecNormalize | str | os.PathLike[str] | None = None,
    n_envs: int = 1,
) -> pd.DataFrame:
    """Run ``model`` for exactly ``n_episodes`` episodes and report each one.

    Episode ``k`` (0-based) is reset with seed ``seed + k`` whatever ``n_envs`` is, so a
    deterministic policy gives the same rows for any ``n_envs``. Each env is given a fixed number
    of episodes up front (as SB3's ``evaluate_policy`` does), so the result is not biased towards
    short episodes.

    :param model: an SB3 algorithm or policy (its ``predict`` is used), or any callable mapping a
        batch of observations (shape ``(n, *obs_shape)``) to a batch of actions. Callables get
        no ``deterministic`` flag and their actions are not clipped.
    :param env_id: a registered Gymnasium id, e.g. ``"sb3_rpg/Hopper-v5"``.
    :param n_episodes: number of episodes (rows).
    :param deterministic: use the mean action (SB3 models only).
    :param seed: base seed for the episode resets and for the torch sampling of stochastic actions
        (the global torch RNG state is restored afterwards).
    :param env_kwargs: keyword arguments for ``gymnasium.make`` (e.g. ``joint``,
        ``max_episode_steps``). For an :class:`AddonRewardMixin` env, ``reward`` defaults to
        ``"full"`` so that ``total_return`` is the full task's return.
    :param vec_normalize: observation statistics to normalize with: a ``VecNormalize`` or the path
        of one saved with ``VecNormalize.save``. If None and ``model`` is an SB3 algorithm whose
        ``get_vec_normalize_env()`` is not None, that one is used. The statistics are only read,
        never updated. Rewards are never normalized.
    :param n_envs: number of environments stepped in lockstep (policy calls are batched).
    :return: one row per episode, sorted by ``episode``, with columns :data:`EVALUATION_COLUMNS`:
        ``total_return`` (sum of the rewards the env returned), ``basic_return`` and
        ``addon_return`` (sums of ``info["basic_reward"]`` and ``info["addon_reward"]``),
        ``addon_metric_mean`` (mean of ``info["addon_metric"]``) and ``length``. The last three
        info-based columns are NaN for envs that do not report these keys.
    :raises ValueError: on non-positive ``n_episodes``/``n_envs`` or statistics whose shape does
        not match the observation space.
    """
    if n_episodes < 1 or n_envs < 1:
        raise ValueError(f"n_episodes and n_envs must be >= 1, got {n_episodes} and {n_envs}.")
    n_envs = min(n_envs, n_episodes)
    make_kwargs = _make_kwargs(env_id, env_kwargs)
    envs = [gym.make(env_id, **make_kwargs) for _ in range(n_envs)]
    try:
        normalizer = _resolve_normalizer(model, vec_normalize, envs[0].observation_space)
        act = _action_function(model, deterministic)
        with _seeded_torch(seed, _model_device(model)):
            rows = _rollout(envs, act, normalizer, n_episodes, seed)
    finally:
        for env in envs:
            env.close()
    frame = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    return frame.sort_values("episode", ignore_index=True)


def is_customization_task(env_id: str) -> bool:
    """Whether a registered env is an add-on-reward task (takes ``reward="basic" | "addon" | "full"``).

    :param env_id: registered Gymnasium id
    :return: True for :class:`~sb3_rpg.envs.base.AddonRewardMixin` envs
    """
    entry_point = gym.spec(env_id).entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    return isinstance(creator, type) and issubclass(creator, AddonRewardMixin)


def _make_kwargs(env_id: str, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """Copy ``env_kwargs``, defaulting ``reward="full"`` for customization tasks.

    :param env_id: registered id.
    :param env_kwargs: user keyword arguments, or None.
    :return: keyword arguments for ``gymnasium.make``.
    """
    kwargs = dict(env_kwargs or {})
    if "reward" not in kwargs and is_customization_task(env_id):
        kwargs["reward"] = "full"
    return kwargs


def _resolve_normalizer(
    model: PolicyLike,
    vec_normalize: VecNormalize | str | os.PathLike[str] | None,
    observation_space: gym.Space,
) -> VecNormalize | None:
    """Pick the observation statistics to use, if any.

    :param model: the evaluated model.
    :param vec_normalize: explicit statistics (instance or path), or None.
    :param observation_space: the eval env's observation space, to check the shapes.
    :return: a VecNormalize whose ``normalize_obs`` to apply, or None.
    """
    if isinstance(vec_normalize, (str, os.PathLike)):
        # Unpickled directly rather than via VecNormalize.load: only normalize_obs is needed, and
        # that needs no wrapped venv. Setting the flags keeps the loaded copy frozen if reused.
        with open(vec_normalize, "rb") as handle:
            loaded = pickle.load(handle)
        if not isinstance(loaded, VecNormalize):
            raise ValueError(  # noqa: TRY004 -- the file's content is wrong, not the argument's type
                f"{vec_normalize!s} does not hold a VecNormalize but a {type(loaded).__name__}."
            )
        loaded.training = False
        loaded.norm_reward = False
        vec_normalize = loaded
    elif vec_normalize is None and isinstance(model, BaseAlgorithm):
        vec_normalize = model.get_vec_normalize_env()
        own = getattr(model, "prior_normalization", None)
        if vec_normalize is None and isinstance(own, ObsNormalization):
            vec_normalize = own.to_vec_normalize()  # a ResidualPPO loaded without env: stats from its zip
    if vec_normalize is None:
        return None
    # normalize_obs never updates the running statistics, so a training instance passed in is
    # used frozen without flipping its ``training`` flag behind the caller's back.
    rms = vec_normalize.obs_rms
    if isinstance(rms, dict) or not vec_normalize.norm_obs:
        return vec_normalize
    if observation_space.shape is not None and tuple(rms.mean.shape) != tuple(observation_space.shape):
        raise ValueError(
            f"VecNormalize statistics have shape {tuple(rms.mean.shape)} but the env's observations "
            f"have shape {tuple(observation_space.shape)}."
        )
    return vec_normalize


def _action_function(model: PolicyLike, deterministic: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap ``model`` as a batch-of-observations -> batch-of-actions function.

    :param model: SB3 algorithm/policy or callable.
    :param deterministic: passed to SB3's ``predict``.
    :return: the action function.
    """
    if isinstance(model, (BaseAlgorithm, BasePolicy)):

        def act(obs: np.ndarray) -> np.ndarray:
            return model.predict(obs, deterministic=deterministic)[0]

        return act
    if not callable(model):
        raise TypeError(
            f"model must be an SB3 BaseAlgorithm/BasePolicy or a callable, got {type(model).__name__}."
        )
    return model


def _model_device(model: PolicyLike) -> torch.device | None:
    """The torch device the model samples on, if it has one.

    :param model: the evaluated model.
    :return: its device, or None for plain callables.
    """
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else None


@contextmanager
def _seeded_torch(seed: int, device: torch.device | None) -> Iterator[None]:
    """Seed torch for stochastic actions without disturbing the caller's RNG streams.

    :param seed: the seed.
    :param device: the model's device; its CUDA RNG is forked too when it is a GPU.
    """
    cuda_devices: Sequence[int] = []
    if device is not None and device.type == "cuda":
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


class _EpisodeStats:
    """Running sums for one episode."""

    def __init__(self, episode: int, seed: int) -> None:
        self.episode = episode
        self.seed = seed
        self.total = 0.0
        self.basic = 0.0
        self.addon = 0.0
        self.metric = 0.0
        self.length = 0

    def add(self, reward: float, info: dict[str, Any]) -> None:
        """Accumulate one step.

        :param reward: reward returned by the env.
        :param info: the step's info (missing keys turn the sums into NaN).
        """
        self.total += float(reward)
        self.basic += float(info.get("basic_reward", np.nan))
        self.addon += float(info.get("addon_reward", np.nan))
        self.metric += float(info.get("addon_metric", np.nan))
        self.length += 1

    def row(self) -> tuple[Any, ...]:
        """The finished episode as a row in :data:`EVALUATION_COLUMNS` order.

        :return: the row.
        """
        metric_mean = self.metric / self.length if self.length else np.nan
        return (self.episode, self.seed, self.total, self.basic, self.addon, metric_mean, self.length)


def _rollout(
    envs: list[gym.Env],
    act: Callable[[np.ndarray], np.ndarray],
    normalizer: VecNormalize | None,
    n_episodes: int,
    seed: int,
) -> list[tuple[Any, ...]]:
    """Step the envs in lockstep until each has finished its share of episodes.

    :param envs: the environments.
    :param act: batch policy.
    :param normalizer: observation statistics, or None.
    :param n_episodes: total episodes.
    :param seed: base seed; episode ``k`` resets with ``seed + k``.
    :return: the finished rows (unsorted).
    """
    n_envs = len(envs)
    # Fixed per-env targets (SB3 evaluate_policy's scheme): stopping at the first n_episodes
    # finished would over-sample short episodes.
    targets = [(n_episodes + i) // n_envs for i in range(n_envs)]
    first_episode = np.concatenate(([0], np.cumsum(targets)[:-1])).astype(int).tolist()
    finished = [0] * n_envs
    stats: list[_EpisodeStats] = []
    observations: list[np.ndarray] = []
    for i, env in enumerate(envs):
        episode = first_episode[i]
        stats.append(_EpisodeStats(episode, seed + episode))
        observations.append(env.reset(seed=seed + episode)[0])
    rows: list[tuple[Any, ...]] = []
    active = [i for i in range(n_envs) if targets[i] > 0]
    while active:
        batch = np.stack([observations[i] for i in active])
        if normalizer is not None:
            batch = normalizer.normalize_obs(batch)
        actions = np.asarray(act(batch))
        for j, i in enumerate(active):
            obs, reward, terminated, truncated, info = envs[i].step(actions[j])
            stats[i].add(float(reward), info)
            observations[i] = obs
            if terminated or truncated:
                rows.append(stats[i].row())
                finished[i] += 1
                if finished[i] < targets[i]:
                    episode = first_episode[i] + finished[i]
                    stats[i] = _EpisodeStats(episode, seed + episode)
                    observations[i] = envs[i].reset(seed=seed + episode)[0]
        active = [i for i in active if finished[i] < targets[i]]
    return rows
