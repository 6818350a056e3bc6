"""The tutorials' small models: regression and classification on generated data."""

from __future__ import annotations

from .base import Profile, Recipe, register

register(
    Recipe(
        "regression-quadratic",
        "regression-net",
        "regression",
        "quadratic",
        "Fit y = x² + noise.",
        "S1 L180-260",
        {
            "seed": Profile(
                epochs=200,
                batch_size=100,
                optimizer="sgd",
                lr=0.2,
                shuffle=False,
                notes="S1: SGD 0.2, full batch, 200 steps",
            )
        },
    )
)
register(
    Recipe(
        "classifier-gaussians",
        "classifier-net",
        "classification",
        "gaussians",
        "Separate two Gaussian clusters.",
        "S1 L330-420, S2 L200-240",
        {
            "seed": Profile(
                epochs=100,
                batch_size=200,
                optimizer="sgd",
                lr=0.02,
                shuffle=False,
                notes="S2: SGD 0.02, full batch, 100 steps",
            )
        },
    )
)
register(
    Recipe(
        "linear-regression",
        "linear-regression",
        "regression",
        "linear-points",
        "Fit a line to S3's 15 points.",
        "S3 L840-900",
        {
            "seed": Profile(
                epochs=1000,
                batch_size=15,
                optimizer="sgd",
                lr=1e-3,
                shuffle=False,
                notes="S3: SGD 1e-3, full batch, 1000 epochs",
            )
        },
    )
)
register(
    Recipe(
        "poly-regression",
        "poly-regression",
        "regression",
        "poly",
        "Fit a cubic on features [x, x², x³].",
        "S3 L905-970",
        {
            "seed": Profile(
                epochs=1,
                batch_size=32,
                optimizer="sgd",
                lr=1e-3,
                extra={"stop_below": 1e-2},
                notes="S3: SGD 1e-3, fresh batches of 32 until the loss < 1e-2",
            )
        },
    )
)
register(
    Recipe(
        "logistic-regression",
        "logistic-regression",
        "binary-classification",
        "logistic",
        "Logistic regression on 100 two-feature points.",
        "S3 L1040-1100",
        {
            "seed": Profile(
                epochs=20000,
                batch_size=100,
                optimizer="sgd",
                lr=1e-3,
                momentum=0.9,
                shuffle=False,
                eval_batch_size=100,
                notes="S3: BCE, SGD 1e-3 momentum 0.9, full batch, 20,000 epochs",
            )
        },
    )
)
register(
    Recipe(
        "bn-demo",
        "bn-net",
        "regression",
        "bn-quadratic",
        "The batch-norm demo: the same net with and without BN.",
        "S0 L482-541",
        {
            "seed": Profile(
                epochs=12,
                batch_size=64,
                optimizer="adam",
                lr=0.03,
                notes="Adam 0.03, batch 64, 12 epochs (the tutorial's demo settings)",
            )
        },
        variants=({"model.batch_norm": False}, {"model.batch_norm": True}),
    )
)
register(
    Recipe(
        "optimizer-comparison",
        "regression-net",
        "regression",
        "quadratic-1000",
        "Four regression nets, four optimisers, one loss plot.",
        "S1 L690-780",
        {
            "seed": Profile(
                epochs=12,
                batch_size=32,
                optimizer="sgd",
                lr=0.01,
                extra={"log_every": 1},
                notes="S1: batch 32, 12 epochs; per-step losses plotted",
            )
        },
        variants=(
            {"label": "SGD", "optimizer": "sgd", "lr": 0.01},
            {"label": "Momentum", "optimizer": "sgd", "lr": 0.01, "momentum": 0.8},
            {"label": "RMSprop", "optimizer": "rmsprop", "lr": 0.01, "alpha": 0.9},
            {"label": "Adam", "optimizer": "adam", "lr": 0.01, "betas": (0.9, 0.99)},
        ),
    )
)
