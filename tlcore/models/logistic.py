"""A linear head solved, not stepped: multinomial logistic regression on fixed features, solved to
convergence (L-BFGS), with its L2 strength chosen by cross-validation on the training features.

This is how careful linear-probe evaluations fit a head (a sweep of L2 strengths, each solved to
the end, the best by held-out accuracy), instead of a fixed learning rate and number of epochs.
Features are standardised per dimension for the solver's sake; the result is folded back into an
ordinary weight and bias, so the model that predicts and exports is a plain linear layer.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

# Strengths lambda of the penalty lambda/2 * ||W||^2 added to the mean cross-entropy, strongest
# first (each solution starts the next, weaker one). On standardised features sklearn's C is 1/(n lambda).
L2_GRID = tuple(10.0 ** k for k in range(1, -6, -1))
FOLDS = 5
MAX_ITERATIONS = 100  # as scikit-learn's default; beyond it the held-out choice did not change (measured)
FALLBACK_L2 = 1e-2  # when no class has two pictures there is nothing to cross-validate on


@dataclass
class LogisticFit:
    weight: torch.Tensor  # [classes, features], for the raw (unstandardised) features
    bias: torch.Tensor  # [classes]
    l2: float  # the strength chosen
    scores: dict[float, float] = field(default_factory=dict)  # held-out accuracy of each strength tried
    train_loss: float = 0.0
    train_acc: float = 0.0


def fit_logistic(features: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
                 sample_weights: torch.Tensor | None = None, grid=L2_GRID, folds: int = FOLDS,
                 seed: int = 0, check: Callable[[], None] = lambda: None) -> LogisticFit:
    """Choose the L2 strength by stratified k-fold cross-validation, then solve on every picture.

    The strength with the best mean held-out accuracy (weighted like the fit) wins; ties (common with
    a few pictures per class) go to the lower held-out loss. sample_weights weigh each picture's loss
    and score (class balancing). check() is called before each solve: it raises to stop the fit (a
    cancel), and it tells the run's watchdog the work still moves. Solved where the features are.
    """
    x = features.detach().float()
    y = labels.detach().long().to(x.device)
    w = torch.ones(len(y), device=x.device) if sample_weights is None else sample_weights.detach().float().to(x.device)
    mean, scale = x.mean(0), x.std(0, unbiased=False)
    scale = torch.where(scale > 1e-6, scale, torch.ones_like(scale))  # a constant feature stays as it is
    z = (x - mean) / scale

    fold_of = stratified_folds(y.cpu(), folds, seed)
    scores, losses = {}, {}
    if fold_of is not None:
        fold_of = fold_of.to(x.device)
        k = int(fold_of.max()) + 1
        scored = w[fold_of >= 0].sum().item()  # the pictures some fold holds out
        starts = [None] * k
        for l2 in grid:
            correct = loss = 0.0
            for fold in range(k):
                check()
                held = fold_of == fold
                starts[fold] = solve(z[~held], y[~held], w[~held], num_classes, l2, start=starts[fold])
                logits = z[held] @ starts[fold][0].t() + starts[fold][1]
                correct += ((logits.argmax(1) == y[held]).float() * w[held]).sum().item()
                loss += (F.cross_entropy(logits, y[held], reduction="none") * w[held]).sum().item()
            scores[l2], losses[l2] = correct / scored, loss / scored
        chosen = max(grid, key=lambda l2: (scores[l2], -losses[l2]))
    else:
        chosen = FALLBACK_L2
    check()
    weight, bias = solve(z, y, w, num_classes, chosen)
    logits = z @ weight.t() + bias
    fit = LogisticFit(weight=weight / scale, bias=bias - (weight / scale) @ mean, l2=chosen, scores=scores,
                      train_loss=F.cross_entropy(logits, y).item(),
                      train_acc=(logits.argmax(1) == y).float().mean().item())
    return fit


def solve(z: torch.Tensor, y: torch.Tensor, w: torch.Tensor, num_classes: int, l2: float, *,
          start: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise the weighted mean cross-entropy + l2/2 ||W||^2 (the bias is not penalised) to convergence."""
    weight = torch.zeros(num_classes, z.shape[1], device=z.device) if start is None else start[0].clone()
    bias = torch.zeros(num_classes, device=z.device) if start is None else start[1].clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    share = w / w.sum()
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=MAX_ITERATIONS, history_size=10,
                                  tolerance_grad=1e-5, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        loss = (F.cross_entropy(z @ weight.t() + bias, y, reduction="none") * share).sum()
        loss = loss + l2 / 2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    return weight.detach(), bias.detach()


def stratified_folds(labels: torch.Tensor, folds: int, seed: int) -> torch.Tensor | None:
    """Each picture's fold, every class spread evenly over them; None when no class has two pictures.

    As many folds as the smallest class of two or more pictures allows, so one class with a single
    picture does not cost the others their cross-validation. Such a picture gets fold -1: always
    learnt from, never held out (held out, its class would be missing from the fit, and its score and
    loss would say nothing about the strength).
    """
    counts = torch.bincount(labels)
    usable = counts[counts >= 2]
    k = min(folds, int(usable.min())) if len(usable) else 0
    if k < 2:
        return None
    generator = torch.Generator().manual_seed(seed)
    fold_of = torch.empty_like(labels)
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        if len(members) == 1:
            fold_of[members] = -1
            continue
        members = members[torch.randperm(len(members), generator=generator)]
        fold_of[members] = torch.arange(len(members)) % k
    return fold_of
