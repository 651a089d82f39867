"""String options with a fixed set of values: one ``Literal`` alias each, the tuple of its
values read from it, the public signatures annotated with it, every value accepted, and a bad
value refused in one line that lists them all."""

import inspect
import typing

import jax
import jaxtyping
import numpy as np
import pytest

import flowkit as fk
from flowkit.bijectors._jet_coupling import JET_SPLITS
from flowkit.bijectors._masks import MASKS, vector_mask
from flowkit.bijectors._squeeze import SQUEEZE_ORDERINGS
from flowkit.cli._models import IMAGE_MODELS, MODELS, VECTOR_MODELS, ModelName
from flowkit.flows._factories_autoregressive import NSF_KINDS, PERMUTATIONS
from flowkit.flows._factory_args import TRANSFORMERS, TransformerSpec, make_transformer

# (alias, its tuple, the values, the public callables and keyword that take it)
OPTIONS = {
    "mask": (
        fk.flows.MaskName, MASKS, ("alternating", "half"),
        [(fk.realnvp, "mask"), (fk.nice, "mask"), (fk.nsf, "mask")],
    ),
    "permutation": (
        fk.flows.PermutationName, PERMUTATIONS, ("reverse", "random"),
        [(fk.maf, "permutation"), (fk.iaf, "permutation"), (fk.nsf, "permutation")],
    ),
    "nsf kind": (fk.flows.NSFKind, NSF_KINDS, ("coupling", "autoregressive"), [(fk.nsf, "kind")]),
    "squeeze ordering": (
        fk.bijectors.SqueezeOrdering, SQUEEZE_ORDERINGS, ("space_to_depth", "checkerboard"),
        [(fk.Squeeze.__init__, "ordering")],
    ),
    "jet split": (
        fk.bijectors.JetSplit, JET_SPLITS, ("channel", "spatial"),
        [(fk.bijectors.jet_coupling, "split"), (fk.bijectors.jet_mask, "split")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", OPTIONS)
def test_tuple_is_read_from_the_alias_and_annotates_every_signature(name):
    alias, choices, values, takers = OPTIONS[name]
    assert typing.get_args(alias) == choices == values
    for function, keyword in takers:
        annotation = inspect.signature(function).parameters[keyword].annotation
        assert annotation is alias, (function.__qualname__, keyword, annotation)


def test_transformer_names_are_one_alias_inside_the_spec():
    assert typing.get_args(fk.flows.TransformerName) == TRANSFORMERS
    assert TRANSFORMERS == ("affine", "softplus", "spline", "additive")
    assert fk.flows.TransformerName in typing.get_args(TransformerSpec)
    for factory in (fk.realnvp, fk.maf, fk.iaf):
        assert inspect.signature(factory).parameters["transformer"].annotation == TransformerSpec


def test_cli_models_are_one_alias_of_two():
    assert typing.get_args(ModelName) == MODELS
    assert MODELS == VECTOR_MODELS + IMAGE_MODELS
    assert VECTOR_MODELS == ("nice", "realnvp", "maf", "nsf")
    assert IMAGE_MODELS == ("glow", "realnvp-multiscale", "tarflow")
    for model in MODELS:  # every name is a factory of flowkit
        assert callable(getattr(fk, model.replace("-", "_")))


def test_every_value_is_accepted():
    key = jax.random.key(3)
    dim = 4
    masks = {m: vector_mask(m, dim, 0) for m in MASKS}
    np.testing.assert_array_equal(masks["alternating"], [True, False, True, False])
    np.testing.assert_array_equal(masks["half"], [True, True, False, False])
    for mask in MASKS:
        assert fk.realnvp(key, dim=dim, num_layers=2, width=4, depth=1, mask=mask).shape == (dim,)
    for permutation in PERMUTATIONS:
        flow = fk.maf(key, dim=dim, num_layers=2, width=4, depth=1, permutation=permutation)
        assert flow.shape == (dim,)
    for kind in NSF_KINDS:
        assert fk.nsf(key, dim=dim, num_layers=2, width=4, depth=1, kind=kind).shape == (dim,)
    for ordering in SQUEEZE_ORDERINGS:
        assert fk.Squeeze((4, 4, 2), ordering).out_shape == (2, 2, 8)
    for split in JET_SPLITS:
        assert fk.bijectors.jet_mask((4, 6), split).sum() == 12
    for name in TRANSFORMERS:
        transformer = make_transformer("test", name, dim)
        assert isinstance(transformer, fk.bijectors.AbstractTransformer)


BAD_VALUES = {
    "realnvp mask": (
        lambda k: fk.realnvp(k, dim=4, mask="zigzag"),
        r"^realnvp: mask must be one of 'alternating', 'half'; got 'zigzag'\.$",
    ),
    "nice mask": (
        lambda k: fk.nice(k, dim=4, mask="zigzag"),
        r"^nice: mask must be one of 'alternating', 'half'; got 'zigzag'\.$",
    ),
    "nsf mask": (  # checked whatever the kind
        lambda k: fk.nsf(k, dim=4, kind="autoregressive", mask="zigzag"),
        r"^nsf: mask must be one of 'alternating', 'half'; got 'zigzag'\.$",
    ),
    "maf permutation": (
        lambda k: fk.maf(k, dim=4, permutation="shuffle"),
        r"^maf: permutation must be one of 'reverse', 'random'; got 'shuffle'\.$",
    ),
    "iaf permutation": (
        lambda k: fk.iaf(k, dim=4, permutation="shuffle"),
        r"^iaf: permutation must be one of 'reverse', 'random'; got 'shuffle'\.$",
    ),
    "nsf permutation": (  # checked whatever the kind
        lambda k: fk.nsf(k, dim=4, kind="coupling", permutation="shuffle"),
        r"^nsf: permutation must be one of 'reverse', 'random'; got 'shuffle'\.$",
    ),
    "nsf kind": (
        lambda k: fk.nsf(k, dim=4, kind="residual"),
        r"^nsf: kind must be one of 'coupling', 'autoregressive'; got 'residual'\.$",
    ),
    "maf transformer": (
        lambda k: fk.maf(k, dim=4, transformer="cubic"),
        r"^maf: transformer must be one of 'affine', 'softplus', 'spline', 'additive', an "
        r"AbstractTransformer, or a function num_entries -> transformer; got 'cubic'\.$",
    ),
    "realnvp transformer": (
        lambda k: fk.realnvp(k, dim=4, transformer="cubic"),
        r"^realnvp: transformer must be one of 'affine', .*; got 'cubic'\.$",
    ),
    "glow coupling": (
        lambda k: fk.glow(k, image_shape=(4, 4, 2), num_scales=1, coupling="cubic"),
        r"^glow: coupling must be one of 'affine', .*; got 'cubic'\.$",
    ),
    "Squeeze ordering": (
        lambda k: fk.Squeeze((4, 4, 1), "zigzag"),
        r"^Squeeze: ordering must be one of 'space_to_depth', 'checkerboard'; got 'zigzag'\.$",
    ),
    "jet_coupling split": (
        lambda k: fk.bijectors.jet_coupling(k, (4, 6), split="diagonal"),
        r"^jet_coupling: split must be one of 'channel', 'spatial'; got 'diagonal'\.$",
    ),
    "jet_mask split": (
        lambda k: fk.bijectors.jet_mask((4, 6), "diagonal"),
        r"^jet_coupling: split must be one of 'channel', 'spatial'; got 'diagonal'\.$",
    ),
}


@pytest.mark.own_errors  # flowkit's own message, what a user without runtime checks sees
@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_names_every_choice_in_one_line(case):
    build, message = BAD_VALUES[case]
    with pytest.raises(ValueError, match=message) as error:
        build(jax.random.key(0))
    assert "\n" not in str(error.value)


def test_the_runtime_checker_reads_the_alias_too():
    # With jaxtyping + beartype on (the tests' default) the Literal annotation itself refuses
    # the value, before flowkit's own check.
    with pytest.raises(jaxtyping.TypeCheckError, match="parameters of flowkit.flows._fact"):
        fk.realnvp(jax.random.key(0), dim=4, mask="zigzag")  # type: ignore[arg-type]
