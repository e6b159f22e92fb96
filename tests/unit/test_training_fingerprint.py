import shutil

from bot.training import INPUTS, ROOT, fingerprint


def copy_inputs(tmp_path):
    for name in INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_fingerprint_changes_with_data_config_and_components_only(tmp_path):
    root = copy_inputs(tmp_path)
    before = fingerprint(root)
    assert fingerprint(root) == before
    (root / "README.md").write_text("not a model input")
    assert fingerprint(root) == before
    nlu = root / "data" / "nlu" / "en" / "nlu.yml"
    nlu.write_text(nlu.read_text() + "\n")
    after_data = fingerprint(root)
    assert after_data != before
    (root / "bot" / "nlu" / "tokenizer.py").write_text("# changed\n")
    assert fingerprint(root) != after_data
