"""Text datasets: the seed's sonnet as n-grams, the toy tagging sentences, CoNLL-U treebanks."""

from __future__ import annotations

from pathlib import Path

import torch

from .base import DataBundle, DataNotFoundError, Tensors

# --------------------------------------------------------------------------- text

SONNET = """When forty winters shall besiege thy brow,
And dig deep trenches in thy beauty's field,
Thy youth's proud livery so gazed on now,
Will be a totter'd weed of small worth held:
Then being asked, where all thy beauty lies,
Where all the treasure of thy lusty days;
To say, within thine own deep sunken eyes,
Were an all-eating shame, and thriftless praise.
How much more praise deserv'd thy beauty's use,
If thou couldst answer 'This fair child of mine
Shall sum my count, and make my old excuse,'
Proving his beauty by succession thine!
This were to be new made when thou art old,
And see thy blood warm when thou feel'st it cold."""


def ngram_bundle(tokens: list[str], context: int, name: str, description: str) -> DataBundle:
    """(context words → next word) pairs over a token list; sorted vocabulary."""
    vocab = sorted(set(tokens))
    index = {w: i for i, w in enumerate(vocab)}
    ids = torch.tensor([index[w] for w in tokens])
    windows = ids.unfold(0, context + 1, 1)
    train = {"x": windows[:, :context].contiguous(), "y": windows[:, context].contiguous()}
    return DataBundle(
        name,
        train,
        train,
        description,
        meta={"vocab": vocab, "context_size": context},
        model_kwargs={"vocab_size": len(vocab), "context_size": context},
    )


def load_sonnet(root: Path | None = None, download: bool = False) -> DataBundle:
    tokens = SONNET.split()
    return ngram_bundle(tokens, 2, "sonnet", f"Shakespeare's Sonnet 2 ({len(tokens)} tokens, {len(set(tokens))} types)")


POS_TOY_TRAIN = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
]
POS_TOY_TEST = [("Everybody ate the apple".split(), ["NN", "V", "DET", "NN"])]


def read_conllu(path: Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as (forms, UPOS tags); multi-word ranges and empty nodes are skipped."""
    sentences: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
            elif not line.startswith("#"):
                cols = line.split("\t")
                if len(cols) != 10:
                    raise ValueError(f"{path}: not CoNLL-U (expected 10 tab-separated columns): {line[:60]!r}")
                if cols[0].isdigit():
                    words.append(cols[1])
                    tags.append(cols[3])
    if words:
        sentences.append((words, tags))
    return sentences


def tagging_tensors(
    sentences: list[tuple[list[str], list[str]]], words: list[str], chars: list[str], tags: list[str]
) -> Tensors:
    """Padded index tensors: words (N, T), chars (N, T, C), tags (N, T) with -100 on padding."""
    w_index = {w: i for i, w in enumerate(words)}
    c_index = {c: i for i, c in enumerate(chars)}
    t_index = {t: i for i, t in enumerate(tags)}
    n = len(sentences)
    t_max = max(len(s) for s, _ in sentences)
    c_max = max(len(w) for s, _ in sentences for w in s)
    w_out = torch.zeros(n, t_max, dtype=torch.long)
    c_out = torch.zeros(n, t_max, c_max, dtype=torch.long)
    y_out = torch.full((n, t_max), -100, dtype=torch.long)
    for i, (sent, sent_tags) in enumerate(sentences):
        for j, (word, tag) in enumerate(zip(sent, sent_tags)):
            low = word.lower()
            w_out[i, j] = w_index.get(low, 1)
            c_out[i, j, : len(low)] = torch.tensor([c_index.get(c, 1) for c in low])
            y_out[i, j] = t_index[tag]
    return {"words": w_out, "chars": c_out, "y": y_out}


def tagging_bundle(train: list, test: list, name: str, description: str) -> DataBundle:
    words = ["<pad>", "<unk>"] + sorted({w.lower() for s, _ in train for w in s})
    chars = ["<pad>", "<unk>"] + sorted({c for s, _ in train for w in s for c in w.lower()})
    tags = sorted({t for _, ts in train + test for t in ts})
    return DataBundle(
        name,
        tagging_tensors(train, words, chars, tags),
        tagging_tensors(test, words, chars, tags),
        description,
        labels=tags,
        meta={"words": words, "chars": chars, "tags": tags},
        model_kwargs={"n_word": len(words), "n_char": len(chars), "n_tag": len(tags)},
    )


def load_pos_toy(root: Path | None = None, download: bool = False) -> DataBundle:
    return tagging_bundle(POS_TOY_TRAIN, POS_TOY_TEST, "pos-toy", "S3's two tagged sentences")


def load_conllu(root: Path, download: bool = False) -> DataBundle:
    """UD English EWT: train on ``*-ud-train.conllu`` when present, else on a fixed 80 % of dev;
    evaluate on dev (or its held-out 20 %)."""
    folder = next((p for p in (root / "ud-english-ewt", root) if p.is_dir() and list(p.glob("*-ud-dev.conllu"))), None)
    if folder is None:
        raise DataNotFoundError(
            f"no CoNLL-U treebank under {root}: looked for ud-english-ewt/*-ud-dev.conllu.\n"
            f"Download UD English EWT (https://universaldependencies.org) and point `--data-dir` at its parent."
        )
    dev = read_conllu(next(folder.glob("*-ud-dev.conllu")))
    train_files = list(folder.glob("*-ud-train.conllu"))
    if train_files:
        train, test = read_conllu(train_files[0]), dev
        how = f"train {train_files[0].name}, evaluate on dev"
    else:
        order = torch.randperm(len(dev), generator=torch.Generator().manual_seed(0)).tolist()
        cut = int(0.8 * len(dev))
        train, test = [dev[i] for i in order[:cut]], [dev[i] for i in order[cut:]]
        how = f"no train file: fixed 80/20 split of dev ({cut} / {len(dev) - cut} sentences)"
    return tagging_bundle(train, test, "ud-english", f"UD English from {folder} ({how})")
