"""Child process for the crash test: appends records and prints each counter once its append returned.

Usage: ``python -m tests.store.journal_child FOLDER COUNT``.
"""

from __future__ import annotations

import sys

from copier.journal import Journal


def main() -> None:
    folder, count = sys.argv[1], int(sys.argv[2])
    journal = Journal(folder, fsync="never", max_segment_bytes=64 * 1024)
    out = sys.stdout
    for n in range(count):
        journal.append({"t": "probe", "n": n, "pad": "x" * (n % 50)})
        out.write(f"{n}\n")
        out.flush()
    journal.close()


if __name__ == "__main__":
    main()
