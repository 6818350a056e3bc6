"""Training speed: the seed's own loop vs our engine, same model, data, batch size and optimiser.

The seed loop is the tutorials' code: a torchvision dataset with per-sample PIL transforms, a
``DataLoader`` (batch 50 for MNIST, 32 for CIFAR-10, no workers) and a plain loop that computes the
training accuracy every step. Ours is ``zoo-train``'s engine (in-memory uint8 tensors, batch
transforms on the device). Both are timed over the same number of steps after a warm-up, data set-up
excluded. Prints a table and writes JSON to ``benchmarks/results/``.

    python benchmarks/train_speed.py                          # CPU: mnist-cnn (+ resnet, few steps)
    python benchmarks/train_speed.py --device cuda            # GPU: mnist-cnn and resnet-cifar10
    python benchmarks/train_speed.py --device cuda --time-to-accuracy   # resnet-cifar10 fast, full run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import zoo
from training.data import default_data_dir, load_dataset, locate_image_tree
from training.engine import TrainConfig, Trainer
from training.machine import machine_record, resolve_device
from training.recipes import get_recipe

RESULTS = Path(__file__).resolve().parent / "results"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seed_loop(recipe: str, data_dir: Path, device: torch.device, steps: int, warmup: int) -> dict:
    """The tutorials' loop, verbatim in spirit (S0 for MNIST, S3 L1990-2060 for CIFAR-10)."""
    import torchvision
    import torchvision.transforms as T

    torch.manual_seed(0)
    if recipe == "mnist-cnn-mnist":
        dataset = torchvision.datasets.MNIST(str(data_dir), train=True, transform=T.ToTensor())
        batch, model, lr = 50, zoo.get_model("mnist-cnn"), 1e-3
    else:
        tree = locate_image_tree(data_dir, ("cifar10",))
        if tree is None:
            raise SystemExit(f"CIFAR-10 not found under {data_dir}")
        transform = T.Compose(
            [T.Resize(40), T.RandomHorizontalFlip(), T.RandomCrop(32), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]
        )
        dataset = torchvision.datasets.ImageFolder(str(tree / "train"), transform=transform)
        batch, model, lr = 32, zoo.get_model("resnet"), 0.01
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True)
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    seen = 0
    start = None
    train_loss, train_acc = 0.0, 0.0
    for i, (im, label) in enumerate(loader):
        if i == warmup:
            _sync(device)
            start, seen = time.perf_counter(), 0
        if i == warmup + steps:
            break
        im, label = im.to(device), label.to(device)
        output = model(im)
        loss = F.cross_entropy(output, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        train_loss += loss.item()
        train_acc += float((output.max(1)[1] == label).sum().item()) / output.shape[0]
        seen += len(label)
    _sync(device)
    assert start is not None, "dataset too small for the requested steps"
    elapsed = time.perf_counter() - start
    return {"images_per_s": seen / elapsed, "steps": steps, "batch_size": batch, "seconds": elapsed}


def our_loop(
    recipe: str,
    data_dir: Path,
    device: torch.device,
    steps: int,
    warmup: int,
    profile: str | None,
    overrides: dict | None = None,
    compile_: bool = False,
) -> dict:
    """Our engine on the same recipe, timed between step ``warmup`` and step ``warmup + steps``
    (from the run's per-step log, which records the elapsed time every ``warmup`` steps)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            TrainConfig(
                recipe=recipe,
                profile=profile,
                data_dir=data_dir,
                device=str(device),
                quiet=True,
                eval_samples=16,
                out=Path(tmp),
                max_steps=warmup + steps,
                compile=compile_,
                overrides={**(overrides or {}), "extra": {"log_every": warmup}},
            )
        )
        trainer.fit()
        log = {r["step"]: r for r in map(json.loads, (Path(tmp) / "steps.jsonl").read_text().splitlines())}
    seconds = log[warmup + steps]["elapsed_s"] - log[warmup]["elapsed_s"]
    return {
        "images_per_s": steps * trainer.profile.batch_size / seconds,
        "steps": steps,
        "profile": profile,
        "batch_size": trainer.profile.batch_size,
        "precision": trainer.precision,
        "first_steps_s": log[warmup]["elapsed_s"],
    }


#: One recipe per image model for the precision table (its batch size is the recipe's own).
PRECISION_RECIPES = [
    "lenet-mnist",
    "lenet-s3-mnist",
    "mnist-cnn-mnist",
    "mnist-cnn-bn-mnist",
    "mnist-cnn-wide-mnist",
    "fashion-net-fashion-mnist",
    "mlp-bn-mnist",
    "mnist-lstm-mnist",
    "simple-cnn-cifar10",
    "resnet-cifar10",
    "resnet18-cifar10",
    "inception-cifar10",
    "vgg16-cifar10",
    "alexnet-cifar10",
    "transfer-cats-dogs",
    "dcgan-mnist",
    "gan-mnist",
    "autoencoder-mnist",
    "conv-autoencoder-mnist",
    "vae-mnist",
]
#: (label, overrides): fp32 as the recipes had it, bf16 autocast, bf16 autocast + channels_last.
PRECISIONS = [
    ("fp32", {"precision": "fp32", "channels_last": False}),
    ("bf16", {"precision": "bf16", "channels_last": False}),
    ("bf16+cl", {"precision": "bf16", "channels_last": True}),
]


def precision_rows(
    recipes: list[str], data_dir: Path, device: torch.device, steps: int, warmup: int, batch_size: int | None
) -> list[dict]:
    """Engine throughput of each recipe in fp32, bf16 and bf16 + channels_last (same batch, same steps)."""
    rows = []
    for recipe in recipes:
        row: dict = {"recipe": recipe}
        for label, overrides in PRECISIONS:
            extra = {**overrides, **({"batch_size": batch_size} if batch_size else {})}
            r = our_loop(recipe, data_dir, device, steps, warmup, None, extra)
            row[label] = round(r["images_per_s"], 1)
            row["batch_size"] = r["batch_size"]
        row["bf16_speedup"] = round(max(row["bf16"], row["bf16+cl"]) / row["fp32"], 2)
        print(row, flush=True)
        rows.append(row)
    return rows


def compile_row(recipe: str, profile: str, data_dir: Path, device: torch.device, steps: int, warmup: int) -> dict:
    """Eager vs ``torch.compile`` over ``warmup + steps`` steps, compile time included."""
    eager = our_loop(recipe, data_dir, device, steps, warmup, profile)
    compiled = our_loop(recipe, data_dir, device, steps, warmup, profile, compile_=True)
    total = {
        k: r["first_steps_s"] + steps * r["batch_size"] / r["images_per_s"]
        for k, r in (("eager", eager), ("compiled", compiled))
    }
    return {
        "recipe": recipe,
        "profile": profile,
        "precision": eager["precision"],
        "steps": warmup + steps,
        "eager_images_per_s": round(eager["images_per_s"], 1),
        "compiled_images_per_s": round(compiled["images_per_s"], 1),
        "eager_total_s": round(total["eager"], 1),
        "compiled_total_s": round(total["compiled"], 1),
        "speedup_including_compile": round(total["eager"] / total["compiled"], 2),
    }


def time_to_accuracy(
    data_dir: Path,
    device: torch.device,
    profile: str,
    epochs: int | None = None,
    compile_: bool = False,
    recipe_name: str = "resnet-cifar10",
) -> dict:
    """A full run of a CIFAR-10 recipe: wall-clock time (data already cached, a 20-step warm-up run first) and
    final test accuracy, with the test accuracy after every evaluated epoch. ``epochs`` overrides the profile's."""
    import tempfile

    overrides: dict = {"epochs": epochs} if epochs else {}
    overrides["extra"] = {"eval_every": 1}  # the whole curve, at any epoch budget
    recipe = get_recipe(recipe_name)
    data = load_dataset(recipe.dataset, data_dir, **recipe.dataset_options)  # loaded once, whole test split kept
    with tempfile.TemporaryDirectory() as tmp:
        Trainer(
            TrainConfig(
                recipe=recipe.name,
                profile=profile,
                device=str(device),
                data=data,
                out=Path(tmp) / "warm",
                max_steps=20,
                quiet=True,
                eval_samples=16,
                overrides=overrides,
                compile=compile_,
            )
        ).fit()
        _sync(device)
        t0 = time.perf_counter()
        trainer = Trainer(
            TrainConfig(
                recipe=recipe.name,
                profile=profile,
                device=str(device),
                data=data,
                out=Path(tmp) / "run",
                quiet=True,
                overrides=overrides,
                compile=compile_,
            )
        )
        summary = trainer.fit()
        _sync(device)
        wall = time.perf_counter() - t0
    curve, train_s = [], 0.0
    for record in trainer.history:
        train_s += record["time_s"]
        curve.append(
            {"epoch": record["epoch"], "test_accuracy": record.get("test_accuracy"), "train_s": round(train_s, 2)}
        )
    return {
        "recipe": recipe.name,
        "profile": profile,
        "epochs": summary["epochs"],
        "compile": compile_,
        "test_samples": len(data.test["y"]),
        "wall_s": round(wall, 1),
        "test_accuracy": summary["test_accuracy"],
        "curve": curve,
    }


def _tta_line(run: dict) -> str:
    return (
        f"{run['recipe']} --profile {run['profile']} ({run['epochs']} epochs{', compiled' if run['compile'] else ''}): "
        f"{run['test_accuracy']:.4f} test accuracy in {run['wall_s']} s"
    )


def machine(device: torch.device) -> str:
    """The machine in one line: the GPU, or the CPU model with its cores, speed flags and torch threads."""
    return str(machine_record(str(device))["line"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--recipes", nargs="*", default=None, help="default: mnist-cnn-mnist resnet-cifar10")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 300 on GPU, 150 on CPU)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--time-to-accuracy", action="store_true", help="also run a recipe end to end (resnet-cifar10 fast)"
    )
    parser.add_argument(
        "--tta-epochs",
        nargs="*",
        type=int,
        default=None,
        help="epoch budgets for --time-to-accuracy, one full run each (default: the profile's)",
    )
    parser.add_argument("--tta-recipe", default="resnet-cifar10", help="the recipe --time-to-accuracy trains")
    parser.add_argument("--tta-profile", default="fast", help="its profile")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model in --time-to-accuracy runs")
    parser.add_argument(
        "--no-throughput", dest="throughput", action="store_false", help="skip the seed-loop vs engine throughput rows"
    )
    parser.add_argument(
        "--precision",
        action="store_true",
        help="the fp32 / bf16 / bf16+channels_last table over every image model's recipe",
    )
    parser.add_argument("--precision-recipes", nargs="*", default=None, help="default: one recipe per image model")
    parser.add_argument("--precision-steps", type=int, default=20)
    parser.add_argument(
        "--precision-batch", type=int, default=None, help="batch size for the table (default: each recipe's)"
    )
    parser.add_argument(
        "--compile-check",
        action="store_true",
        help="eager vs torch.compile (compile time included) for resnet-cifar10 --profile cpu-plain",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON file (default benchmarks/results/train_speed-<device>.json)"
    )
    args = parser.parse_args()

    device = resolve_device(args.device)
    data_dir = args.data_dir or default_data_dir()
    recipes = args.recipes or ["mnist-cnn-mnist", "resnet-cifar10"]
    steps = args.steps or (300 if device.type == "cuda" else 150)
    steps -= steps % args.warmup  # the per-step log is read every `warmup` steps
    rows: list[dict] = []
    result = {
        "machine": machine(device),
        "machine_record": machine_record(str(device)),
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    out = args.out or RESULTS / f"train_speed-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after each stage: a cut-off run keeps what it measured
        out.write_text(json.dumps(result, indent=2))

    for recipe in recipes if args.throughput else []:
        measured = len(rows)
        n = (
            steps
            if (recipe == "mnist-cnn-mnist" or device.type == "cuda")
            else max(args.warmup, steps // 5 // args.warmup * args.warmup)
        )
        seed = seed_loop(recipe, data_dir, device, n, args.warmup)
        ours = our_loop(recipe, data_dir, device, n, args.warmup, "seed")
        rows.append(
            {
                "recipe": recipe,
                "loop": "seed profile",
                "batch_size": seed["batch_size"],
                "steps": n,
                "seed_images_per_s": round(seed["images_per_s"], 1),
                "ours_images_per_s": round(ours["images_per_s"], 1),
                "speedup": round(ours["images_per_s"] / seed["images_per_s"], 2),
            }
        )
        if device.type == "cuda" and recipe == "resnet-cifar10":
            fast = our_loop(recipe, data_dir, device, n, args.warmup, "fast")
            rows.append(
                {
                    "recipe": recipe,
                    "loop": "fast profile (batch 512, bf16)",
                    "batch_size": 512,
                    "steps": n,
                    "seed_images_per_s": round(seed["images_per_s"], 1),
                    "ours_images_per_s": round(fast["images_per_s"], 1),
                    "speedup": round(fast["images_per_s"] / seed["images_per_s"], 2),
                }
            )
        print(*rows[measured:], sep="\n", flush=True)
        save()
    save()
    if args.precision:
        result["precision"] = precision_rows(
            args.precision_recipes or PRECISION_RECIPES, data_dir, device, args.precision_steps, 5, args.precision_batch
        )
        save()
    if args.compile_check:
        result["compile"] = compile_row(
            "resnet-cifar10", "cpu-plain" if device.type == "cpu" else "fast", data_dir, device, 100, 20
        )
        print(result["compile"], flush=True)
        save()
    if args.time_to_accuracy:
        result["time_to_accuracy"] = []
        for epochs in args.tta_epochs or [None]:
            run = time_to_accuracy(data_dir, device, args.tta_profile, epochs, args.compile, args.tta_recipe)
            result["time_to_accuracy"].append(run)
            save()
            print(_tta_line(run), flush=True)

    print(f"\ntraining throughput on {result['machine']} (torch {torch.__version__})")
    print(f"{'recipe':<18} {'loop':<32} {'batch':>5} {'steps':>5} {'seed img/s':>11} {'ours img/s':>11} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['recipe']:<18} {r['loop']:<32} {r['batch_size']:>5} {r['steps']:>5} "
            f"{r['seed_images_per_s']:>11,.0f} {r['ours_images_per_s']:>11,.0f} {r['speedup']:>5.2f}x"
        )
    if result.get("precision"):
        print(f"\n{'recipe':<28} {'batch':>5} {'fp32':>8} {'bf16':>8} {'bf16+cl':>8} {'best/fp32':>9}  (images/s)")
        for r in result["precision"]:
            print(
                f"{r['recipe']:<28} {r['batch_size']:>5} {r['fp32']:>8,.1f} {r['bf16']:>8,.1f} {r['bf16+cl']:>8,.1f} "
                f"{r['bf16_speedup']:>8.2f}x"
            )
    for run in result.get("time_to_accuracy", []):
        print(_tta_line(run))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
