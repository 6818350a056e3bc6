"""Text, sequence and reinforcement-learning recipes."""

from __future__ import annotations

from .base import Profile, Recipe, register

register(
    Recipe(
        "ngram-sonnet",
        "ngram",
        "classification",
        "sonnet",
        "Trigram language model on Shakespeare's Sonnet 2.",
        "S3 L2400-2480",
        {
            "seed": Profile(
                epochs=100,
                batch_size=1,
                optimizer="sgd",
                lr=0.01,
                weight_decay=1e-5,
                shuffle=False,
                notes="S3: SGD 0.01 wd 1e-5, one trigram per step in text order, 100 epochs",
            )
        },
        target="loss <= 0.1 at epoch 100; ('so', 'gazed') → 'on'",
    )
)
register(
    Recipe(
        "pos-tagger-toy",
        "pos-tagger",
        "tagging",
        "pos-toy",
        "Char-augmented LSTM tagger on S3's two sentences.",
        "S3 L2510-2600",
        {
            "seed": Profile(
                epochs=300,
                batch_size=1,
                optimizer="sgd",
                lr=0.01,
                shuffle=False,
                notes="S3: SGD 0.01, one sentence per step, 300 epochs",
            )
        },
        target='"Everybody ate the apple" → NN V DET NN',
    )
)
register(
    Recipe(
        "pos-tagger-ud",
        "pos-tagger",
        "tagging",
        "ud-english",
        "The same tagger on Universal Dependencies English.",
        "S3 L2510-2600 (real-data variant; hyper-parameters ours)",
        {
            "seed": Profile(
                epochs=10,
                batch_size=32,
                optimizer="adam",
                lr=2e-3,
                eval_batch_size=256,
                extra={"word_dropout": 0.1},
                notes="no seed recipe: Adam 2e-3, batch 32 sentences, 10 epochs, word dropout 0.1 (to UNK)",
            )
        },
        target="report token accuracy on UD dev",
    )
)
register(
    Recipe(
        "rnn-sin-cos",
        "rnn-regressor",
        "stateful-regression",
        "sin-cos",
        "S1's RNN reading sin(t), predicting cos(t).",
        "S1 L1390-1470",
        {
            "seed": Profile(
                epochs=1,
                batch_size=1,
                optimizer="adam",
                lr=0.02,
                shuffle=False,
                notes="S1: Adam 0.02, 100 consecutive windows of 10 steps, hidden state carried",
            )
        },
    )
)
register(
    Recipe(
        "lstm-airline",
        "lstm-regressor",
        "sequence-regression",
        "airline",
        "S3's LSTM on monthly airline passengers.",
        "S3 L2240-2330",
        {
            "seed": Profile(
                epochs=1000,
                batch_size=1,
                optimizer="adam",
                lr=0.01,
                shuffle=False,
                notes="S3: MSE, Adam 0.01, 1000 epochs on the first 70 % of the series",
            )
        },
    )
)
register(
    Recipe(
        "dqn-cartpole",
        "dqn",
        "dqn",
        "none",
        "S1's DQN on gymnasium's CartPole-v1.",
        "S1 L1790-1900",
        {
            "seed": Profile(
                epochs=20,
                batch_size=32,
                optimizer="adam",
                lr=0.01,
                extra={
                    "episodes_per_epoch": 20,
                    "memory": 2000,
                    "gamma": 0.9,
                    "epsilon": 0.9,
                    "target_sync": 100,
                    "reward_shaping": True,
                    "eval_episodes": 100,
                },
                notes="S1: replay 2000, batch 32, gamma 0.9, epsilon 0.9, target sync 100, Adam 0.01, shaped reward",
            ),
        },
        target="mean return >= 195 over 100 greedy evaluation episodes",
    )
)
