"""The time-to-accuracy recipe's parts (issue U): SpeedNet's whitening stem, the speed step's tricks (each a profile
field), the triangle schedule, and a trained checkpoint that evaluation leaves exactly as trained. That the recipe
learns on real data is tests/test_recipes_learn.py's; its measured time to accuracy is benchmarks/speednet.py's."""

from __future__ import annotations

import pytest
import torch

import zoo
from training.data import DataBundle
from training.recipes import get_recipe
from training.steps import Context, build_scheduler
from training.steps.classification import tta_logits
from training.steps.speed import SpeedStep
from zoo.models.speednet import whitening_filters


def _images(n: int = 2000, seed: int = 0) -> torch.Tensor:
    """Correlated, smooth random images (neighbouring pixels and channels alike), as photos are."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 17, 17, generator=g)
    x = torch.nn.functional.interpolate(base, size=32, mode="bilinear", align_corners=False)
    return x.repeat(1, 3, 1, 1) + 0.3 * torch.randn(n, 3, 32, 32, generator=g)


def test_the_whitening_stem_whitens_the_patches_it_was_fitted_on():
    x = _images()
    filters = whitening_filters(x, kernel=2, eps=1e-6)
    assert filters.shape == (24, 3, 2, 2)
    out = torch.nn.functional.conv2d(x, filters[:12])  # the other 12 are their negatives
    assert torch.equal(filters[12:], -filters[:12])
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    covariance = torch.cov(flat)
    torch.testing.assert_close(covariance, torch.eye(12), atol=0.02, rtol=0.02)
    raw = torch.cov(x.unfold(2, 2, 1).unfold(3, 2, 1).permute(1, 4, 5, 0, 2, 3).reshape(12, -1))
    off_diagonal = (raw - torch.diag(raw.diagonal())).abs().max()
    assert off_diagonal > 0.5 * raw.diagonal().min(), "the test images must be correlated for this to mean much"


def test_the_triangle_schedule_rises_to_the_peak_and_falls_to_the_end():
    profile = get_recipe("speednet-cifar10").profile("default")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=profile.lr)
    scheduler = build_scheduler(optimizer, profile, total_steps=100)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"] / profile.lr)
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.2) and max(rates) == pytest.approx(1.0)
    assert rates.index(max(rates)) == 23 and all(a > b for a, b in zip(rates[23:], rates[24:]))
    assert optimizer.param_groups[0]["lr"] / profile.lr == pytest.approx(0.07)  # after the last step


def test_each_trick_is_a_profile_field_set_from_the_command_line():
    profile = get_recipe("speednet-cifar10").profile("default")
    changed = profile.with_overrides(**{"extra.lookahead": "false", "extra.tta": "1", "augment.pad": "4"})
    assert changed.extra["lookahead"] is False and changed.extra["tta"] == 1 and changed.augment["pad"] == 4
    assert changed.extra["whiten"] is True and profile.extra["lookahead"] is True  # the rest, and the recipe, kept
    with pytest.raises(ValueError, match="named entries"):
        profile.with_overrides(**{"lr.peak": "1"})


def test_test_time_augmentation_averages_the_views():
    model = zoo.get_model("speednet").eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
        torch.testing.assert_close(tta_logits(model, x, 0), plain)
        torch.testing.assert_close(tta_logits(model, x, 1), 0.5 * (plain + model(x.flip(-1))))
        six = tta_logits(model, x, 2)
        torch.testing.assert_close(tta_logits(model, x, 2, plain), six)  # the image's own view, passed in, is reused
    assert six.shape == plain.shape and not torch.allclose(six, tta_logits(model, x, 1))


def _bundle(n: int = 256) -> DataBundle:
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataBundle("cifar10", {"x": x, "y": y}, {"x": x[:64], "y": y[:64]}, "random images", list(range(10)))


def _context(
    model: torch.nn.Module, bundle: DataBundle, recipe_name: str = "speednet-cifar10", profile: str = "default"
) -> Context:
    recipe = get_recipe(recipe_name)
    return Context(
        recipe=recipe,
        profile=recipe.profile(profile).with_overrides(batch_size=64),
        data=bundle,
        model=model,
        raw_model=model,
        device=torch.device("cpu"),
        seed=0,
        preprocessing=dict(recipe.preprocessing or {}),
    )


def test_a_fresh_run_initialises_and_evaluating_trained_weights_changes_nothing():
    """begin() (a fresh run's first step) sets the identity init and the whitening filters; a step built to evaluate
    trained weights (zoo weights verify, zoo-eval) never touches them."""
    bundle = _bundle()
    model = zoo.get_model("speednet")
    step = SpeedStep(_context(model, bundle))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    evaluated = step.evaluate(final=True)
    assert set(evaluated) == {"test_loss", "test_accuracy", "test_accuracy_single_view"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    step.begin(None)
    conv = model.groups[1].conv2.weight
    assert torch.equal(conv[:, :, 1, 1].diagonal(), torch.ones(conv.shape[0]))  # identity filters
    assert not model.whiten.weight.requires_grad and not torch.equal(model.whiten.weight, before["whiten.weight"])
    assert len(step.average) == len(model.state_dict())
    batch = next(iter(step.train_batches(0, 0)))
    assert "index" in batch and step.train_step(batch)["loss"].isfinite()


def test_a_card_trained_with_a_trick_off_says_so_in_a_command_that_reads_back():
    """A card's overrides of a mapping field become dotted --set keys, which give back the same hyper-parameters."""
    from training.commands import train_command
    from training.recipes.base import parse_entry

    profile = get_recipe("speednet-cifar10").profile("default")
    overrides = {"extra": {**profile.extra, "tta": 0, "lookahead": False}, "label_smoothing": 0.0}
    card = {"training": {"recipe": "speednet-cifar10", "profile": "default", "overrides": overrides, "seed": 1}}
    command = train_command(card)
    assert command == (
        "zoo-train speednet-cifar10 --set extra.lookahead=false --set extra.tta=0 --set label_smoothing=0.0 --seed 1"
    )
    sets = dict(arg.split("=", 1) for arg in command.split(" --set ")[1:])
    sets["label_smoothing"] = sets["label_smoothing"].split()[0]
    again = profile.with_overrides(**sets)
    assert again.extra == overrides["extra"] and again.label_smoothing == 0.0
    assert parse_entry("[0.35, 1.0]", None) == [0.35, 1.0] and parse_entry("cosine", "x") == "cosine"


def _classification_context(profile: str, bundle: DataBundle) -> Context:
    return _context(zoo.get_model("resnet"), bundle, "resnet-cifar10", profile)


def test_the_tricks_that_need_no_particular_network_carry_to_the_seed_resnet():
    """resnet-cifar10 --profile cpu: the plain classification step with alternating flips (an image and its mirror in
    consecutive epochs), Lookahead (kept across a resume) and 6-view TTA; cpu-plain has none of them."""
    from training.steps.classification import ClassificationStep

    bundle = _bundle(64)
    plain = ClassificationStep(_classification_context("cpu-plain", bundle))
    assert not any(plain.tricks[k] for k in ("alternate_flip", "lookahead", "tta"))
    assert "index" not in next(iter(plain.train_batches(0, 0)))
    assert set(plain.evaluate(final=True)) == {"test_loss", "test_accuracy"}

    step = ClassificationStep(_classification_context("cpu", bundle))
    step.begin(None)
    assert len(step.average) == len(step.ctx.raw_model.state_dict())
    seen: list[torch.Tensor] = []
    step.ctx.raw_model.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    batch = next(iter(step.train_batches(0, 0)))
    step.train_step(batch)
    step.epoch = 1
    step.train_step(batch)
    flipped = step.first_flip[batch["index"]]
    assert 0 < int(flipped.sum()) < len(flipped)
    assert torch.equal(seen[1], seen[0].flip(-1))  # every image the other way round in the next epoch
    assert set(step.evaluate(final=True)) == {"test_loss", "test_accuracy", "test_accuracy_single_view"}

    resumed = ClassificationStep(_classification_context("cpu", bundle))
    resumed.load_state_dict(step.state_dict())
    resumed.begin(None)  # a resumed run keeps its average
    assert resumed.steps_done == 2 and all(torch.equal(a, b) for a, b in zip(resumed.average, step.average))


def test_whitening_carries_to_any_stem_keeping_the_directions_of_largest_variance():
    """--set extra.whiten=true on the seed ResNet: its 7x7 stem of 64 filters keeps the 32 patch directions of
    largest variance (each with its negative), whitened, and is frozen; a stem it cannot whiten says why."""
    from dataclasses import replace

    from training.steps.classification import ClassificationStep

    g = torch.Generator().manual_seed(2)
    smooth = torch.nn.functional.interpolate(torch.rand(64, 3, 9, 9, generator=g), size=32, mode="bilinear")
    x = (255 * (0.8 * smooth + 0.2 * torch.rand(64, 3, 32, 32, generator=g))).to(torch.uint8)
    bundle = DataBundle("cifar10", {"x": x, "y": torch.zeros(64, dtype=torch.long)}, None, "smooth", list(range(10)))
    ctx = _classification_context("cpu-plain", bundle)
    ctx.profile = replace(ctx.profile, extra={"whiten": True})
    step = ClassificationStep(ctx)
    step.begin(None)
    stem = ctx.raw_model.block1
    assert step.stem() is stem and not stem.weight.requires_grad
    assert torch.equal(stem.weight[32:], -stem.weight[:32])
    images = step.transform(train=False)({"x": x})["x"].float().contiguous()
    out = torch.nn.functional.conv2d(images, stem.weight[:32].float()).permute(1, 0, 2, 3).reshape(32, -1)
    torch.testing.assert_close(torch.cov(out), torch.eye(32), atol=0.05, rtol=0.05)
    raw = torch.cov(images.unfold(2, 7, 1).unfold(3, 7, 1).permute(1, 4, 5, 0, 2, 3).reshape(147, -1))
    basis = torch.linalg.qr(stem.weight[:32].float().reshape(32, 147).T).Q  # the span of the kept directions
    kept = torch.trace(basis.T @ raw @ basis)
    torch.testing.assert_close(kept, torch.linalg.eigvalsh(raw)[-32:].sum(), rtol=1e-3, atol=0)  # the 32 largest
    assert stem.bias is not None and stem.bias.requires_grad
    next(iter(step.train_batches(3, 0)))  # after whiten_bias_epochs the stem's bias is fixed too
    assert not stem.bias.requires_grad

    wide = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 2), torch.nn.Flatten(), torch.nn.LazyLinear(10))
    ctx = _context(wide, bundle, "resnet-cifar10", "cpu")
    ctx.profile = replace(ctx.profile, extra={"whiten": True})
    with pytest.raises(ValueError, match="at most 2 x 12 filters"):
        ClassificationStep(ctx).begin(None)
