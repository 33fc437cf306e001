#!/usr/bin/env python3
"""Writes shared/tests/fixtures/phones.json: how Google's libphonenumber (through
its faithful Python port `phonenumbers`, pinned in infra/requirements.txt)
reads phone numbers, for the Rust differential test
(shared/tests/phone_differential.rs, SPEC section 6 "Phone numbers").

Every region's example number of every type (and every non-geographic
entity's), each written several ways (E.164, international, national, with
the trunk prefix in parentheses, with dashes, with the international dialling
prefix, with an extension), read with the region's own default and with US as
the default. Plus the inputs the issue reported. Each entry says what
libphonenumber makes of it: valid or not, the E.164 form when valid, and the
extension.

Run: .venv/bin/python infra/scripts/phone_fixture.py  (after infra/scripts/venv.sh)
"""

import json
import pathlib
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType

OUT = pathlib.Path(__file__).resolve().parents[2] / "shared/tests/fixtures/phones.json"

TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]

# The ways people and apps write an extension; rotated over the numbers.
EXTENSIONS = [" ext. 123", " x45", ";ext=6789", " #12", " extension 7", ",ext 99"]

# The inputs the issue (#10) reported, read in the default they were seen with.
REPORTED = [
    ("+33 1 99 00 12 34", "US"),
    ("+33199001235", "US"),
    ("+44 (0) 20 7946 0018", "US"),
    ("+44 (0) 20 7946 0018", "GB"),
    ("+442079460018", "US"),
    ("0044 20 7946 0019", "GB"),
    ("0044 20 7946 0019", "US"),
    ("011 44 20 7946 0019", "US"),
    ("555-0102", "US"),
    ("+1 239 555 0100;ext=123", "US"),
    ("(239) 555-0100 x123", "US"),
    ("239-555-0100 ext. 9", "US"),
    ("+1 239 555 0100 #42", "US"),
]


def dialling_prefix(region):
    """The region's international dialling prefix when it is plain digits
    (`00`, `011`); some regions only give a pattern."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return None
    for prefix in (meta.preferred_international_prefix, meta.international_prefix):
        if prefix and re.fullmatch(r"\d+", prefix):
            return prefix
    return None


def trunk_prefix(region):
    meta = PhoneMetadata.metadata_for_region(region) if region else None
    return (meta.national_prefix if meta else None) or "0"


def written_forms(number, region, index):
    """(input, default region) pairs for one example number."""
    cc = number.country_code
    nsn = phonenumbers.national_significant_number(number)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    rest = intl[len(f"+{cc}") :].strip()
    ext_a = EXTENSIONS[index % len(EXTENSIONS)]
    ext_b = EXTENSIONS[(index + 1) % len(EXTENSIONS)]
    shared = [
        e164,
        intl,
        f"+{cc} ({trunk_prefix(region)}) {rest}",
        intl.replace(" ", "-"),
        e164 + ext_a,
        intl + ext_b,
    ]
    defaults = [d for d in (region, "US") if d]
    forms = []
    for default in defaults:
        forms += [(text, default) for text in shared]
        forms.append((national, default))
        forms.append((re.sub(r"[ ()]+", "-", national).strip("-"), default))
        if default == region:
            forms.append((national + ext_a, default))
        idd = dialling_prefix(default)
        if idd:
            forms.append((f"{idd} {cc} {rest}", default))
    if not region:
        forms.append((nsn, "US"))
    return forms


def read(text, default):
    """What libphonenumber makes of `text` read in `default`."""
    try:
        number = phonenumbers.parse(text, default)
    except NumberParseException:
        return {"valid": False, "e164": None, "extension": None}
    valid = phonenumbers.is_valid_number(number)
    return {
        "valid": valid,
        "e164": phonenumbers.format_number(number, PhoneNumberFormat.E164) if valid else None,
        "extension": number.extension or None,
    }


def main():
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                examples.append((number, region))
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(cc)
        if number is not None:
            examples.append((number, None))

    pairs = list(REPORTED)
    for index, (number, region) in enumerate(examples):
        pairs += written_forms(number, region, index)

    seen = set()
    entries = []
    for text, default in pairs:
        if (text, default) in seen:
            continue
        seen.add((text, default))
        entries.append({"input": text, "region": default, **read(text, default)})

    lines = ",\n".join(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in entries)
    header = {
        "generator": "infra/scripts/phone_fixture.py",
        "phonenumbers": phonenumbers.__version__,
        "examples": len(examples),
    }
    OUT.write_text(
        "{\n\"about\": " + json.dumps(header) + ",\n\"entries\": [\n" + lines + "\n]}\n",
        encoding="utf-8",
    )
    valid = sum(entry["valid"] for entry in entries)
    print(f"{OUT}: {len(entries)} entries ({valid} valid) from {len(examples)} example numbers")


if __name__ == "__main__":
    main()
