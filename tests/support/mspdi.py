"""Canonical form of an MSPDI document, to compare our results with MPXJ's own output.

Ignores only the project-level <Name> (the output file name) and <CurrentDate> ("now" when
the file has none). MPXJ numbers outline-code values (ValueID, and the FieldGUID derived
from it) differently in each JVM, so references are resolved to the values themselves and
the definitions compared as sorted sets without their ids.
"""

import xml.etree.ElementTree as ET


def normalise(xml: bytes) -> bytes:
    root = ET.fromstring(xml)
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    for tag in ("Name", "CurrentDate"):
        element = root.find(ns + tag)
        if element is not None:
            element.text = ""
    codes = root.find(ns + "OutlineCodes")
    values = _strip_value_ids(codes, ns) if codes is not None else {}
    for parent in root.iter():
        if parent is codes:
            continue
        for ref in parent.findall(ns + "OutlineCode"):
            value_id = ref.find(ns + "ValueID")
            if value_id is not None:
                key = (ref.findtext(ns + "FieldID"), value_id.text)
                value_id.text = "=" + str(values.get(key, value_id.text))
    return ET.tostring(root)


def _strip_value_ids(codes: ET.Element, ns: str) -> dict[tuple[str | None, str | None], str | None]:
    values = {}
    for code in codes:
        field = code.findtext(ns + "FieldID")
        entries = code.find(ns + "Values")
        if entries is None:
            continue
        for value in entries:
            values[(field, value.findtext(ns + "ValueID"))] = value.findtext(ns + "Value")
            for tag in ("ValueID", "FieldGUID", "ParentValueID"):
                for element in value.findall(ns + tag):
                    value.remove(element)
        ordered = sorted(entries, key=ET.tostring)
        for child in list(entries):
            entries.remove(child)
        entries.extend(ordered)
    return values
