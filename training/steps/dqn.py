"""DQN on CartPole (S1): replay memory, a target network, epsilon-greedy actions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from .. import plots
from .base import Context, Step


class DQNStep(Step):
    """One "batch" is one episode; the network learns from replay after every environment step.

    As in the seed: epsilon is the probability of the *greedy* action; learning starts once the
    replay memory is full; the target net is synced every ``target_sync`` learning steps; the reward
    is shaped by cart position and pole angle. Fixed from the seed: ``max(1, keepdim=True)`` (the
    seed broadcast (32,) against (32, 1) into (32, 32)) and terminal states are masked.
    Model selection: each epoch is scored by ``select_episodes`` greedy episodes; the final model is
    the best-scoring epoch's, evaluated on ``eval_episodes`` fresh episodes.
    """

    monitor = ("test_mean_return", "max")
    headline = ("test_mean_return", "max", 500.0)  # CartPole-v1 ends an episode at 500 steps
    supports_ddp = False
    resumable_mid_epoch = False

    def __init__(self, ctx: Context) -> None:
        import gymnasium

        x = ctx.profile.extra
        # CartPole: its spaces and the thresholds of its unwrapped env are read below
        self.env: Any = cast(Any, gymnasium.make("CartPole-v1"))
        self.n_states = int(self.env.observation_space.shape[0])
        self.n_actions = int(self.env.action_space.n)
        self.capacity = int(x.get("memory", 2000))
        self.gamma = float(x.get("gamma", 0.9))
        self.epsilon = float(x.get("epsilon", 0.9))
        self.target_sync = int(x.get("target_sync", 100))
        self.warmup = int(x.get("warmup", self.capacity))
        self.shaping = bool(x.get("reward_shaping", True))
        self.rng = np.random.default_rng(ctx.seed)
        self.memory = np.zeros((self.capacity, self.n_states * 2 + 3), dtype=np.float32)
        self.memory_counter = 0
        self.learn_steps = 0
        self.env_steps = 0
        self.episodes = 0
        self.target = copy.deepcopy(ctx.raw_model).eval()
        self.best_return = -float("inf")
        self.best_state: dict[str, torch.Tensor] | None = None
        self.returns: list[float] = []
        super().__init__(ctx)

    def make_loader(self, split: str, batch_size: int, *, shuffle: bool, train: bool) -> Any:
        return None

    def steps_per_epoch(self) -> int:
        return int(self.ctx.profile.extra.get("episodes_per_epoch", 20))

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        return iter(range(start, self.steps_per_epoch()))

    def batch_size_of(self, batch: Any) -> int:
        return 1

    def act(self, state: np.ndarray, greedy: bool = False) -> int:
        if greedy or self.rng.uniform() < self.epsilon:
            with torch.no_grad():
                q = self.ctx.raw_model(torch.as_tensor(state, dtype=torch.float32, device=self.ctx.device)[None])
            return int(q.argmax(1)[0])
        return int(self.rng.integers(self.n_actions))

    def shaped(self, state: np.ndarray) -> float:
        env = self.env.unwrapped
        x, _, theta, _ = state
        r1 = (env.x_threshold - abs(x)) / env.x_threshold - 0.8
        r2 = (env.theta_threshold_radians - abs(theta)) / env.theta_threshold_radians - 0.5
        return float(r1 + r2)

    def learn(self) -> torch.Tensor:
        if self.learn_steps % self.target_sync == 0:
            self.target.load_state_dict(self.ctx.raw_model.state_dict())
        self.learn_steps += 1
        filled = min(self.memory_counter, self.capacity)
        rows = torch.from_numpy(self.memory[self.rng.choice(filled, self.ctx.profile.batch_size)]).to(self.ctx.device)
        n = self.n_states
        s, a, r, s_, done = (
            rows[:, :n],
            rows[:, n : n + 1].long(),
            rows[:, n + 1 : n + 2],
            rows[:, n + 2 : 2 * n + 2],
            rows[:, -1:],
        )
        q_eval = self.ctx.raw_model(s).gather(1, a)
        with torch.no_grad():
            q_next = self.target(s_).max(1, keepdim=True)[0]
        q_target = r + self.gamma * q_next * (1.0 - done)
        loss = F.mse_loss(q_eval, q_target)
        self.update(loss)
        return loss.detach()

    def train_step(self, episode_in_epoch: int) -> dict[str, torch.Tensor]:
        state, _ = self.env.reset(seed=int(self.ctx.seed * 100_003 + self.episodes))
        self.episodes += 1
        total, losses = 0.0, []
        while True:
            action = self.act(state)
            next_state, reward, terminated, truncated, _ = self.env.step(action)
            total += float(reward)
            r = self.shaped(next_state) if self.shaping else float(reward)
            self.memory[self.memory_counter % self.capacity] = np.hstack(
                (state, [action, r], next_state, [float(terminated)])
            )
            self.memory_counter += 1
            self.env_steps += 1
            if self.memory_counter >= self.warmup:
                losses.append(self.learn())
            if terminated or truncated:
                break
            state = next_state
        self.returns.append(total)
        loss = torch.stack(losses).mean() if losses else torch.zeros(())
        return {"return": torch.tensor(total), "loss": loss}

    def play(self, episodes: int, seed_base: int) -> list[float]:
        returns = []
        for i in range(episodes):
            state, _ = self.env.reset(seed=seed_base + i)
            total, done = 0.0, False
            while not done:
                state, reward, terminated, truncated, _ = self.env.step(self.act(state, greedy=True))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
        return returns

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        x = self.ctx.profile.extra
        if final:
            if self.best_state is not None:
                self.ctx.raw_model.load_state_dict(self.best_state)
            returns = self.play(int(x.get("eval_episodes", 100)), seed_base=1_000_000)
            return {
                "test_mean_return": float(np.mean(returns)),
                "test_min_return": float(np.min(returns)),
                "env_steps": self.env_steps,
                "episodes": self.episodes,
            }
        returns = self.play(int(x.get("select_episodes", 10)), seed_base=500_000 + 1000 * self.episodes)
        mean = float(np.mean(returns))
        if mean >= self.best_return:
            self.best_return = mean
            self.best_state = {k: v.detach().clone() for k, v in self.ctx.raw_model.state_dict().items()}
        return {"test_mean_return": mean, "env_steps": self.env_steps, "episodes": self.episodes}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        plots.returns(self.returns, out_dir / "returns.png")
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "memory": torch.from_numpy(self.memory.copy()),
            "counters": [self.memory_counter, self.learn_steps, self.env_steps, self.episodes],
            "rng": self.rng.bit_generator.state,
            "target": self.target.state_dict(),
            "best_return": self.best_return,
            "best_state": self.best_state,
            "returns": self.returns,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory = state["memory"].numpy().copy()
        self.memory_counter, self.learn_steps, self.env_steps, self.episodes = state["counters"]
        self.rng.bit_generator.state = state["rng"]
        self.target.load_state_dict(state["target"])
        self.best_return = state["best_return"]
        self.best_state = state["best_state"]
        self.returns = list(state["returns"])
