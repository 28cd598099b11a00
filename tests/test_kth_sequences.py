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
