"""PA&DA (Lu et al., CVPR 2023): path and data importance sampling, with unbiasing weights.

Path importance sampling. Each searchable position p draws its choice from q_p, a mixture of
the choices' normalised gradient norms and uniform:

    q_p(c) = tau_path(e) * g_p(c) / sum_c' g_p(c') + (1 - tau_path(e)) / K_p

g_p(c) is the mean over the epoch of the L2 norm of the gradient of choice c's parameters at
position p when it was on the sampled path (averaged over the modules that share a position,
e.g. NB-201's 15 cells), divided by the path's loss weight so it estimates the unweighted
gradient. A choice without parameters (skip, pooling, none) has norm 0, so it keeps only the
uniform share, as in the authors' code. A choice not drawn in an epoch keeps its last estimate.

Data importance sampling. Item i of the training set is drawn with probability

    p_i = tau_data(e) * s_i / sum_j s_j + (1 - tau_data(e)) / N

where s_i is the last estimate of the norm of the loss gradient with respect to the logits,
||softmax(z_i) - onehot(y_i)|| (the authors' estimate; items not seen yet get the mean of the seen
ones). An epoch draws N items with replacement.

Unbiasing (`importance_weights`, default on). The loss of item i on path a is weighted by
w_i = 1 / (N p_i) and v_a = prod_p 1 / (K_p q_p(a_p)), so the expected weighted gradient equals the
uniform average over paths and items (the estimator the uniform sampler targets); tests check it
on a synthetic problem. The authors' code draws from q and p but weights nothing
(`importance_weights=false` reproduces that).

Schedule (`schedule`). `linear`: tau(e) = tau_max * e / epochs for the epoch e about to be trained
(the authors' code sets both taus to epoch / epochs each epoch, which is why its `--tau` flag has
no effect); `constant`: tau(e) = tau_max from the first epoch after warm-up. Probabilities are
recomputed at every epoch's end. Both taus stay below 1, so every probability is at least
(1 - tau) / K_p (or / N): the weights stay finite whatever the norms do (zero, huge, non-finite
norms are skipped).

Clipping (`max_weight`, default 10). A choice without parameters keeps only (1 - tau) / K of
probability, so an exact path weight can reach (K / (1 - tau))^positions (10^6 on NB-201 at tau
0.9): weights are clipped at max_weight, trading a bounded bias for bounded variance;
`max_weight=null` is the exactly unbiased estimator.

Options [defaults]: path_tau [0.9], data_tau [0.9], schedule ["linear"], importance_weights
[true], max_weight [10].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.errors import HarnessError
from harness.samplers.base import EpochData, Sampler, register_sampler
from harness.samplers.options import SamplerOptions, option
from harness.spaces.base import Arch, SearchSpace

# A tau of exactly 1 would give zero probability to parameter-free choices (infinite weights).
TAU_CAP = 0.99


@dataclass(frozen=True)
class PADAOptions(SamplerOptions):
    path_tau: float = option(0.9, "final weight of the gradient-norm distribution in the path "
                             "mixture (0 = uniform paths; the authors' code ends near 1); capped "
                             "at 0.99", minimum=0.0)
    data_tau: float = option(0.9, "final weight of the gradient-norm distribution in the data "
                             "mixture (0 = the run's uniform shuffle); capped at 0.99", minimum=0.0)
    schedule: str = option("linear", "linear: tau = tau_max * epoch / epochs (the authors' code); "
                           "constant: tau_max from the first epoch after warm-up",
                           choices=("linear", "constant"))
    importance_weights: bool = option(True, "weight losses by 1/(K q) and 1/(N p) so gradients "
                                      "stay unbiased (false: the authors' code)")
    max_weight: float | None = option(10.0, "clip each loss weight (path, item) at this value: "
                                      "parameter-free choices keep only the uniform share, so "
                                      "unclipped path weights reach (K / (1 - tau))^positions; "
                                      "null = exactly unbiased, no clipping", minimum=1.0)


def mixture(scores: np.ndarray, tau: float) -> np.ndarray:
    """tau * scores / sum + (1 - tau) * uniform, valid for any scores: non-finite or negative ones
    count as 0, and an all-zero vector gives uniform."""
    scores = np.where(np.isfinite(scores) & (scores > 0), scores, 0.0).astype(float)
    uniform = np.full(len(scores), 1.0 / len(scores))
    if scores.max() > 0:
        scores = scores / scores.max()  # huge norms must not overflow the sum
    total = scores.sum()
    if not total > 0 or not math.isfinite(total):
        return uniform
    tau = min(max(float(tau), 0.0), TAU_CAP)
    q = tau * scores / total + (1.0 - tau) * uniform
    return q / q.sum()


@register_sampler("pada", "PA&DA: path and data importance sampling from gradient norms, "
                          "with unbiasing weights (Lu et al., CVPR 2023)")
class PADASampler(Sampler):
    Options = PADAOptions
    weights_losses = True

    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0, **options: Any):
        super().__init__(space, seed, warmup_epochs=warmup_epochs, **options)
        self.n_choices = [len(c) for c in space.choices]
        width = max(self.n_choices)
        self.valid = np.array([[c < n for c in range(width)] for n in self.n_choices])
        self.q = np.where(self.valid, 1.0 / np.array(self.n_choices)[:, None], 0.0)
        self.norm_estimate = np.zeros((len(self.n_choices), width))
        self.norm_seen = np.zeros((len(self.n_choices), width), dtype=bool)
        self._epoch_sum = np.zeros_like(self.norm_estimate)
        self._epoch_n = np.zeros_like(self.norm_estimate)
        self.item_score: np.ndarray | None = None  # per training item, NaN until seen
        self.item_prob: np.ndarray | None = None
        self.epoch = 0
        self.epochs: int | None = None
        self.tau_history: list[dict] = []
        self._choices: list = []
        self._last_weight = 1.0
        # Per-position choice counts of the draws and what the design expected (sum of q).
        self.drawn = np.zeros((len(self.n_choices), width))
        self.expected = np.zeros((len(self.n_choices), width))

    # --- schedule ---------------------------------------------------------------------------

    def taus(self, epoch: int, epochs: int | None) -> tuple[float, float]:
        """(path tau, data tau) for the epoch about to be trained."""
        if epoch < self.warmup_epochs:
            return 0.0, 0.0
        if self.opts.schedule == "constant":
            fraction = 1.0
        else:
            fraction = epoch / epochs if epochs else 0.0
        return (min(self.opts.path_tau * fraction, TAU_CAP),
                min(self.opts.data_tau * fraction, TAU_CAP))

    # --- paths ------------------------------------------------------------------------------

    def attach(self, supernet, probe_batch: tuple, loss_fn) -> None:
        from harness.nets.common import Choice

        self._choices = [m for m in supernet.modules() if isinstance(m, Choice)]
        if not self._choices:
            raise HarnessError("sampler 'pada' needs a supernet with searchable positions")

    def sample(self, step: int) -> Arch:
        if self.epoch < self.warmup_epochs:
            return self.space.sample(self.rng)  # uniform's draws during warm-up
        return tuple(int(self.rng.choice(n, p=self.q[p, :n]))
                     for p, n in enumerate(self.n_choices))

    def record(self, archs: list[Arch]) -> None:
        super().record(archs)
        for arch in archs:
            self.drawn[np.arange(len(arch)), list(arch)] += 1
            if self.epoch < self.warmup_epochs:
                self.expected += np.where(self.valid, 1.0 / np.array(self.n_choices)[:, None], 0)
            else:
                self.expected += self.q

    def path_weight(self, arch: Arch) -> float:
        if not self.opts.importance_weights:
            return 1.0
        q = np.array([self.q[p, c] for p, c in enumerate(arch)])
        weight = float(np.prod(1.0 / (np.array(self.n_choices) * q)))
        if self.opts.max_weight is not None:
            weight = min(weight, self.opts.max_weight)
        self._last_weight = weight
        return weight

    def wants_gradients(self, step: int) -> bool:
        return True

    def observe_gradients(self, step: int, arch: Arch, supernet) -> None:
        weight = self._last_weight if self.opts.importance_weights else 1.0
        per_module = [(module.position, [p.grad.detach().pow(2).sum()
                                         for p in module.chosen(arch).parameters()
                                         if p.grad is not None])
                      for module in self._choices]
        flat = [g for _, squares in per_module for g in squares]
        values = iter(torch.stack(flat).tolist() if flat else [])  # one device sync a step
        sums: dict[int, list[float]] = {}
        for position, tensors in per_module:
            squares = [next(values) for _ in tensors]
            norm = math.sqrt(sum(squares)) / weight if squares else 0.0
            if math.isfinite(norm):
                sums.setdefault(position, []).append(norm)
        for position, norms in sums.items():
            self._epoch_sum[position, arch[position]] += float(np.mean(norms))
            self._epoch_n[position, arch[position]] += 1

    # --- data -------------------------------------------------------------------------------

    def epoch_data(self, epoch: int, n_items: int) -> EpochData | None:
        if self.item_score is None or len(self.item_score) != n_items:
            self.item_score = np.full(n_items, np.nan)
        if self.opts.data_tau == 0 or self.item_prob is None:
            return None  # the run's own shuffle (identical to uniform's, e.g. in warm-up)
        order = self.rng.choice(n_items, size=n_items, replace=True, p=self.item_prob)
        if self.opts.importance_weights:
            weights = 1.0 / (n_items * self.item_prob)
            if self.opts.max_weight is not None:
                weights = np.minimum(weights, self.opts.max_weight)
        else:
            weights = np.ones(n_items)
        return EpochData(order=order, weights=weights)

    def observe_batch(self, step: int, arch: Arch, positions, logits, targets) -> None:
        if positions is None or self.item_score is None:
            return
        with torch.no_grad():
            probs = torch.softmax(logits.float(), dim=1)
            probs[torch.arange(len(targets)), targets] -= 1.0
            scores = probs.norm(dim=1).cpu().numpy()
        index = np.asarray(positions)
        ok = np.isfinite(scores)
        self.item_score[index[ok]] = scores[ok]

    # --- epoch boundary ---------------------------------------------------------------------

    def on_epoch_end(self, epoch: int, context) -> dict | None:
        self.epochs = context.epochs
        seen = self._epoch_n > 0
        self.norm_estimate[seen] = self._epoch_sum[seen] / self._epoch_n[seen]
        self.norm_seen |= seen
        self._epoch_sum[:] = 0
        self._epoch_n[:] = 0
        path_tau, data_tau = self.taus(epoch + 1, context.epochs)
        for p, n in enumerate(self.n_choices):
            row = self.norm_estimate[p, :n].copy()
            if self.norm_seen[p, :n].any():
                # Choices never drawn yet get the mean of the drawn ones at this position.
                row[~self.norm_seen[p, :n]] = row[self.norm_seen[p, :n]].mean()
            self.q[p, :n] = mixture(row, path_tau)
        if self.item_score is not None and data_tau > 0:
            scores = self.item_score.copy()
            seen_items = np.isfinite(scores)
            if seen_items.any():
                scores[~seen_items] = scores[seen_items].mean()
                self.item_prob = mixture(scores, data_tau)
        else:
            self.item_prob = None
        self.epoch = epoch + 1
        record = {"epoch": epoch, "path_tau": path_tau, "data_tau": data_tau,
                  "q_max_over_uniform": float(np.max(self.q * np.array(self.n_choices)[:, None])),
                  "data_ess_fraction": self._data_ess()}
        self.tau_history.append(record)
        return {"sampler": "pada", **record, "q": self.q.tolist(),
                "norm_estimate": self.norm_estimate.tolist()}

    def _data_ess(self) -> float | None:
        """Effective sample size of the item weights under the item distribution, / N."""
        if self.item_prob is None:
            return None
        n = len(self.item_prob)
        w = 1.0 / (n * self.item_prob)
        return float((self.item_prob @ w) ** 2 / (self.item_prob @ w**2))

    # --- audit and state --------------------------------------------------------------------

    def audit(self) -> dict:
        from harness.samplers.audit import marginal_test

        out = super().audit()
        out["design"] = ("PA&DA: per-position mixtures of gradient-norm and uniform choice "
                         "probabilities, re-estimated every epoch")
        rows = [self.drawn[p, :n] for p, n in enumerate(self.n_choices)]
        out["tests"]["vs_uniform"] = marginal_test(rows)
        out["tests"]["vs_design"] = marginal_test(
            rows, [self.expected[p, :n] for p, n in enumerate(self.n_choices)])
        out["pada"] = {"q_final": self.q.tolist(), "norm_estimate": self.norm_estimate.tolist(),
                       "schedule": self.opts.schedule, "history": self.tau_history,
                       "importance_weights": self.opts.importance_weights}
        return out

    @classmethod
    def audit_schedule(cls, audit: dict) -> tuple[list[str], list[list]] | None:
        """Its temperature schedule and how far the choice distributions moved, per epoch."""
        if "pada" not in audit:
            return None
        return (["epoch", "path tau", "data tau", "max q / uniform", "data ESS / N"],
                [[h["epoch"] + 1, h["path_tau"], h["data_tau"], h["q_max_over_uniform"],
                  h.get("data_ess_fraction")] for h in audit["pada"]["history"]])

    def state_dict(self) -> dict:
        return {**super().state_dict(), "q": self.q.tolist(),
                "norm_estimate": self.norm_estimate.tolist(),
                "norm_seen": self.norm_seen.tolist(),
                "item_score": None if self.item_score is None else self.item_score.tolist(),
                "item_prob": None if self.item_prob is None else self.item_prob.tolist(),
                "epoch": self.epoch, "tau_history": list(self.tau_history),
                "drawn": self.drawn.tolist(), "expected": self.expected.tolist()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.q = np.array(state["q"], dtype=float)
        self.norm_estimate = np.array(state["norm_estimate"], dtype=float)
        self.norm_seen = np.array(state["norm_seen"], dtype=bool)
        self.item_score = None if state["item_score"] is None else np.array(
            state["item_score"], dtype=float)
        self.item_prob = None if state["item_prob"] is None else np.array(
            state["item_prob"], dtype=float)
        self.epoch = int(state["epoch"])
        self.tau_history = list(state["tau_history"])
        self.drawn = np.array(state["drawn"], dtype=float)
        self.expected = np.array(state["expected"], dtype=float)
