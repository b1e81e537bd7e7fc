#!/usr/bin/env python3
#
# test/packages/check_meta.py: validate META.json against the PGXN Meta
# Spec 1.0.0 (https://pgxn.org/spec/)
#
#   check_meta.py [TOP]
#
# PGXN rejects a release whose META.json breaks the spec; its own validator
# (PGXN::Meta::Validator, Perl) is not packaged in Debian, so this checks
# the spec's rules that apply to this distribution: the required keys and
# their types, semantic versions, the license names the spec knows, the
# shape of provides, prereqs, resources, no_index and tags, and that custom
# keys start with "x_".  It also checks what the spec cannot: that the files
# META.json names exist, and that its version is the release's (the one of
# debian/changelog and, as MAJOR.MINOR, the control file's default_version).
#
# Prints one line per problem; exits non-zero if there was one.

import json
import os
import re
import sys

top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
problems = []


def bad(msg):
    problems.append(msg)


SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([a-zA-Z][a-zA-Z0-9-]*)?$")
VERSION_RANGE = re.compile(r"^\s*(==|!=|>=|<=|>|<)?\s*(\S+)\s*$")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
    "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
    "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
    "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
    "restricted", "unrestricted", "unknown",
}
TOP_KEYS = {
    "abstract", "description", "generated_by", "license", "maintainer",
    "meta-spec", "name", "no_index", "prereqs", "provides", "release_status",
    "resources", "tags", "version",
}
REQUIRED = ["abstract", "license", "maintainer", "meta-spec", "name", "provides", "version"]


def is_term(s):
    # names and tags: no slash, backslash or control characters
    return isinstance(s, str) and s != "" and not re.search(r"[/\\\x00-\x1f\x7f]", s)


def check_version_range(where, v):
    if v == 0 or v == "0":
        return
    if not isinstance(v, str):
        bad(f"{where}: a version must be a string")
        return
    for part in v.split(","):
        m = VERSION_RANGE.match(part)
        if not m or not SEMVER.match(m.group(2)):
            bad(f"{where}: '{v}' is not a semantic version or range")


with open(os.path.join(top, "META.json"), encoding="utf-8") as f:
    try:
        meta = json.load(f)
    except ValueError as e:
        print(f"META.json is not JSON: {e}")
        sys.exit(1)

if not isinstance(meta, dict):
    bad("META.json must be a JSON object")
    meta = {}

for key in REQUIRED:
    if key not in meta:
        bad(f"required key '{key}' is missing")
for key in meta:
    if key not in TOP_KEYS and not key.lower().startswith("x_"):
        bad(f"unknown key '{key}' (custom keys start with x_)")

spec = meta.get("meta-spec", {})
if not isinstance(spec, dict) or spec.get("version") != "1.0.0":
    bad("meta-spec.version must be '1.0.0'")

name = meta.get("name")
if not (is_term(name) and len(name) >= 2 and not re.search(r"\s", name)):
    bad(f"name '{name}' is not a valid distribution name")

version = meta.get("version")
if not (isinstance(version, str) and SEMVER.match(version)):
    bad(f"version '{version}' is not a semantic version")

for key in ("abstract", "description", "generated_by"):
    if key in meta and not (isinstance(meta[key], str) and meta[key].strip()):
        bad(f"{key} must be a non-empty string")

maint = meta.get("maintainer")
if not (isinstance(maint, str) or
        (isinstance(maint, list) and maint and all(isinstance(m, str) and m for m in maint))):
    bad("maintainer must be a string or a list of strings")

lic = meta.get("license")
if isinstance(lic, str):
    lics = [lic]
elif isinstance(lic, list):
    lics = lic
elif isinstance(lic, dict):
    lics = []  # name -> URL, any name
else:
    lics = [None]
for l in lics:
    if l not in LICENSES:
        bad(f"license '{l}' is not one the spec names")

provides = meta.get("provides")
if not (isinstance(provides, dict) and provides):
    bad("provides must be an object naming at least one extension")
    provides = {}
for ext, p in provides.items():
    if not is_term(ext):
        bad(f"provides: '{ext}' is not a valid extension name")
    if not isinstance(p, dict):
        bad(f"provides.{ext} must be an object")
        continue
    for key in p:
        if key not in ("file", "version", "abstract", "docfile") and not key.lower().startswith("x_"):
            bad(f"provides.{ext}: unknown key '{key}'")
    for key in ("file", "version"):
        if key not in p:
            bad(f"provides.{ext}: required key '{key}' is missing")
    if "version" in p and not (isinstance(p["version"], str) and SEMVER.match(p["version"])):
        bad(f"provides.{ext}.version '{p['version']}' is not a semantic version")
    for key in ("file", "docfile"):
        if key in p and not os.path.isfile(os.path.join(top, p[key])):
            bad(f"provides.{ext}.{key}: '{p[key]}' is not a file of the distribution")

prereqs = meta.get("prereqs", {})
if not isinstance(prereqs, dict):
    bad("prereqs must be an object")
    prereqs = {}
for phase, rels in prereqs.items():
    if phase not in ("configure", "build", "runtime", "test", "develop"):
        bad(f"prereqs: unknown phase '{phase}'")
    if not isinstance(rels, dict):
        bad(f"prereqs.{phase} must be an object")
        continue
    for rel, deps in rels.items():
        if rel not in ("requires", "recommends", "suggests", "conflicts"):
            bad(f"prereqs.{phase}: unknown relationship '{rel}'")
        if not isinstance(deps, dict):
            bad(f"prereqs.{phase}.{rel} must be an object")
            continue
        for dep, v in deps.items():
            check_version_range(f"prereqs.{phase}.{rel}.{dep}", v)

if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
    bad("release_status must be stable, testing or unstable")

tags = meta.get("tags", [])
if not (isinstance(tags, list) and all(is_term(t) and len(t) <= 255 for t in tags)):
    bad("tags must be a list of strings of at most 255 characters, without slashes")

res = meta.get("resources", {})
if not isinstance(res, dict):
    bad("resources must be an object")
    res = {}
for key in res:
    if key not in ("homepage", "bugtracker", "repository") and not key.lower().startswith("x_"):
        bad(f"resources: unknown key '{key}'")

no_index = meta.get("no_index", {})
if not isinstance(no_index, dict):
    bad("no_index must be an object")
    no_index = {}
for key, paths in no_index.items():
    if key not in ("file", "directory"):
        bad(f"no_index: unknown key '{key}'")
    elif not (isinstance(paths, list) and all(isinstance(x, str) for x in paths)):
        bad(f"no_index.{key} must be a list of paths")
    else:
        for x in paths:
            if not os.path.exists(os.path.join(top, x)):
                bad(f"no_index.{key}: '{x}' does not exist")

# the release's version, as the other files say it
try:
    with open(os.path.join(top, "debian", "changelog"), encoding="utf-8") as f:
        m = re.match(r"^\S+ \(([^)-]+)-[^)]+\)", f.readline())
    if not m or m.group(1) != version:
        bad(f"version {version} is not debian/changelog's upstream version "
            f"({m.group(1) if m else '?'})")
except OSError:
    bad("debian/changelog is missing")
with open(os.path.join(top, "rail_stream.control"), encoding="utf-8") as f:
    m = re.search(r"^default_version\s*=\s*'([^']*)'", f.read(), re.M)
if not m or not isinstance(version, str) or not version.startswith(m.group(1) + "."):
    bad(f"version {version} is not the control file's default_version "
        f"({m.group(1) if m else '?'}) with a patch level")

for p in problems:
    print(f"META.json: {p}")
sys.exit(1 if problems else 0)
