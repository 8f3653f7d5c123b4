from pathlib import Path

from converter.written import count_written


def test_mspdi_counts_only_top_level_collections(tmp_path: Path) -> None:
    doc = tmp_path / "p.xml"
    doc.write_text(
        '<Project xmlns="http://schemas.microsoft.com/project"><Calendars><Calendar/></Calendars>'
        "<Tasks><Task><UID>1</UID></Task><Task/></Tasks><Resources><Resource/></Resources>"
        "<Assignments><Assignment><TimephasedData/></Assignment></Assignments></Project>"
    )
    assert count_written("mspdi", doc) == {
        "tasks": 2,
        "resources": 1,
        "assignments": 1,
        "calendars": 1,
    }


def test_mpx_and_xer_records(tmp_path: Path) -> None:
    mpx = tmp_path / "p.mpx"
    mpx.write_bytes(b"MPX,x\r\n20,Standard\r\n50,1,R\r\n70,1,T\r\n70,2,U\r\n75,1\r\n")
    assert count_written("mpx", mpx) == {
        "tasks": 2,
        "resources": 1,
        "assignments": 1,
        "calendars": 1,
    }
    xer = tmp_path / "p.xer"
    xer.write_bytes(
        b"ERMHDR\n%T\tTASK\n%F\tid\n%R\t1\n%R\t2\n%T\tRSRC\n%R\t1\n%T\tPROJECT\n%R\t1\n"
    )
    assert count_written("xer", xer) == {
        "tasks": 2,
        "resources": 1,
        "assignments": 0,
        "calendars": 0,
    }


def test_formats_without_a_counter_report_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.sdef"
    path.write_text("VOLM")
    assert count_written("sdef", path) == {}


def test_pmxml_and_planner_count_elements_wherever_they_nest(tmp_path: Path) -> None:
    pmxml = tmp_path / "p.xml"
    pmxml.write_text(
        '<APIBusinessObjects xmlns="http://xmlns.oracle.com/Primavera/P6/V8.4/API/BusinessObjects">'
        "<Calendar/><Resource/><Project><Activity/><Activity/><ResourceAssignment/></Project>"
        "</APIBusinessObjects>"
    )
    assert count_written("pmxml", pmxml) == {
        "tasks": 2,
        "resources": 1,
        "assignments": 1,
        "calendars": 1,
    }
    planner = tmp_path / "p.planner"
    planner.write_text(
        "<project><calendars><calendar><calendar/></calendar></calendars>"
        "<tasks><task><task/></task></tasks><resources/><allocations/></project>"
    )
    assert count_written("planner", planner) == {
        "tasks": 2,
        "resources": 0,
        "assignments": 0,
        "calendars": 2,
    }
