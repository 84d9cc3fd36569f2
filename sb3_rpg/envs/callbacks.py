"""Training-time view of the reward terms a customization does not train on."""

from __future__ import annotations

from collections.abc import Sequence

from stable_baselines3.common.callbacks import BaseCallback

from sb3_rpg.envs.base import INFO_KEYS


class StepInfoLogger(BaseCallback):
    """Log, once per rollout, the per-step mean of numeric ``info`` entries as ``rollout/<key>``.

    A customization trains on r_R alone, so its training log says nothing of the basic task. The tasks'
    ``info`` carries ``basic_reward`` every step whatever the reward mode: ``rollout/basic_reward`` shows,
    without an evaluation env, when a policy stops solving it (a HalfCheetah that stops running drops from
    about 9 to about 0 per step). Means are over all steps of the rollout and all envs; a step whose
    ``info`` lacks a key does not count for that key, and a key no step reported is not logged.

        model.learn(1_000_000, callback=StepInfoLogger())

    :param keys: the ``info`` keys to average (default: the tasks' ``basic_reward``, ``addon_reward`` and
        ``addon_metric``)
    :param prefix: logger prefix of the recorded names
    :param verbose: verbosity (unused; SB3's callback argument)
    """

    def __init__(self, keys: Sequence[str] = INFO_KEYS, prefix: str = "rollout/", verbose: int = 0):
        super().__init__(verbose)
        if isinstance(keys, str) or not keys:
            raise ValueError(f"keys must be a non-empty sequence of info keys, got {keys!r}")
        self.keys = tuple(keys)
        self.prefix = prefix
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:
        self._sums = dict.fromkeys(self.keys, 0.0)
        self._counts = dict.fromkeys(self.keys, 0)

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            for key in self.keys:
                value = info.get(key)
                if value is not None:
                    self._sums[key] += float(value)
                    self._counts[key] += 1
        return True

    def _on_rollout_end(self) -> None:
        for key in self.keys:
            if self._counts[key]:
                self.logger.record(self.prefix + key, self._sums[key] / self._counts[key])
