"""check_output_path: no output may replace an input, a link to one, a file in a batched folder or a read-only file."""

import os

import pytest

from core.errors import BadInputError, UnsafeOutputError
from core.evidence import check_output_path


@pytest.fixture
def evidence(tmp_path):
    folder = tmp_path / "evidence"
    folder.mkdir()
    photo = folder / "a.jpg"
    photo.write_bytes(b"\xff\xd8\xff evidence")
    return photo


def test_refuses_the_input_itself_and_a_relative_spelling_of_it(evidence, monkeypatch):
    with pytest.raises(UnsafeOutputError, match="evidence file") as caught:
        check_output_path(evidence, [evidence])
    assert str(evidence) in str(caught.value) and caught.value.exit_code == 2
    assert isinstance(caught.value, BadInputError)
    monkeypatch.chdir(evidence.parent.parent)
    with pytest.raises(UnsafeOutputError):
        check_output_path("evidence/../evidence/a.jpg", [evidence])


def test_refuses_symlinks_and_hard_links_both_ways(evidence, tmp_path):
    symlink, hardlink = tmp_path / "link.json", tmp_path / "hard.json"
    symlink.symlink_to(evidence)
    os.link(evidence, hardlink)
    for output, source in [(symlink, evidence), (hardlink, evidence), (evidence, symlink), (evidence, hardlink)]:
        with pytest.raises(UnsafeOutputError, match="evidence file"):
            check_output_path(output, [source])


def test_refuses_anything_inside_a_batched_folder(evidence, tmp_path):
    folder = evidence.parent
    (tmp_path / "alias").symlink_to(folder)
    for output in [folder / "new.jsonl", folder / "sub" / "deeper" / "r.jsonl", folder, tmp_path / "alias" / "r"]:
        with pytest.raises(UnsafeOutputError, match="inside the evidence folder"):
            check_output_path(output, input_dirs=[folder])


def test_refuses_a_read_only_file_even_as_root(tmp_path):
    old = tmp_path / "old.json"
    old.write_text("{}")
    old.chmod(0o444)
    with pytest.raises(UnsafeOutputError, match="read-only"):
        check_output_path(old, [])


def test_allows_ordinary_outputs(evidence, tmp_path):
    writable = tmp_path / "existing.json"
    writable.write_text("{}")
    for output in [tmp_path / "new.json", writable, tmp_path / "evidence-results" / "r.jsonl", os.devnull]:
        check_output_path(output, [evidence], input_dirs=[evidence.parent])
