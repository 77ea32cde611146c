"""The bounded YAML reader: alias bombs, deep nesting and duplicate keys are one ConfigError line."""

import time

import pytest
import yaml
from reliability_helpers import alias_bomb

from advrec.config.yaml_safe import YamlLimits, read_yaml, read_yaml_file, read_yaml_mapping
from advrec.errors import ConfigError


def test_alias_bomb_is_refused_fast_naming_the_source():
    text = alias_bomb()
    assert yaml.safe_load(text)  # plain safe_load accepts it (the expansion happens in whoever walks it)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^study\.yaml:\d+: aliases expand to more than") as err:
        read_yaml(text, "study.yaml")
    assert time.perf_counter() - start < 5  # generous: the check is linear in the text (~ms)
    assert "\n" not in str(err.value)


def test_a_modest_alias_is_read_and_copied_unshared():
    data = read_yaml("a: &a {x: [1, 2]}\nb: *a\n", "c.yaml")
    assert data == {"a": {"x": [1, 2]}, "b": {"x": [1, 2]}}
    data["a"]["x"].append(3)
    assert data["b"]["x"] == [1, 2]  # changing one place does not change the other


def test_limits_are_counted_with_aliases_expanded():
    text = alias_bomb(levels=3, width=3)  # 1 + 3 + 9 + 27 ... well under the default
    assert read_yaml(text, "c.yaml")["l2"] == [[["lol"] * 3] * 3] * 3
    with pytest.raises(ConfigError, match="aliases expand to more than 10 nodes"):
        read_yaml(text, "c.yaml", YamlLimits(max_nodes=10))


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            "train:\n  epochs: 5\n  epochs: 50\n",
            r"^c\.yaml:3: key 'epochs' is given twice in one mapping \(first on line 2\)",
        ),
        ("seed: 1\nmodel: {dim: 8, dim: 16}\n", r"^c\.yaml:2: key 'dim' is given twice"),
        ("[" * 200 + "]" * 200, r"^c\.yaml:1: nested deeper than 64 levels"),
        ("a: &a [*a]\n", r"^c\.yaml:1: an alias refers to a node that contains it"),
        ("a: 1\n---\nb: 2\n", r"^c\.yaml:2: more than one YAML document"),
        ("a: [1, 2\n", r"^c\.yaml:2: invalid YAML: while parsing a flow sequence"),
        (
            "a: !!python/object/apply:os.system [ls]\n",
            r"^c\.yaml:1: invalid YAML: could not determine a constructor",
        ),
        ("? [1, 2]\n: x\n", r"^c\.yaml:1: a mapping key must be a plain value"),
        ("a: *missing\n", r"^c\.yaml:1: invalid YAML: found undefined alias"),
    ],
)
def test_hostile_text_is_one_line_naming_the_place(text, needle):
    with pytest.raises(ConfigError, match=needle) as err:
        read_yaml(text, "c.yaml")
    assert "\n" not in str(err.value)


def test_nesting_is_bounded_through_aliases_too():
    deep = "[" * 40 + "1" + "]" * 40
    assert read_yaml(f"a: &a {deep}\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"^c\.yaml:2: aliases nest deeper than 64 levels"):
        read_yaml(f"a: &a {deep}\nb: {'[' * 30}*a{']' * 30}\n", "c.yaml")


def test_merge_keys_may_be_overridden_without_counting_as_duplicates():
    text = "base: &b {lr: 0.1, dim: 8}\nrun:\n  <<: *b\n  lr: 0.5\n"
    assert read_yaml(text, "c.yaml")["run"] == {"lr": 0.5, "dim": 8}


def test_size_and_event_limits():
    with pytest.raises(ConfigError, match="characters; a config is at most 100"):
        read_yaml("a: " + "x" * 200, "c.yaml", YamlLimits(max_chars=100))
    with pytest.raises(ConfigError, match="more than 50 YAML nodes"):
        read_yaml("[" + ", ".join(["1"] * 100) + "]", "c.yaml", YamlLimits(max_events=50))


def test_mapping_reader_refuses_empty_and_non_mappings(tmp_path):
    with pytest.raises(ConfigError, match=r"^c\.yaml: the config file is empty"):
        read_yaml_mapping("# only a comment\n", "c.yaml")
    with pytest.raises(ConfigError, match="expected a mapping of keys at the top level, got list"):
        read_yaml_mapping("- 1\n", "c.yaml")
    assert read_yaml_mapping("a: 1\n", "c.yaml") == {"a": 1}
    with pytest.raises(ConfigError, match="study file not found"):
        read_yaml_file(tmp_path / "none.yaml", "study")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        read_yaml_file(tmp_path)
    (tmp_path / "bad.yaml").write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_yaml_file(tmp_path / "bad.yaml")


def test_exponent_floats_without_a_dot_are_numbers():
    """PyYAML's YAML 1.1 rules read '1e-3' as text; a strict config then refused 'lr: 1e-3' (and
    '--set train.optimizer.lr=1e6') as 'not a valid number'."""
    data = read_yaml("a: 1e-3\nb: 1E6\nc: -2e+5\nd: 1e6x\ne: 10\nf: '1e3'\n", "c.yaml")
    assert data == {"a": 0.001, "b": 1e6, "c": -2e5, "d": "1e6x", "e": 10, "f": "1e3"}
    assert yaml.safe_load("a: 1e-3") == {"a": "1e-3"}  # the module-wide loader is left as it is


def test_set_takes_an_exponent_float(tmp_path, cli, base_yaml):
    result = cli("train", base_yaml, "--out", tmp_path / "run", "--quiet", "--set", "train.optimizer.lr=1e-2")
    assert result.code == 0, result.err
