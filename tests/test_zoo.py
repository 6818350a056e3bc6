"""The registry and every model in it: builds, shapes, parameter counts, TorchScript, torch.export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo.cli import main as zoo_cli

#: Every registry name of ../shared/spec/ZOO.md's model tables (checked against the file when present).
CATALOGUE = {
    "lenet",
    "alexnet",
    "vgg16",
    "inception",
    "resnet",
    "resnet18",
    "simple-cnn",
    "mnist-cnn",
    "mnist-cnn-bn",
    "mnist-cnn-wide",
    "fashion-net",
    "mnist-lstm",
    "mlp-bn",
    "transfer-resnet18",
    "autoencoder",
    "conv-autoencoder",
    "vae",
    "gan",
    "dcgan",
    "gan-curves",
    "rnn-regressor",
    "lstm-regressor",
    "ngram",
    "pos-tagger",
    "dqn",
    "regression-net",
    "classifier-net",
    "linear-regression",
    "poly-regression",
    "logistic-regression",
    "bn-net",
}
ZOO_MD = Path(__file__).resolve().parents[2] / "shared" / "spec" / "ZOO.md"
MODELS = zoo.list_models()


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def _parts():
    for name in MODELS:
        spec = zoo.get_spec(name)
        for part in spec.parts:
            yield pytest.param(name, part.name, id=f"{name}/{part.name}")


def _build(name: str):
    spec = zoo.get_spec(name)
    torch.manual_seed(0)
    return spec.resolved(**spec.reference_kwargs), zoo.get_model(name, **spec.reference_kwargs).eval()


def test_catalogue_names_are_registered():
    assert CATALOGUE <= set(MODELS)


def test_catalogue_matches_zoo_md():
    if not ZOO_MD.is_file():
        pytest.skip(f"{ZOO_MD} not found")
    text = ZOO_MD.read_text().split("## Recipes")[0]
    names = set(re.findall(r"^\| `([a-z0-9-]+)`", text, flags=re.M))
    assert names, "no registry names parsed from ZOO.md"
    assert names == CATALOGUE


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_matches_catalogue(name):
    spec = zoo.get_spec(name)
    assert spec.reference_params, f"{name} declares no reference parameter count"
    model = zoo.get_model(name, **spec.reference_kwargs)
    for where, expected in spec.reference_params.items():
        module = model if where == "model" else model.get_submodule(where)
        assert zoo.count_parameters(module) == expected, where


@pytest.mark.parametrize(("name", "part_name"), list(_parts()))
def test_part_shapes_torchscript_and_torch_export(name, part_name):
    spec, model = _build(name)
    part = spec.part(part_name)
    module = part.get(model)

    # Declared output shapes, at the example batch and at another batch size.
    for batch in (2, 3):
        inputs = part.example_inputs({"batch": batch})
        with torch.no_grad():
            outputs = _as_tuple(module(*inputs))
        assert [tuple(o.shape) for o in outputs] == [t.concrete_shape({"batch": batch}) for t in part.outputs]
        assert all(o.dtype == torch.float32 for o in outputs)

    inputs = part.example_inputs({"batch": 3}, seed=1)
    with torch.no_grad():
        expected = _as_tuple(module(*inputs))

    try:
        scripted = torch.jit.script(module)
    except Exception:
        scripted = torch.jit.trace(module, part.example_inputs())
    with torch.no_grad():
        got = _as_tuple(scripted(*inputs))
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)

    program = torch.export.export(
        module, part.example_inputs(), dynamic_shapes=part.torch_export_dynamic_shapes(["batch"])
    )
    with torch.no_grad():
        got = _as_tuple(program.module()(*inputs))
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_vae_eval_is_deterministic_and_train_samples():
    model = zoo.get_model("vae")
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    a, b = model(x)[0], model(x)[0]
    assert torch.equal(a, b)
    model.train()
    torch.manual_seed(0)
    c = model(x)[0]
    assert not torch.allclose(a, c)


def test_pos_tagger_padding_does_not_change_real_positions():
    torch.manual_seed(0)
    model = zoo.get_model("pos-tagger").eval()
    words = torch.tensor([[2, 3, 4]])
    chars = torch.tensor([[[2, 3, 0], [4, 5, 6], [7, 0, 0]]])
    padded_words = torch.tensor([[2, 3, 4, 0]])
    padded_chars = torch.zeros(1, 4, 5, dtype=torch.long)
    padded_chars[0, :3, :3] = chars[0]
    with torch.no_grad():
        short = model(words, chars)
        long = model(padded_words, padded_chars)
    torch.testing.assert_close(long[:, :3], short)


def test_rnn_regressor_carries_state():
    torch.manual_seed(0)
    model = zoo.get_model("rnn-regressor").eval()
    x = torch.randn(1, 20, 1)
    h0 = torch.zeros(1, 1, 32)
    with torch.no_grad():
        whole, _ = model(x, h0)
        first, h = model(x[:, :10], h0)
        second, _ = model(x[:, 10:], h)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_unknown_model_suggests_close_matches():
    with pytest.raises(ValueError, match="resnet"):
        zoo.get_model("resnet-18")
    with pytest.raises(TypeError, match="num_classes"):
        zoo.get_model("lenet", n_classes=3)


def test_builder_kwargs_change_the_declared_shapes():
    spec = zoo.get_spec("resnet").resolved(num_classes=7)
    model = zoo.get_model("resnet", num_classes=7).eval()
    part = spec.part("model")
    with torch.no_grad():
        out = model(*part.example_inputs())
    assert tuple(out.shape) == part.outputs[0].concrete_shape() == (2, 7)


def test_cli_list_json_has_every_catalogue_name():
    result = CliRunner().invoke(zoo_cli, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert CATALOGUE <= {r["name"] for r in rows}
    resnet = next(r for r in rows if r["name"] == "resnet")
    assert resnet["task"] == "image-classification" and resnet["params"] == 11_180_682


def test_cli_list_table_and_task_filter():
    result = CliRunner().invoke(zoo_cli, ["list", "--task", "gan"])
    assert result.exit_code == 0, result.output
    assert "dcgan" in result.output and "resnet" not in result.output


def test_cli_info():
    runner = CliRunner()
    result = runner.invoke(zoo_cli, ["info", "vae"])
    assert result.exit_code == 0, result.output
    assert "decoder" in result.output and "652,824" in result.output
    data = json.loads(runner.invoke(zoo_cli, ["info", "pos-tagger", "--json"]).output)
    assert [t["name"] for t in data["parts"][0]["inputs"]] == ["words", "chars"]
    bad = runner.invoke(zoo_cli, ["info", "resnt"])
    assert bad.exit_code != 0 and "resnet" in bad.output
