"""Model presets: the papers' parameters, and clear errors for bad keys."""

from __future__ import annotations

import pytest

from neurosim.errors import ValidationError
from neurosim.model.presets import available_presets, load_preset, parameters_from_mapping


def test_presets_hold_the_papers_parameters() -> None:
    assert {"astdp", "mstdp", "rate_stdp"} <= set(available_presets())
    astdp = load_preset("astdp")
    assert (astdp.rule, astdp.alpha, astdp.beta_small, astdp.beta_large) == (
        "astdp",
        1e-4,
        0.25,
        0.4,
    )
    assert (astdp.eps_small, astdp.eps_large, astdp.init) == (0.5, 0.4, "xavier")
    assert astdp.fake_target.enabled and astdp.fake_target.k == 50.0
    assert astdp.fake_target.magnitude == 0.25
    mstdp = load_preset("mstdp")
    assert (mstdp.rule, mstdp.alpha, mstdp.beta, mstdp.eps, mstdp.momentum) == (
        "mstdp",
        1e-3,
        0.8,
        0.2,
        0.4,
    )
    assert (mstdp.init, mstdp.init_scale) == ("uniform", 0.1)
    assert mstdp.oscillator.clamped_steps == mstdp.oscillator.free_steps == 32
    assert load_preset("rate_stdp").activation == "hard_sigmoid"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"alpha": 1e-3, "learning_rate": 1.0}, r"model\.learning_rate = 1\.0: unknown key"),
        ({"fake_target": {"enabled": True, "scale": 2}}, r"model\.fake_target\.scale = 2"),
        ({"fake_target": {"enabled": "yes"}}, r"model\.fake_target\.enabled = 'yes'"),
        ({"oscillator": {"clamped_steps": 2.5}}, r"model\.oscillator\.clamped_steps = 2\.5"),
        ({"oscillator": 3}, r"model\.oscillator = 3: expected a table"),
        ({"eps": -1}, r"model\.eps = -1: allowed range"),
        (
            {"rule": "hebb"},
            r"model\.rule = 'hebb': allowed values are astdp, bcm, mstdp, rate_stdp",
        ),
    ],
)
def test_bad_keys_name_the_dotted_path(mapping, message) -> None:
    with pytest.raises(ValidationError, match=message):
        parameters_from_mapping(mapping)


def test_unknown_preset_and_bad_file(tmp_path) -> None:
    with pytest.raises(ValidationError, match="available: astdp, bcm, mstdp, rate_stdp"):
        load_preset("hopfield")
    broken = tmp_path / "broken.toml"
    broken.write_text("alpha = \n")
    with pytest.raises(ValidationError, match=r"broken\.toml: not valid TOML"):
        load_preset(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('rule = "astdp"\nbeta_small = 0.9\nbeta_large = 0.1\n')
    with pytest.raises(ValidationError, match=r"wrong\.toml: model\.beta_small = 0\.9"):
        load_preset(wrong)
