"""Lab bundles: one file that holds a saved demo, for sharing and replay years later. This package
is the file format only (writing, reading the index, verifying, extracting safely); what goes into
a bundle is the service layer's business.

Format 1 of a `.labctl` file:
- a POSIX (pax) tar stream, compressed as ONE zstd frame with its content checksum
  (`zstd -dc FILE.labctl | tar -t` lists it);
- member 1 is `bundle.json`: the caller's index (lab name, labctl version, ...) between
  `"format": 1` and `"contents": [{"path", "sha256", "size"}, ...]`, which lists every member
  below except the manifest;
- member 2 is `manifest-sha256.txt`: `<sha256>  <path>` lines for bundle.json and every listed
  member, in the same order, so an extracted bundle checks with `sha256sum -c manifest-sha256.txt`
  (BagIt's manifest);
- then the listed members, in sorted path order: regular files only (folders are implied by the
  paths), with relative POSIX paths of plain parts (no `..`, `.`, empty part, leading `/`,
  backslash or control character), mode 0644 or 0755, uid/gid 0, no user or group name, mtime 0.

Reading trusts nothing before it is checked: the first bytes must be zstd, the zstd frame must be
whole (python-zstandard ends quietly on a cut-short stream, so `zstdframe` follows its blocks),
bundle.json's format is checked (newer: refused in one line), the manifest must agree with it,
every member must be a listed regular file, once, inside the destination (our checks, then
tarfile's `data` filter), of the listed size and sha256, and none may be missing.
"""

from labctl.bundle.layout import BUNDLE_FORMAT, INDEX_NAME, MANIFEST_NAME, BundleIndex, Member, written_by
from labctl.bundle.read import extract_bundle, read_index, verify_bundle
from labctl.bundle.write import write_bundle

__all__ = [
    "BUNDLE_FORMAT",
    "INDEX_NAME",
    "MANIFEST_NAME",
    "BundleIndex",
    "Member",
    "extract_bundle",
    "read_index",
    "verify_bundle",
    "write_bundle",
    "written_by",
]
