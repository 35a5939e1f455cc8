"""The score table: weighted totals and rankings against a plain loop, text/CSV/JSON, pictures,
and numbered, atomic, never-overwriting files."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from comfy_editloss.report.files import numbered_path, write_atomic, write_numbered
from comfy_editloss.report.table import ScoreTable, parse_labels, parse_weights, table_json_text
from comfy_editloss.types import Scores


def _table(values: dict[str, list[float]], higher: tuple[str, ...] = (), labels=None) -> ScoreTable:
    return ScoreTable.from_scores([Scores(n, torch.tensor(v), n not in higher) for n, v in values.items()], labels)


def _loop_total(values, higher, weights, normalize):
    """Reference: the definition, one generation and one column at a time."""
    names = list(values)
    count = len(values[names[0]])
    totals = [0.0] * count
    for name in names:
        weight = weights.get(name, 0.0) if weights else 1.0
        column = [(-v if name in higher else v) for v in values[name]]
        for i in range(count):
            if normalize == "none":
                value = column[i]
            elif normalize == "minmax":
                low, high = min(column), max(column)
                value = (column[i] - low) / (high - low) if high > low else 0.0
            else:
                value = sum(1 for other in column if other < column[i])
            totals[i] += weight * value
    return totals


finite = st.floats(-100, 100, allow_nan=False, width=32)
# Scores a tenth apart: scaling them in float32 keeps them distinct (subnormals would round to 0 and
# values an ulp apart could merge, which no normalisation can undo).
spaced = st.integers(-1000, 1000).map(lambda k: k / 10)


@given(
    st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(finite, min_size=n, max_size=n), min_size=1, max_size=4)),
    st.sampled_from(["none", "minmax", "rank"]),
    st.booleans(),
    st.data(),
)
def test_weighted_total_equals_a_plain_loop(columns, normalize, use_weights, data):
    values = {f"s{k}": col for k, col in enumerate(columns)}
    higher = tuple(n for n in values if data.draw(st.booleans()))
    weights = {n: data.draw(st.floats(0, 3)) for n in values if data.draw(st.booleans())} if use_weights else {}
    table = _table(values, higher)
    total = table.weighted_total(weights, normalize)
    expected = _loop_total({n: [float(torch.tensor(v, dtype=torch.float32)) for v in vs] for n, vs in values.items()}, higher, weights, normalize)
    assert total.values.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-3)
    order = table.ranking(total)
    assert sorted(order) == list(range(len(order)))
    ranked = [float(total.values[i]) for i in order]
    assert ranked == sorted(ranked)


def test_ranking_is_permutation_equivariant_and_puts_nan_last():
    values = {"a": [0.3, 0.1, float("nan"), 0.2]}
    table = _table(values, labels="w,x,y,z")
    total = table.weighted_total()
    assert [table.labels[i] for i in table.ranking(total)] == ["x", "z", "w", "y"]
    permuted = _table({"a": [0.2, float("nan"), 0.1, 0.3]}, labels="z,y,x,w")
    assert [permuted.labels[i] for i in permuted.ranking(permuted.weighted_total())] == ["x", "z", "w", "y"]
    assert table.best(table.column("a")) == 1
    assert table.best(Scores("n", torch.tensor([float("nan")] * 2))) is None


def test_repeated_names_get_numbered_and_higher_is_better_is_respected():
    table = ScoreTable.from_scores([Scores("geometry_match", torch.tensor([1.0, 2.0])), Scores("geometry_match", torch.tensor([1.0, 2.0]), lower_is_better=False)])
    assert table.names == ["geometry_match", "geometry_match_2"]
    assert table.best(table.column("geometry_match")) == 0 and table.best(table.column("geometry_match_2")) == 1
    assert table.labels == ["generation 1", "generation 2"]
    # equal weights and opposite directions: the two cancel
    assert table.weighted_total().values.tolist() == [0.0, 0.0]


def test_text_csv_and_json_agree():
    table = _table({"no_edit_identity": [0.0, 1.4, 0.0], "geometry_match": [0.1, 1.0, 0.5]}, labels=["correct", "no edit", "distorted"])
    total = table.weighted_total("no_edit_identity=1, geometry_match=0.5")
    text = table.format_text(total)
    lines = text.splitlines()
    assert lines[0].split() == ["rank", "generation", "no_edit_identity", "geometry_match", "weighted_total"]
    assert lines[1].split()[:2] == ["1", "correct"] and lines[1].endswith("0.0500*")
    assert lines[3].split()[1:3] == ["no", "edit"]
    rows = list(csv.DictReader(io.StringIO(table.to_csv(total))))
    assert [r["generation"] for r in rows] == ["correct", "distorted", "no edit"]
    assert float(rows[2]["weighted_total"]) == pytest.approx(1.9)
    data = json.loads(json.dumps(table.to_json(total)))
    assert data["ranking"] == ["correct", "distorted", "no edit"]
    assert data["scores"]["geometry_match"]["best"] == "correct"
    assert data["scores"]["weighted_total"]["details"]["weights"] == {"no_edit_identity": 1.0, "geometry_match": 0.5}
    assert data["rows"][0]["no_edit_identity"] == 0.0


def test_nan_is_written_as_null_and_shown_as_nan():
    table = _table({"a": [float("nan"), 1.0]})
    assert table.to_json()["scores"]["a"]["values"] == [None, 1.0]
    assert "nan" in table.format_text()


def _row_bands(picture: np.ndarray) -> list[int]:
    """Heights of the table's body rows (between the header rule and the footnote's 30 px), read
    from the left margin: rows alternate between the background and a light grey."""
    margin = np.round(picture[34 : picture.shape[0] - 30, 2] * 255).astype(int)
    runs, start = [], 0
    for y in range(1, len(margin) + 1):
        if y == len(margin) or not np.array_equal(margin[y], margin[start]):
            runs.append(y - start)
            start = y
    return runs


def _runs(line: np.ndarray) -> int:
    """How many runs of True a 1-D bool array holds."""
    return int(np.count_nonzero(line[1:] & ~line[:-1]) + bool(line[0]))


@pytest.mark.parametrize("count", [1, 3, 5])
def test_pictures_have_a_row_per_generation_and_mark_the_best(count):
    g = torch.Generator().manual_seed(count)
    a = torch.rand(count, generator=g).tolist()
    b = torch.rand(count, generator=g).tolist()
    table = _table({"a": a, "b": b}, higher=("b",), labels=[f"gen_{i}" for i in range(count)])
    total = table.weighted_total(normalize="rank")
    plain = table.render_table(None, total)
    thumbs = table.render_table(torch.rand(count, 40, 50, 3), total)
    assert plain.dtype == np.float32 and plain.ndim == 3 and plain.shape[2] == 3
    # One body row per generation, of equal height; thumbnail rows are taller.
    plain_rows, thumb_rows = _row_bands(plain), _row_bands(thumbs)
    assert len(plain_rows) == count and len(set(plain_rows)) == 1
    assert len(thumb_rows) == count and len(set(thumb_rows)) == 1 and thumb_rows[0] > plain_rows[0]
    # Exactly one best cell per column (a, b and the total), filled green: counted along each row's
    # top edge, above the text.
    green = np.all(np.abs(plain * 255 - np.array([205, 236, 205])) < 2, axis=-1)
    tops = [34 + sum(plain_rows[:k]) for k in range(count)]
    assert sum(_runs(green[top + 3]) for top in tops) == 3
    chart = table.render_chart(total)
    assert chart.ndim == 3 and chart.shape[1] >= 3 * 340
    bars = np.all(np.abs(chart * 255 - np.array([60, 160, 80])) < 2, axis=-1)
    # One green best bar in every panel (a bar of height 0 has nothing to draw).
    visible = sum(float(c.values[table.best(c)]) != 0 for c in (*table.columns, total))
    assert visible >= 2 and _runs(bars.any(axis=0)) == visible


def test_parsing_errors_name_the_entry():
    assert parse_weights("a=1; b = 0.5\nc=2") == {"a": 1.0, "b": 0.5, "c": 2.0}
    with pytest.raises(ValueError, match="each entry must be name=number, got 'a'"):
        parse_weights("a")
    with pytest.raises(ValueError, match="the weight of 'a' must be a number, got 'x'"):
        parse_weights("a=x")
    with pytest.raises(ValueError, match="'a' is given twice"):
        parse_weights("a=1,a=2")
    with pytest.raises(ValueError, match="weights name unknown score\\(s\\) 'c'; the scores are: a, b"):
        _table({"a": [1.0], "b": [2.0]}).weighted_total("c=1")
    with pytest.raises(ValueError, match="normalize must be one of"):
        _table({"a": [1.0]}).weighted_total(normalize="z")
    with pytest.raises(ValueError, match="labels must name every generation: 2 generation\\(s\\), got 3 label"):
        parse_labels("a,b,c", 2)
    with pytest.raises(ValueError, match="lengths differ \\(a: 2, b: 3\\)"):
        _table({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="no scores to report"):
        ScoreTable.from_scores([])
    with pytest.raises(TypeError, match="scores 1 must be EDITLOSS_SCORES"):
        ScoreTable.from_scores([torch.zeros(2)])


def test_numbered_files_never_overwrite(tmp_path):
    folder, stem, counter, subfolder = numbered_path("editloss/scores", tmp_path)
    assert (folder, stem, counter, subfolder) == (tmp_path / "editloss", "scores", 1, "editloss")
    first = write_numbered(folder, stem, counter, {"json": "{}", "csv": "a\n"})
    assert [p.name for p in first] == ["scores_00001_.json", "scores_00001_.csv"]
    # a stale counter (two runs that looked at the folder at once) moves on instead of overwriting
    second = write_numbered(folder, stem, counter, {"json": "[]", "csv": "b\n"})
    assert [p.name for p in second] == ["scores_00002_.json", "scores_00002_.csv"]
    assert first[0].read_text() == "{}" and numbered_path("editloss/scores", tmp_path)[2] == 3
    with pytest.raises(ValueError, match="outside the output folder"):
        numbered_path("../escape", tmp_path)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = write_atomic(tmp_path / "scores.json", "old")

    with pytest.raises(TypeError):
        write_atomic(path, 123)  # not text: fails while writing
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]
    with pytest.raises(FileExistsError):
        write_atomic(path, "new", exclusive=True)
    assert path.read_text() == "old"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_umasks_mode_as_a_plain_open_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        replaced = write_atomic(tmp_path / "scores.json", "{}")
        write_atomic(replaced, "[]")  # replacing keeps the mode of a new file
        exclusive = write_atomic(tmp_path / "result.json", "{}", exclusive=True)
        numbered = write_numbered(tmp_path, "scores", 1, {"json": "{}", "csv": "a\n"})
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("what ComfyUI's SaveImage gets")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == mode
    for path in (replaced, exclusive, *numbered):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name
    assert replaced.read_text() == "[]" and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@given(
    st.lists(st.lists(spaced, min_size=4, max_size=4), min_size=1, max_size=3),
    st.floats(0.01, 100),
    st.sampled_from(["minmax", "rank"]),
    st.permutations(range(4)),
)
def test_normalised_totals_ignore_a_scores_scale_and_follow_a_permutation(columns, scale, normalize, order):
    values = {f"s{k}": col for k, col in enumerate(columns)}
    base = _table(values).weighted_total(normalize=normalize).values
    scaled = _table({n: [v * scale for v in col] for n, col in values.items()}).weighted_total(normalize=normalize).values
    assert torch.allclose(base, scaled, atol=1e-4)
    permuted = _table({n: [col[i] for i in order] for n, col in values.items()}).weighted_total(normalize=normalize).values
    assert torch.allclose(permuted, base[list(order)], atol=1e-4)


@pytest.mark.parametrize("normalize", ["none", "minmax", "rank"])
def test_a_score_without_a_value_ranks_last_in_every_normalisation(normalize):
    for missing in (float("nan"), float("inf")):
        table = _table({"a": [0.3, missing, 0.1, 0.2], "b": [1.0, 0.0, 2.0, 3.0]})
        total = table.weighted_total(normalize=normalize)
        assert table.ranking(total)[-1] == 1, (normalize, missing, total.values.tolist())
        assert not math.isfinite(float(total.values[1]))


def test_weights_and_labels_refuse_what_they_would_misread():
    with pytest.raises(ValueError, match=r"^weights: the weight of 'a' must be a number, got True$"):
        parse_weights({"a": True})
    with pytest.raises(ValueError, match=r"^weights: each name must be a score's name \(a non-empty str\), got 1$"):
        parse_weights({1: 0.5})
    for count, error, message in ((2.5, TypeError, r"^count must be an int, got float 2\.5$"), (True, TypeError, r"^count must be an int, got bool True$"),
                                  (-1, ValueError, r"^count must be >= 0, got -1$")):
        with pytest.raises(error, match=message):
            parse_labels(None, count)
    with pytest.raises(TypeError, match=r"^labels\[1\] must be a str, got int 2$"):
        parse_labels(["a", 2], 2)
    for text in ({"a", "b"}, b"a,b", 7):
        with pytest.raises(TypeError, match=r"^labels must be text \(one name per line, or separated by commas\) or a list of names"):
            parse_labels(text, 2)


def test_the_table_checks_what_it_is_built_from_and_given():
    columns = [Scores("a", torch.tensor([1.0, 2.0])), Scores("a", torch.tensor([3.0, 4.0]))]
    assert ScoreTable(["x", "y"], columns).names == ["a", "a_2"]  # as from_scores and add name them
    for labels, cols, error, message in (("xy", columns, TypeError, r"^labels must be a non-empty list of generation names, got str 'xy'$"),
                                         (["x", None], columns, TypeError, r"^labels\[1\] must be a str, got NoneType None$"),
                                         (["x", "y", "z"], columns, ValueError, r"^columns\[0\] \('a'\) has 2 value\(s\) but labels name 3 generation\(s\)$"),
                                         (["x", "y"], [torch.zeros(2)], TypeError, r"^columns\[0\] must be EDITLOSS_SCORES")):
        with pytest.raises(error, match=message):
            ScoreTable(labels, cols)
    with pytest.raises(TypeError, match=r"^scores must be a list of EDITLOSS_SCORES, got Scores"):
        ScoreTable.from_scores(columns[0])
    table = ScoreTable(["x", "y"], columns)
    total = table.weighted_total()
    with pytest.raises(ValueError, match=r"^total has 3 value\(s\) but the table has 2 generation\(s\)$"):
        table.ranking(Scores("t", torch.zeros(3)))
    with pytest.raises(TypeError, match=r"^digits must be an int, got float 2\.5$"):
        table.format_text(total, 2.5)
    with pytest.raises(ValueError, match=r"^thumb must be >= 1, got 0$"):
        table.render_table(torch.rand(2, 8, 8, 3), total, 0)
    with pytest.raises(ValueError, match=r"^per_row must be >= 1, got 0$"):
        table.render_chart(total, per_row=0)
    with pytest.raises(ValueError, match=r"^panel width must be >= 100, got 50$"):
        table.render_chart(total, panel=(50, 230))
    with pytest.raises(TypeError, match=r"^other must be a ScoreTable, got str 'x'$"):
        table.merged("x")


@pytest.mark.parametrize("images,error,message", [
    (torch.rand(3, 8, 8, 3), ValueError, r"^images must hold one image per generation \(2\), got batch 3$"),
    (torch.full((2, 8, 8, 3), float("nan")), ValueError, r"^images must be finite and in \[0, 1\], got 384 NaN/Inf value\(s\) in sample\(s\) \[0, 1\]$"),
    (torch.rand(2, 3, 8, 8), ValueError, r"^images must be an IMAGE \[B, H, W, C\] with C = 1, 3 or 4"),
    ([[0.0]], TypeError, r"^images must be a torch.Tensor"),
])
def test_thumbnails_that_cannot_be_drawn_are_errors_not_left_out(images, error, message):
    table = _table({"a": [1.0, 2.0]})
    with pytest.raises(error, match=message):
        table.render_table(images, table.weighted_total())


def test_json_text_is_strict_json():
    assert json.loads(table_json_text({"a": [1.0, None], "é": "ü"})) == {"a": [1.0, None], "é": "ü"}
    with pytest.raises(ValueError, match=r"^data must hold JSON values only \(finite numbers, strings, lists, mappings\): Out of range float values"):
        table_json_text({"a": float("nan")})
    with pytest.raises(TypeError, match=r"^data must hold JSON values only .*Object of type Tensor is not JSON serializable$"):
        table_json_text({"a": torch.zeros(2)})
    with pytest.raises(TypeError, match=r"^data must be a mapping \(a JSON object\), got a list of length 2$"):
        table_json_text([1, 2])


@pytest.fixture
def within_seconds():
    """Fails a call that loops for ever instead of hanging the run."""
    import signal

    def expire(*_):
        raise TimeoutError("the call did not return")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 10)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def test_numbered_files_refuse_names_that_leave_the_folder_and_folders_that_are_files(tmp_path, within_seconds):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match=r"^folder .*a-file is not a folder$"):
        write_numbered(tmp_path / "a-file", "scores", 1, {"json": "{}"})  # looped for ever, counting up
    for stem in ("../escape", "a/b", ""):
        with pytest.raises(ValueError, match=r"^stem must be a plain file name \(no folder, not empty\)"):
            write_numbered(tmp_path, stem, 1, {"json": "{}"})
    with pytest.raises(ValueError, match=r"^texts: each extension must be a plain file name"):
        write_numbered(tmp_path, "scores", 1, {"../json": "{}"})
    with pytest.raises(TypeError, match=r"^texts\['csv'\] must be a str, got int 3$"):
        write_numbered(tmp_path, "scores", 1, {"json": "{}", "csv": 3})
    with pytest.raises(TypeError, match=r"^texts must be a non-empty mapping"):
        write_numbered(tmp_path, "scores", 1, {})
    with pytest.raises(TypeError, match=r"^counter must be an int, got float 2\.5$"):
        write_numbered(tmp_path, "scores", 2.5, {"json": "{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing half-written, nothing outside
    assert not (tmp_path.parent / "escape_00001_.json").exists()


@pytest.mark.skipif(os.name == "nt", reason="FIFOs")
def test_atomic_writes_never_replace_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    for name, message in (("fifo", "is not a regular file"), ("folder", "is a folder, not a file")):
        with pytest.raises(ValueError, match=rf"^path .*{name} {message}"):
            write_atomic(tmp_path / name, "{}")
    assert stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)
    with pytest.raises(ValueError, match=r"^path .*fifo/x\.json: its folder .*fifo is not a folder$"):
        write_atomic(tmp_path / "fifo" / "x.json", "{}")
    with pytest.raises(TypeError, match=r"^text must be a str, got bytes b'\{\}'$"):
        write_atomic(tmp_path / "x.json", b"{}")
    with pytest.raises(TypeError, match=r"^exclusive must be True or False, got str 'yes'$"):
        write_atomic(tmp_path / "x.json", "{}", exclusive="yes")
    with pytest.raises(TypeError, match=r"^path must be a path \(str or os.PathLike\), got NoneType None$"):
        write_atomic(None, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder"]


def test_numbered_paths_check_their_prefix_folder_and_size(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match=r"^output_dir .*a-file is not a folder$"):
        numbered_path("scores", tmp_path / "a-file")
    for prefix in ("", ".", "editloss/.."):
        with pytest.raises(ValueError, match=r"^filename_prefix must end in a file name"):
            numbered_path(prefix, tmp_path)
    with pytest.raises(TypeError, match=r"^filename_prefix must be a str, got NoneType None$"):
        numbered_path(None, tmp_path)
    with pytest.raises(TypeError, match=r"^width must be an int, got float 2\.5$"):
        numbered_path("run_%width%", tmp_path, 2.5)
    assert numbered_path("run_%width%x%height%", tmp_path, 64, 32)[1] == "run_64x32"
