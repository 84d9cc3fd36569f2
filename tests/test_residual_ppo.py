"""ResidualPPO: the prior's log-prob in the reward, warm-up, save/load, bad input."""

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch as th
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_rpg import ResidualPPO, SoftPPO
from sb3_rpg.common.buffers import NonFiniteLogProbError
from sb3_rpg.common.prior import FrozenObsNormalize, actor_state_dict

FAST = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}


@pytest.fixture(scope="module")
def prior():
    return SoftPPO("MlpPolicy", "Pendulum-v1", ent_coef=0.01, seed=0, **FAST).learn(128)


def actor(model) -> dict[str, th.Tensor]:
    return {key: value.clone() for key, value in actor_state_dict(model.policy).items()}


def critic(model) -> dict[str, th.Tensor]:
    state = model.policy.state_dict()
    return {
        key: state[key].clone() for key in state if key.startswith(("mlp_extractor.value_net", "value_net"))
    }


def equal(a, b) -> bool:
    return all(th.equal(a[key], b[key]) for key in a)


class RawObsRecorder(gym.Wrapper):
    """Keeps every raw observation the env emits, in order."""

    def __init__(self, env):
        super().__init__(env)
        self.raw: list[np.ndarray] = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.raw.append(obs.copy())
        return obs, info

    def step(self, action):
        obs, *rest = self.env.step(action)
        self.raw.append(obs.copy())
        return obs, *rest


def test_prior_log_prob_equals_prior_models_own_under_vecnormalize(tmp_path):
    # A prior trained under VecNormalize, saved the SB3 way: model .zip and statistics .pkl.
    train_env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    PPO("MlpPolicy", train_env, seed=0, **FAST).learn(256).save(tmp_path / "prior")
    train_env.save(tmp_path / "vecnormalize.pkl")
    assert np.abs(train_env.obs_rms.mean).max() > 0.05  # statistics that matter

    recorder = RawObsRecorder(gym.make("Pendulum-v1"))
    model = ResidualPPO(
        "MlpPolicy",
        DummyVecEnv([lambda: recorder]),
        prior=tmp_path / "prior.zip",
        prior_vec_normalize=tmp_path / "vecnormalize.pkl",
        prior_coef=0.5,
        seed=1,
        **FAST,
    )
    assert isinstance(model.get_env(), FrozenObsNormalize)
    model.learn(64)
    used = model.rollout_buffer.prior_log_probs[:, 0]
    actions = model.rollout_buffer.actions  # flattened by PPO's train, in step order for one env

    prior_model = PPO.load(tmp_path / "prior.zip")
    statistics = VecNormalize.load(
        tmp_path / "vecnormalize.pkl", DummyVecEnv([lambda: gym.make("Pendulum-v1")])
    )
    raw = np.array(recorder.raw[:64])
    with th.no_grad():
        _, own, _ = prior_model.policy.evaluate_actions(
            th.as_tensor(statistics.normalize_obs(raw)), th.as_tensor(actions)
        )
        _, unnormalized, _ = prior_model.policy.evaluate_actions(th.as_tensor(raw), th.as_tensor(actions))
    np.testing.assert_allclose(used, own.numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(
        used, unnormalized.numpy(), atol=1e-3
    )  # the test would catch a missing normalisation
    np.testing.assert_allclose(
        model.rollout_buffer.prior_rewards[:, 0], 0.5 * own.numpy(), rtol=1e-5, atol=1e-5
    )


def test_prior_is_frozen_and_actor_copied(prior):
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, seed=0, **FAST)
    assert not model.prior_policy.training
    assert not any(param.requires_grad for param in model.prior_policy.parameters())
    optimized = {id(param) for group in model.policy.optimizer.param_groups for param in group["params"]}
    assert not optimized & {id(param) for param in model.prior_policy.parameters()}
    assert equal(actor(model), {k: v for k, v in actor_state_dict(prior.policy).items()})
    assert not equal(critic(model), {k: prior.policy.state_dict()[k] for k in critic(model)})
    before = {key: value.clone() for key, value in model.prior_policy.state_dict().items()}
    model.learn(192)
    assert equal(before, model.prior_policy.state_dict())


class Snapshots(BaseCallback):
    def __init__(self):
        super().__init__()
        self.actor, self.critic = [], []

    def _on_rollout_start(self) -> None:
        self.actor.append(actor(self.model))
        self.critic.append(critic(self.model))

    def _on_step(self) -> bool:
        return True


def test_critic_warmup_freezes_actor_then_trains_it(prior):
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, critic_warmup=0.5, seed=0, **FAST)
    snapshots = Snapshots()
    # 4 rollouts of 64 steps; warm-up covers timesteps <= 128: trains after rollouts 1 and 2.
    model.learn(256, callback=snapshots)
    initial = snapshots.actor[0]
    assert equal(snapshots.actor[1], initial) and equal(snapshots.actor[2], initial)
    assert not equal(snapshots.critic[1], snapshots.critic[0])
    assert not equal(snapshots.critic[2], snapshots.critic[1])
    assert not equal(snapshots.actor[3], initial)
    assert not equal(actor(model), snapshots.actor[3])


def test_kl_to_prior_against_closed_form(tmp_path):
    # The actor starts as a copy of the prior (same mean); give it σθ = 1 where the prior has σp = e^-0.5.
    # KL(N(μ, σθ²) ‖ N(μ, σp²)) = log(σp/σθ) + σθ²/(2σp²) - 1/2 = -0.5 + e/2 - 0.5 = 0.35914 (1-d actions).
    # Per sample, log πθ - log π_prior = -0.5 + (e - 1)/2·z², z ~ N(0, 1): std 1.215, so over the
    # 4 × 1024 samples of the first rollout (logged before any update) the standard error is 0.019.
    prior = SoftPPO("MlpPolicy", "Pendulum-v1", seed=1)
    with th.no_grad():
        prior.policy.log_std.fill_(-0.5)
    model = ResidualPPO("MlpPolicy", make_vec_env("Pendulum-v1", 4), prior=prior, seed=0, n_steps=1024)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    with th.no_grad():
        model.policy.log_std.fill_(0.0)
    model.learn(1)
    logged = pd.read_csv(tmp_path / "progress.csv")["rollout/kl_to_prior"]
    assert logged.iloc[0] == pytest.approx(-1.0 + np.e / 2, abs=0.06)
    # Without the σ change the actor is the prior: the two log-probs agree, the estimate is 0.
    same = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, prior_coef=0.0, seed=0, **FAST).learn(1)
    assert same.rollout_buffer.kl_to_prior() == pytest.approx(0.0, abs=1e-5)


def test_greedy_and_kl_special_cases(prior):
    greedy = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, prior_coef=0.0, seed=0, **FAST).learn(64)
    assert not greedy.rollout_buffer.prior_rewards.any()
    kl = ResidualPPO(
        "MlpPolicy", "Pendulum-v1", prior=prior, prior_coef=0.3, ent_coef=0.3, seed=0, **FAST
    ).learn(64)
    buffer = kl.rollout_buffer
    # KL PPO: the two terms are β·(log π_prior - log πθ).
    np.testing.assert_allclose(
        buffer.rewards - buffer.env_rewards,
        0.3 * (buffer.prior_log_probs - buffer.log_probs.reshape(64, 1)),
        atol=1e-5,
    )


def test_save_load_without_prior_file(tmp_path, prior):
    prior.save(tmp_path / "prior")
    model = ResidualPPO(
        "MlpPolicy",
        "Pendulum-v1",
        prior=tmp_path / "prior.zip",
        prior_coef=0.17,
        ent_coef=0.13,
        seed=0,
        **FAST,
    )
    model.learn(128)
    model.save(tmp_path / "residual")
    (tmp_path / "prior.zip").unlink()
    loaded = ResidualPPO.load(tmp_path / "residual", env=make_vec_env("Pendulum-v1"))
    assert (loaded.prior_coef, loaded.reward_ent_coef, loaded.critic_warmup) == (0.17, 0.13, 0.05)
    assert equal(model.prior_policy.state_dict(), loaded.prior_policy.state_dict())
    assert not any(param.requires_grad for param in loaded.prior_policy.parameters())
    obs = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    loaded.learn(64)  # and it trains on


def test_save_load_keeps_prior_normalization(tmp_path):
    train_env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    prior = PPO("MlpPolicy", train_env, seed=0, **FAST).learn(128)
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, seed=0, **FAST)
    np.testing.assert_array_equal(model.get_vec_normalize_env().obs_rms.mean, train_env.obs_rms.mean)
    model.save(tmp_path / "residual")
    loaded = ResidualPPO.load(tmp_path / "residual", env=make_vec_env("Pendulum-v1"))
    assert isinstance(loaded.get_env(), FrozenObsNormalize)
    np.testing.assert_array_equal(loaded.get_vec_normalize_env().obs_rms.mean, train_env.obs_rms.mean)


def test_seeded_runs_are_deterministic(prior):
    runs = [
        ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, critic_warmup=0.3, seed=5, **FAST).learn(192)
        for _ in range(2)
    ]
    assert equal(runs[0].policy.state_dict(), runs[1].policy.state_dict())


def test_a2c_prior_accepted():
    prior = A2C("MlpPolicy", "Pendulum-v1", seed=0)
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, **FAST)
    assert equal(actor(model), actor_state_dict(prior.policy))


# ---- bad input: a clear error before any training -------------------------------------------------------


def test_prior_required():
    with pytest.raises(ValueError, match="needs a prior"):
        ResidualPPO("MlpPolicy", "Pendulum-v1")


def test_space_mismatch_names_both_spaces(prior):
    with pytest.raises(
        ValueError,
        match=r"observation space Box\(.*\(3,\).*differs from the environment's observation space Box\(.*\(2,\)",
    ):
        ResidualPPO("MlpPolicy", "MountainCarContinuous-v0", prior=prior)


def test_gsde_and_recurrent_priors_refused():
    from sb3_contrib import RecurrentPPO

    with pytest.raises(TypeError, match="gSDE.*StateDependentNoiseDistribution"):
        ResidualPPO("MlpPolicy", "Pendulum-v1", prior=PPO("MlpPolicy", "Pendulum-v1", use_sde=True))
    with pytest.raises(TypeError, match="recurrent prior"):
        ResidualPPO("MlpPolicy", "Pendulum-v1", prior=RecurrentPPO("MlpLstmPolicy", "Pendulum-v1"))


class _TwoStepEnv(gym.Env):
    """Random 3-d observations, reward 0, 8 steps per episode: any action space."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)

    def __init__(self, action_space: gym.spaces.Space):
        self.action_space = action_space
        self.steps = 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.steps += 1
        return self.observation_space.sample(), 0.0, False, self.steps >= 8, {}


@pytest.mark.parametrize(
    ("action_space", "logits", "expected"),
    [
        # Discrete(2), logits log 0.25, log 0.75: log π(0) = log 0.25 = -1.386, log π(1) = log 0.75 = -0.288.
        (
            gym.spaces.Discrete(2),
            [np.log(0.25), np.log(0.75)],
            lambda a: np.log(np.where(a[:, 0] == 0, 0.25, 0.75)),
        ),
        # MultiDiscrete([2, 2]), each dimension's logits as above: the log-probs add up over dimensions.
        (
            gym.spaces.MultiDiscrete([2, 2]),
            [np.log(0.25), np.log(0.75)] * 2,
            lambda a: np.log(np.where(a == 0, 0.25, 0.75)).sum(axis=1),
        ),
        # MultiBinary(2), logit 0 and log 3 (p(1) = 0.5 and 0.75): log π = log 0.5 + log 0.75 or 0.25.
        (
            gym.spaces.MultiBinary(2),
            [0.0, np.log(3.0)],
            lambda a: np.log(0.5) + np.log(np.where(a[:, 1] == 1, 0.75, 0.25)),
        ),
    ],
)
def test_discrete_priors_give_their_log_probs(action_space, logits, expected):
    env = _TwoStepEnv(action_space)
    prior = PPO("MlpPolicy", env, n_steps=32, batch_size=32)
    # An action head that ignores the state: zero weights, the logits as bias.
    with th.no_grad():
        prior.policy.action_net.weight.zero_()
        prior.policy.action_net.bias.copy_(th.tensor(logits, dtype=th.float32))
    model = ResidualPPO("MlpPolicy", env, prior=prior, prior_coef=0.5, n_steps=32, batch_size=32, seed=0)
    model.learn(64)
    buffer = model.rollout_buffer
    actions = buffer.actions.reshape(-1, buffer.actions.shape[-1])
    np.testing.assert_allclose(buffer.prior_log_probs.reshape(-1), expected(actions), rtol=1e-5)
    # The prior's term in the reward: ω' · log π_prior = 0.5 · log π_prior.
    np.testing.assert_allclose(buffer.prior_rewards, 0.5 * buffer.prior_log_probs, rtol=1e-6)


def test_missing_files(tmp_path, prior):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        ResidualPPO("MlpPolicy", "Pendulum-v1", prior=tmp_path / "nowhere.zip")
    with pytest.raises(FileNotFoundError, match="no VecNormalize file"):
        ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, prior_vec_normalize=tmp_path / "nowhere.pkl")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prior_coef": -0.1}, "prior_coef"),
        ({"ent_coef": -1.0}, "ent_coef"),
        ({"prior_coef": float("nan")}, "prior_coef"),
        ({"critic_warmup": 1.0}, "critic_warmup"),
    ],
)
def test_bad_coefficients(prior, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResidualPPO("MlpPolicy", "Pendulum-v1", prior=prior, **kwargs)


def test_drifting_vecnormalize_rejected(prior):
    env = VecNormalize(make_vec_env("Pendulum-v1"))
    with pytest.raises(ValueError, match="updates its observation statistics"):
        ResidualPPO("MlpPolicy", env, prior=prior)


def test_non_finite_prior_log_prob_during_training(prior):
    broken = SoftPPO("MlpPolicy", "Pendulum-v1", seed=0, **FAST)
    with th.no_grad():
        broken.policy.action_net.bias.fill_(1e30)  # (a - μ)² overflows: log π_prior = -inf
    model = ResidualPPO("MlpPolicy", "Pendulum-v1", prior=broken, init_from_prior=False, seed=0, **FAST)
    with pytest.raises(NonFiniteLogProbError, match=r"log π_prior.*rollout step 0, env 0 \(timestep 1\)"):
        model.learn(64)
