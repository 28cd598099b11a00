"""00sequences.txt parsing and the clip windowing rule, on lines copied from the real file."""
from __future__ import annotations

import pytest

from t2vbench.errors import UserError
from t2vbench.generators.kth.extract import windows
from t2vbench.generators.kth.sequences import parse_name, parse_sequences

# the real header and a sample of real data lines, each irregular kind included (kth.md 3.2)
REAL = (
    "\nThis database contains sequences of six classes of actions performed by\n"
    "25 subjects in four different conditions (see below).\n\n"
    "Training:   person11, 12, 13, 14, 15, 16, 17, 18\n"
    "Validation: person19, 20, 21, 23, 24, 25, 01, 04\n"
    "Test:       person22, 02, 03, 05, 06, 07, 08, 09, 10 \n\n\n"
    "person01_walking_d1\t\tframes\t1-75, 152-225, 325-400, 480-555\n"
    "person03_walking_d4\t\tframes\t1-92, 118-216, 232-338, 338-432\n"
    "person07_running_d4\t\tframes\t1-52, 68-115, 310-358, 224-274\n"
    "person07_handclapping_d2    \tframes\t1-102, 103-248, 249-368, 369-518\n"
    "\n"
    "person11_boxing_d4    \t\tframes\t1-106, 107-194, 195-250\n"
    "person13_handclapping_d3\t*missing*\n"
    "person16_handwaving_d4\t\tframes\t1-104, 105-206, 207-311, 212-456\r\n"
    "person21_boxing_d2    \t\tframes\t1-112, 113-162, 153-254, 255-408\n"
)


def test_real_lines_parse_as_written():
    seq = parse_sequences(REAL)
    e = seq.entries
    assert set(e) == {"person01_walking_d1", "person03_walking_d4", "person07_running_d4",
                      "person07_handclapping_d2", "person11_boxing_d4", "person13_handclapping_d3",
                      "person16_handwaving_d4", "person21_boxing_d2"}
    assert e["person01_walking_d1"].ranges == ((1, 75), (152, 225), (325, 400), (480, 555))
    assert e["person07_running_d4"].ranges == ((1, 52), (68, 115), (310, 358), (224, 274))  # file order kept
    assert e["person11_boxing_d4"].ranges == ((1, 106), (107, 194), (195, 250))
    assert e["person13_handclapping_d3"].missing and e["person13_handclapping_d3"].ranges == ()
    assert e["person16_handwaving_d4"].ranges[-1] == (212, 456)  # CRLF line
    assert e["person07_handclapping_d2"].name.action == "handclapping"
    assert e["person01_walking_d1"].line == 10
    notes = "\n".join(seq.notes)
    assert "person11_boxing_d4: 3 ranges" in notes
    assert "person07_running_d4: ranges out of order" in notes
    assert "338-432 share frame 338" in notes
    assert "207-311 and 212-456 overlap" in notes and "113-162 and 153-254 overlap" in notes


@pytest.mark.parametrize("line, why", [
    ("person02_walking_d1\t\tframes\t1-75, 152-2x5", "expected 'frames"),
    ("person02_walking_d1\t\tframe 1-75", "expected 'frames"),
    ("person31_walking_d1\t\tframes\t1-75", "not a KTH video name"),
    ("persn01_walking_d1\t\tframes\t1-75", "must start with a name"),
    ("person02_walking_d1frames 1-75", "must start with a name"),
    ("person02_walking_d1\t\tframes\t75-1", "empty"),
])
def test_unreadable_lines_are_reported_with_their_number(line, why):
    text = REAL + line + "\n"
    n = text.count("\n")
    with pytest.raises(UserError) as err:
        parse_sequences(text)
    assert f"line {n}:" in str(err.value) and why in str(err.value)


def test_duplicate_entry_is_an_error():
    with pytest.raises(UserError, match="listed twice"):
        parse_sequences(REAL + "person01_walking_d1\t\tframes\t1-10\n")


def test_names():
    assert parse_name("person05_boxing_d3_uncomp.avi").stem == "person05_boxing_d3"
    assert parse_name("person05_boxing_d5_uncomp.avi") is None
    assert parse_name("person00_boxing_d1") is None
    assert parse_name("person05_swimming_d1") is None


def test_windows_tile_clamp_and_never_reuse_a_frame():
    # shared boundary frame 110: the second range's first window would reuse it -> dropped
    wins, notes = windows([(1, 110), (110, 192)], 500, 16)
    starts = [s for _, s in wins]
    assert starts[:6] == [1, 17, 33, 49, 65, 81] and 97 not in starts  # 97-112 would pass 110
    assert starts[6:] == [110, 126, 142, 158, 174]  # 110-125 shares no frame with 81-96
    used = [f for s in starts for f in range(s, s + 16)]
    assert len(used) == len(set(used))
    # out-of-order and overlapping ranges (person21_boxing_d2 style)
    wins, _ = windows([(113, 162), (153, 254)], 500, 16)
    spans = [(s, s + 15) for _, s in wins]
    assert all(b < c or d < a for i, (a, b) in enumerate(spans) for (c, d) in spans[i + 1:])
    # past the end: clamped to the decoded length; starting after it: dropped, both noted
    wins, notes = windows([(1, 40), (30, 120), (130, 200)], 100, 16)
    assert [s for _, s in wins] == [1, 17, 46, 62, 78] and all(s + 15 <= 100 for _, s in wins)
    assert any("clamped to 30-100" in n for n in notes) and any("130-200 starts after" in n for n in notes)
    # frame step 2: a window spans 31 frames
    wins, _ = windows([(1, 64)], 100, 16, step=2)
    assert [s for _, s in wins] == [1, 32]


def test_every_overlap_is_noted_not_only_sorted_neighbours():
    # 1-100 covers both later ranges; 20-30 and 40-60 do not touch each other
    seq = parse_sequences("person05_boxing_d1\t\tframes\t1-100, 20-30, 40-60, 60-70\n")
    notes = "\n".join(seq.notes)
    assert "1-100 and 20-30 overlap" in notes and "1-100 and 40-60 overlap" in notes
    assert "1-100 and 60-70 overlap" in notes and "40-60 and 60-70 share frame 60" in notes
    assert "20-30 and 40-60" not in notes and "20-30 and 60-70" not in notes


def test_named_splits_hold_the_published_persons():
    from t2vbench.generators.kth.builder import parse_split

    # kth.md section 4: Schuldt et al. train 11-18 + validation 19, 20, 21, 23, 24, 25, 01, 04; test 22, 02,
    # 03, 05-10. SVG: 1-20 / 21-25. MCnet: 1-16 / 17-25.
    assert parse_split("official") == ("official", [1, 4, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25],
                                       [2, 3, 5, 6, 7, 8, 9, 10, 22])
    assert parse_split("SVG") == ("svg", list(range(1, 21)), [21, 22, 23, 24, 25])
    assert parse_split(None) == ("mcnet", list(range(1, 17)), list(range(17, 26)))
    assert parse_split("1-3, 5/4,6-7") == ("1-3,5/4,6-7", [1, 2, 3, 5], [4, 6, 7])
    with pytest.raises(UserError, match="person 3 in both"):
        parse_split("1-3/3-4")


def test_a_split_has_one_name_however_it_is_typed():
    from t2vbench.generators.kth.builder import parse_split

    assert parse_split("1-16/17-25") == parse_split("16,1-15/25,17-24") == parse_split("mcnet")
    assert parse_split("1-16/17-25")[0] == "mcnet" and parse_split("1-20/21-25")[0] == "svg"
    assert parse_split(" 5, 1-3 / 17 ")[0] == parse_split("1,2,3,5/17")[0] == "1-3,5/17"


def test_walking_and_running_need_a_decided_direction():
    from t2vbench.generators.kth.builder import caption, class_index

    assert caption("walking", -1, 3, "plain") == "a person is walking from right to left"
    assert caption("running", 1, 3, "person") == "person 3 is running left to right"
    assert caption("boxing", 0, 3, "plain") == "a person is boxing" and class_index("handwaving", 0) == 4
    assert class_index("walking", 1) == 0 and class_index("running", -1) == 3
    for action in ("walking", "running"):
        with pytest.raises(ValueError, match="decided direction"):
            caption(action, 0, 3, "plain")
        with pytest.raises(ValueError, match="decided direction"):
            class_index(action, 0)
