"""Reading GNU ld link maps (-Wl,-Map): which inputs a static binary holds and what each costs.
Used by scripts/size-breakdown and scripts/sbom."""
import os
import re
import subprocess


def loaded_sections(binary):
    """Output sections that occupy bytes in the file: allocated, not NOBITS."""
    out = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+\S+\s+\S+\s+(\S+)\s+\S+\s+(\S*)", line)
        if not m:
            continue
        name, typ, _size, flags = m.groups()
        if "A" in flags and typ != "NOBITS":
            names.add(name)
    return names


OURS = ("libcommon.a", "libcapture.a", "libanalyze.a")


def ours(path, build_dirs):
    """The path relative to its build dir when it is one of afterimage's own objects or archives,
    else None. The map names them relative to the source tree (build/capture/x.o) or, with an
    absolute BUILD, under it; libraries others built into the build dir
    (BUILD/openssl-minimal/lib/libcrypto.a) and everything of the system are not ours."""
    if not os.path.isabs(path):
        return path
    real = os.path.realpath(path)
    for b in build_dirs:
        if real.startswith(b + "/"):
            rel = os.path.relpath(real, b)
            if rel in OURS or (rel.endswith(".o") and "/lib/" not in "/" + rel):
                return rel
    return None


def owner(path, build_dirs):
    """(group name, member) for an input file as the map names it."""
    member = None
    m = re.match(r"(.*)\((.*)\)$", path)
    if m:
        path, member = m.groups()
    rel = ours(path, build_dirs)
    if rel is not None:
        base = os.path.basename(rel)
        if base in OURS:
            return "afterimage (%s/)" % base[3:-2], member or base
        parts = rel.split("/")
        return "afterimage (%s/)" % parts[-2], base
    real = os.path.realpath(path) if os.path.isabs(path) else os.path.abspath(path)
    return real, member or os.path.basename(real)


def parse_map(mapfile, keep, build_dirs):
    sizes = {}  # (group, member) -> bytes
    in_map = False
    out_sec = None
    pending = None  # an input section name on its own line; its address/size follow
    with open(mapfile, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not in_map:
                if line.startswith("Linker script and memory map"):
                    in_map = True
                continue
            if line.startswith("OUTPUT(") or line.startswith("/DISCARD/"):
                break
            m = re.match(r"^(\.\S+|[A-Za-z_]\S*)(\s+0x[0-9a-f]+\s+0x[0-9a-f]+)?", line)
            if m and not line.startswith(" "):
                out_sec = m.group(1)
                pending = None
                continue
            if out_sec not in keep:
                continue
            # " .text.foo  0xADDR  0xSIZE file"  or " .text.foo" then "   0xADDR 0xSIZE file"
            m = re.match(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
            if m:
                sec, _addr, size, path = m.groups()
            else:
                m2 = re.match(r"^ (\S+)$", line)
                if m2 and not line.startswith("  "):
                    pending = m2.group(1)
                    continue
                m3 = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
                if not (m3 and pending):
                    continue
                _addr, size, path = m3.groups()
                sec = pending
                pending = None
            if sec.startswith("*"):
                continue
            n = int(size, 16)
            if n == 0:
                continue
            key = owner(path.strip(), build_dirs)
            sizes[key] = sizes.get(key, 0) + n
    return sizes


def archive_members(mapfile):
    """Every (archive, member) the map's "Archive member included" section names, archives
    realpath'd; and every object file the link loaded outside an archive (LOAD lines)."""
    members, objects = [], []
    section = None
    with open(mapfile, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("Archive member included"):
                section = "members"
                continue
            if line.startswith("Discarded input sections") or line.startswith("Memory Configuration"):
                section = None
                continue
            if line.startswith("Linker script and memory map"):
                section = "load"
                continue
            if section == "members" and line and not line[0].isspace():
                m = re.match(r"(.*\.a)\((.*)\)$", line.split()[0])
                if m:
                    a = m.group(1)
                    members.append((os.path.realpath(a) if os.path.isabs(a) else a, m.group(2)))
            elif section == "load":
                m = re.match(r"^LOAD (\S+\.o)$", line)
                if m:
                    o = m.group(1)
                    objects.append(os.path.realpath(o) if os.path.isabs(o) else o)
                elif line.startswith(".") or line.startswith("OUTPUT("):
                    section = None
    return members, objects
